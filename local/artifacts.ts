import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { JOB_CATALOG } from '../lib/jobs/catalog';
import {
  Artifact,
  artifactKey,
  CURRENT_MANIFEST_KEY,
  Manifest,
  manifestKey,
  parseManifest,
  serializeManifest,
} from '../lib/jobs/manifest';
import { writeAtomic } from './s3/tree';
import { LocalLayout } from './layout';

/**
 * Publishes the job artifacts into the local artifacts bucket the way a deploy does (content-addressed
 * `artifacts/<sha256>/<file>`, `manifests/<sha256>.json`, `manifests/current.json`), so the build-job-request
 * Lambda reads a real manifest and the job requests name real objects.
 *
 * Source (`source` option): `host` (default) — a build of the working tree made here in seconds, so a local run
 * always executes the current code: the entry-point scripts, `pyfiles.zip`
 * of the `jobs` package, the models archive (`assets/models`), the JDBC uber-JAR when built, and as the
 * `python-deps` artifact an archive of the pinned requirement files. Locally the Python environment is the
 * `.venv` built from those same files, so the EMR adapter never unpacks that archive (see emr-adapter.ts).
 * `packaged` — `artifacts/manifest.json` and its files from `npm run package` (the artifacts a deploy ships;
 * they are as current as the last packaging run).
 */
export interface PublishedArtifacts {
  readonly manifest: Manifest;
  readonly manifestUri: string;
  /** `packaged` = artifacts/manifest.json from `npm run package`; `host` = built here. */
  readonly source: 'packaged' | 'host';
}

export function publishArtifacts(
  layout: LocalLayout,
  artifactsBucket: string,
  projectRoot: string,
  preferred: 'host' | 'packaged' = 'host',
): PublishedArtifacts {
  const packaged = preferred === 'packaged' ? readPackagedManifest(projectRoot) : undefined;
  if (preferred === 'packaged' && !packaged) {
    throw new Error('artifacts/manifest.json is missing, invalid or names missing files: run npm run package first');
  }
  const { manifest, files, source } = packaged ?? buildHostArtifacts(projectRoot);
  for (const artifact of manifest.artifacts) {
    const target = layout.objectPath(artifactsBucket, artifact.key);
    if (!existsSync(target) || statSync(target).size !== artifact.size) {
      mkdirSync(path.dirname(target), { recursive: true });
      copyFileSync(files.get(artifact.file)!, target);
    }
  }
  const body = serializeManifest(manifest);
  const sha = createHash('sha256').update(body).digest('hex');
  writeAtomic(layout.objectPath(artifactsBucket, manifestKey(sha)), Buffer.from(body));
  writeAtomic(layout.objectPath(artifactsBucket, CURRENT_MANIFEST_KEY), Buffer.from(body));
  return { manifest, manifestUri: `s3://${artifactsBucket}/${CURRENT_MANIFEST_KEY}`, source };
}

function readPackagedManifest(projectRoot: string): { manifest: Manifest; files: Map<string, string>; source: 'packaged' } | undefined {
  const file = path.join(projectRoot, 'artifacts', 'manifest.json');
  if (!existsSync(file)) return undefined;
  try {
    const manifest = parseManifest(JSON.parse(readFileSync(file, 'utf8')), 'artifacts/manifest.json');
    const files = new Map(manifest.artifacts.map((a) => [a.file, path.join(projectRoot, 'artifacts', a.file)]));
    if ([...files.values()].every((f) => existsSync(f))) return { manifest, files, source: 'packaged' };
  } catch {
    // an outdated or partial package: fall back to a host build
  }
  return undefined;
}

function buildHostArtifacts(projectRoot: string): { manifest: Manifest; files: Map<string, string>; source: 'host' } {
  const outDir = path.join(projectRoot, '.local', 'artifacts');
  mkdirSync(outDir, { recursive: true });
  const python = path.join(projectRoot, '.venv', 'bin', 'python');
  const packer = path.join(projectRoot, 'scripts', 'pack_artifacts.py');
  const jobsDir = path.join(projectRoot, 'jobs');
  const files = new Map<string, string>();
  const artifacts: Artifact[] = [];
  const inputs: Record<string, string> = {};
  const add = (kind: Artifact['kind'], file: string, archiveAlias?: string) => {
    const sha256 = sha256File(file);
    const name = path.basename(file);
    files.set(name, file);
    artifacts.push({ kind, file: name, key: artifactKey(sha256, name), sha256, size: statSync(file).size, ...(archiveAlias ? { archiveAlias } : {}) });
  };
  /** Rebuilds an archive only when its inputs changed (the fingerprint is kept next to it). */
  const archive = (format: 'zip' | 'tar', output: string, adds: string[], excludes: string[]) => {
    const fingerprint = treeFingerprint(adds.map((a) => a.split(':')[0]), excludes);
    inputs[path.basename(output)] = fingerprint;
    const stamp = `${output}.inputs`;
    if (existsSync(output) && existsSync(stamp) && readFileSync(stamp, 'utf8') === fingerprint) return;
    execFileSync(python, [packer, format, '--output', output, ...adds.flatMap((a) => ['--add', a]), ...excludes.flatMap((e) => ['--exclude', e])], { stdio: 'pipe' });
    writeFileSync(stamp, fingerprint);
  };

  for (const job of Object.values(JOB_CATALOG)) {
    const entry = path.join(jobsDir, job.entryPoint);
    if (existsSync(entry) && !files.has(job.entryPoint)) add('entry-point', entry);
  }
  const excludes = ['tests', '__pycache__', '*.pyc', '.pytest_cache'];
  archive('zip', path.join(outDir, 'pyfiles.zip'), [`${jobsDir}:jobs`], excludes);
  add('pyfiles', path.join(outDir, 'pyfiles.zip'));
  archive('tar', path.join(outDir, 'python-deps.tar.gz'), [`${path.join(jobsDir, 'requirements.txt')}:requirements.txt`], []);
  add('python-deps', path.join(outDir, 'python-deps.tar.gz'), 'environment');
  const models = path.join(projectRoot, 'assets', 'models');
  if (existsSync(models) && readdirSync(models).some((n) => statSync(path.join(models, n)).isDirectory())) {
    archive('tar', path.join(outDir, 'models.tar.gz'), [`${models}:`], ['README.md']);
    add('models', path.join(outDir, 'models.tar.gz'), 'models');
  }
  const jar = path.join(projectRoot, 'artifacts', 'java-deps.jar');
  if (existsSync(jar)) add('uber-jar', jar);

  const manifest = parseManifest(
    {
      schemaVersion: 1,
      builtFor: { releaseLabel: 'local', sparkVersion: pysparkVersion(projectRoot), pythonVersion: pythonVersion(projectRoot), architecture: 'host', platforms: [], implementation: 'cp' },
      inputs,
      pythonPackages: {},
      artifacts,
      sparkConf: {},
    },
    'local host manifest',
  );
  return { manifest, files, source: 'host' };
}

function sha256File(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

/** sha256 over relative path, size and mtime of every file under the roots (cheap change detection). */
function treeFingerprint(roots: string[], excludes: string[]): string {
  const hash = createHash('sha256');
  const skip = (name: string) => excludes.some((e) => (e.startsWith('*') ? name.endsWith(e.slice(1)) : name === e));
  const walk = (p: string, rel: string) => {
    const st = statSync(p);
    if (st.isDirectory()) {
      for (const name of readdirSync(p).sort()) if (!skip(name)) walk(path.join(p, name), `${rel}/${name}`);
    } else {
      hash.update(`${rel}\0${st.size}\0${st.mtimeMs}\n`);
    }
  };
  for (const root of roots) if (existsSync(root)) walk(root, path.basename(root));
  return hash.digest('hex');
}

function pysparkVersion(projectRoot: string): string {
  const req = path.join(projectRoot, 'jobs', 'requirements-dev.txt');
  const match = existsSync(req) ? /pyspark==([\d.]+)/.exec(readFileSync(req, 'utf8')) : null;
  return match ? match[1] : 'unknown';
}

function pythonVersion(projectRoot: string): string {
  const lib = path.join(projectRoot, '.venv', 'lib');
  const dir = existsSync(lib) ? readdirSync(lib).find((d) => /^python3\.\d+$/.test(d)) : undefined;
  return dir ? dir.replace('python', '') : '3.11';
}
