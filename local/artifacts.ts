import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { JOB_CATALOG } from '../lib/jobs/catalog';
import { Artifact, artifactKey, Manifest, parseManifest, serializeManifest } from '../lib/jobs/manifest';
import { writeAtomic } from './s3/tree';

/**
 * The job artifacts a local deployment ships. `packaged`: `npm run package`'s `artifacts/` (what a deploy ships,
 * as current as the last packaging run). `host` (default): a package of the working tree made here in seconds
 * under `.local/artifacts/` — the entry-point scripts, `pyfiles.zip` of the `jobs` package, the models archive
 * (`assets/models`), the JDBC uber-JAR when built, and as the `python-deps` artifact an archive of the pinned
 * requirement files (locally the Python environment is the `.venv` built from those same files, so the EMR
 * adapter never unpacks it) — with its `manifest.json`, in the layout `npm run package` writes.
 *
 * Either directory is synthesized into the app (`-c artifactsDir`) and deployed like in the cloud: its files
 * become the stack's file assets and the package-dependencies custom resource publishes them (deploy.ts).
 */
export interface PackagedArtifacts {
  /** Directory with `manifest.json` and the files it names. */
  readonly dir: string;
  readonly manifest: Manifest;
  readonly source: 'packaged' | 'host';
}

export function packageArtifacts(projectRoot: string, preferred: 'host' | 'packaged' = 'host'): PackagedArtifacts {
  if (preferred === 'packaged') {
    const packaged = readPackagedManifest(projectRoot);
    if (!packaged) throw new Error('artifacts/manifest.json is missing, invalid or names missing files: run npm run package first');
    return { dir: path.join(projectRoot, 'artifacts'), manifest: packaged.manifest, source: 'packaged' };
  }
  const { manifest, files } = buildHostArtifacts(projectRoot);
  const dir = path.join(projectRoot, '.local', 'artifacts');
  for (const artifact of manifest.artifacts) {
    const target = path.join(dir, artifact.file);
    const source = files.get(artifact.file)!;
    if (path.resolve(source) !== path.resolve(target) && (!existsSync(target) || sha256File(target) !== artifact.sha256)) copyFileSync(source, target);
  }
  const body = serializeManifest(manifest);
  const file = path.join(dir, 'manifest.json');
  if (!existsSync(file) || readFileSync(file, 'utf8') !== body) writeAtomic(file, Buffer.from(body));
  return { dir, manifest, source: 'host' };
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
