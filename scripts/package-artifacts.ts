/**
 * `npm run package`: builds every artifact the EMR Serverless jobs need, without Docker, deterministically,
 * under `artifacts/` (gitignored), and writes `artifacts/manifest.json`.
 *
 * - python-deps.tar.gz: jobs/requirements.txt resolved by `pip install --target --platform manylinux… 
 *   --only-binary=:all: --python-version X.Y --implementation cp --abi cpXY` (wheels only, nothing built or run
 *   for the target), packed as `site-packages/` + a `bin/python` launcher. Spark unpacks it to `./environment`
 *   (spark.archives=…#environment) and PYSPARK_PYTHON=./environment/bin/python on driver and executors runs the
 *   EMR image's own CPython X.Y with the archive's site-packages on PYTHONPATH. A `--target` directory is not a
 *   venv (no interpreter, no pyvenv.cfg); shipping an interpreter would need a build on the target platform,
 *   which is exactly what needs Docker. The release, its Python versions and their interpreter paths, Spark
 *   version and glibc come from the release catalogue (lib/config/emr-releases.json), never from guesses here.
 * - pyfiles.zip: the `jobs` package (without tests); entry scripts `jobs/<name>.py` are also shipped as plain files.
 * - java-deps.jar: the uber-JAR from java/pom.xml (Maven; skipped with a note when there is no pom).
 * - models.tar.gz: assets/models (shipped as spark.archives=…#models to the jobs that use models).
 *
 * Usage: npm run package -- [--stage dev] [--architecture x86_64|aarch64|host] [--python-version 3.11]
 *        [--out-dir artifacts] [--requirements jobs/requirements.txt] [--find-links DIR --no-index] [--skip-jar]
 *        npm run package -- --all-stages   (every cdk.json stage's target, each under artifacts/targets/<target>/)
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command } from 'commander';
import { type BuildTarget, buildTarget, buildTargetId } from '../lib/config/emr-releases';
import { loadStageConfig, type StageConfig } from '../lib/config/stage-config';
import { Artifact, ArtifactKind, artifactKey, builtForSparkConf, Manifest, parseManifest, serializeManifest } from '../lib/jobs/manifest';

const ROOT = path.resolve(__dirname, '..');

export interface PackageOptions {
  stage: string;
  architecture: 'x86_64' | 'aarch64' | 'host';
  pythonVersion: string;
  releaseLabel: string;
  /** Spark version of the release (release catalogue). */
  sparkVersion: string;
  /** The release image's interpreter of `pythonVersion` (release catalogue): the launcher execs it. */
  interpreter: string;
  outDir: string;
  requirements: string;
  jobsDir: string;
  modelsDir: string;
  pom: string;
  findLinks?: string;
  /** pip constraints file pinning transitive dependencies (so later index changes cannot change the archive). */
  constraints?: string;
  noIndex: boolean;
  skipJar: boolean;
  /** Re-resolve without constraints and write the resolved transitive pins to `constraints.txt`. */
  updateConstraints?: boolean;
  maxGlibc: number;
  python: string;
}

/** pip `--platform` tags: every manylinux tag the target glibc can load (pip does not expand manylinux_2_X). */
export function platformTags(architecture: 'x86_64' | 'aarch64', maxGlibc: number): string[] {
  const tags: string[] = [];
  for (let minor = maxGlibc; minor >= 17; minor -= 1) tags.push(`manylinux_2_${minor}_${architecture}`);
  tags.push(`manylinux2014_${architecture}`); // pip expands this one to manylinux2010/manylinux1 on x86_64
  return tags;
}

/** The pip command that resolves the requirements for the target (or the host when architecture is `host`). */
export function pipInstallArgs(
  opts: Pick<PackageOptions, 'architecture' | 'pythonVersion' | 'requirements' | 'findLinks' | 'noIndex' | 'maxGlibc' | 'constraints'>,
  target: string,
): string[] {
  const args = ['-m', 'pip', 'install', '--target', target, '--no-compile', '--disable-pip-version-check', '--no-input', '--only-binary=:all:'];
  if (opts.architecture !== 'host') {
    for (const tag of platformTags(opts.architecture, opts.maxGlibc)) args.push('--platform', tag);
    const nodot = opts.pythonVersion.replace('.', '');
    args.push('--python-version', opts.pythonVersion, '--implementation', 'cp', '--abi', `cp${nodot}`);
  }
  if (opts.findLinks) args.push('--find-links', opts.findLinks);
  if (opts.noIndex) args.push('--no-index');
  if (opts.constraints) args.push('-c', opts.constraints);
  args.push('-r', opts.requirements);
  return args;
}

/** Spark properties that make EMR Serverless (and local spark-submit) run Python from the dependency archive. */
export function dependencySparkConf(alias = 'environment'): Record<string, string> {
  const python = `./${alias}/bin/python`;
  return {
    'spark.emr-serverless.driverEnv.PYSPARK_DRIVER_PYTHON': python,
    'spark.emr-serverless.driverEnv.PYSPARK_PYTHON': python,
    'spark.executorEnv.PYSPARK_PYTHON': python,
  };
}

/**
 * `bin/python` of the dependency archive: the release image's CPython X.Y — the interpreter the release catalogue
 * names, else `pythonX.Y` on the PATH (the same ABI), or `$EMRPIPE_PYTHON` — with the archive's site-packages on
 * the path. Without one it stops at once (exit 127) naming the release, the version and the path it looked for.
 */
export function launcherScript(build: Pick<PackageOptions, 'releaseLabel' | 'pythonVersion' | 'interpreter'>): string {
  const { releaseLabel, pythonVersion, interpreter } = build;
  return [
    '#!/bin/sh',
    `# Written by npm run package for ${releaseLabel} / CPython ${pythonVersion}. Runs the image's interpreter`,
    `# (${interpreter}, release catalogue) with this archive's site-packages after the entries Spark puts on`,
    '# PYTHONPATH (pyspark, --py-files), so Spark\'s own modules win.',
    'here=$(cd "$(dirname "$0")/.." && pwd)',
    'PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}$here/site-packages"',
    'export PYTHONPATH',
    `for candidate in "\${EMRPIPE_PYTHON:-}" ${interpreter} python${pythonVersion}; do`,
    '  if [ -n "$candidate" ] && command -v "$candidate" >/dev/null 2>&1; then exec "$candidate" "$@"; fi',
    'done',
    `echo "environment/bin/python: this archive was built for ${releaseLabel} with CPython ${pythonVersion}, but this image has no ${interpreter} (nor python${pythonVersion} on the PATH): package for the application's release and Python (npm run package -- --stage <stage>) or set EMRPIPE_PYTHON" >&2`,
    'exit 127',
    '',
  ].join('\n');
}

export function sha256File(file: string): string {
  const hash = createHash('sha256');
  const fd = fs.openSync(file, 'r');
  try {
    const buffer = Buffer.allocUnsafe(1 << 20);
    let read: number;
    while ((read = fs.readSync(fd, buffer, 0, buffer.length, null)) > 0) hash.update(buffer.subarray(0, read));
  } finally {
    fs.closeSync(fd);
  }
  return hash.digest('hex');
}

function run(command: string, args: string[], cwd = ROOT): string {
  const result = spawnSync(command, args, { cwd, encoding: 'utf-8', maxBuffer: 64 << 20 });
  if (result.error) throw new Error(`${command} failed to start: ${result.error.message}`);
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} exited with ${result.status}:\n${(result.stderr || result.stdout).slice(-4000)}`);
  }
  return result.stdout;
}

function log(message: string): void {
  process.stderr.write(`package: ${message}\n`);
}

function artifact(outDir: string, kind: ArtifactKind, file: string, archiveAlias?: string): Artifact {
  const full = path.join(outDir, file);
  const sha256 = sha256File(full);
  return { kind, file, key: artifactKey(sha256, file), sha256, size: fs.statSync(full).size, ...(archiveAlias ? { archiveAlias } : {}) };
}

function buildPythonDeps(opts: PackageOptions, buildDir: string): Record<string, string> {
  const env = path.join(buildDir, 'environment');
  fs.rmSync(env, { recursive: true, force: true });
  const site = path.join(env, 'site-packages');
  fs.mkdirSync(path.join(env, 'bin'), { recursive: true });
  log(`resolving ${path.relative(ROOT, opts.requirements)} for ${opts.architecture} / CPython ${opts.pythonVersion} (wheels only)`);
  run(opts.python, pipInstallArgs(opts, site));
  // Console scripts carry the build machine's interpreter path in their shebang; caches are rebuilt at run time.
  fs.rmSync(path.join(site, 'bin'), { recursive: true, force: true });
  fs.writeFileSync(path.join(env, 'bin', 'python'), launcherScript(opts), { mode: 0o755 });
  fs.chmodSync(path.join(env, 'bin', 'python'), 0o755);
  run(opts.python, [path.join(ROOT, 'scripts/pack_artifacts.py'), 'tar', '--output', path.join(opts.outDir, 'python-deps.tar.gz'), '--add', env, '--exclude', '__pycache__', '--exclude', '*.pyc']);
  return JSON.parse(run(opts.python, [path.join(ROOT, 'scripts/pack_artifacts.py'), 'dists', '--site', site])) as Record<string, string>;
}

function entryPointFiles(jobsDir: string): string[] {
  return fs
    .readdirSync(jobsDir)
    .filter((f) => f.endsWith('.py') && f !== '__init__.py' && !f.startsWith('_'))
    .sort();
}

function buildUberJar(opts: PackageOptions): string | undefined {
  const jar = path.join(opts.outDir, 'java-deps.jar');
  if (!fs.existsSync(opts.pom)) {
    log(`no ${path.relative(ROOT, opts.pom)}: no uber-JAR (jobs get no --jars)`);
    return undefined;
  }
  if (opts.skipJar) {
    if (fs.existsSync(jar)) return 'java-deps.jar';
    log('--skip-jar and no java-deps.jar built: no uber-JAR');
    return undefined;
  }
  log('building the uber-JAR with Maven');
  run('mvn', ['-q', '-B', '-f', opts.pom, 'package', '-DskipTests']);
  const built = path.join(path.dirname(opts.pom), '..', 'artifacts', 'java-deps.jar');
  if (path.resolve(built) !== path.resolve(jar)) fs.copyFileSync(built, jar);
  return 'java-deps.jar';
}

function inputHashes(opts: PackageOptions): Record<string, string> {
  const inputs: Record<string, string> = { requirements: sha256File(opts.requirements) };
  if (opts.constraints) inputs.constraints = sha256File(opts.constraints);
  if (fs.existsSync(opts.pom)) inputs.pom = sha256File(opts.pom);
  return inputs;
}

/** Normalised distribution name (PEP 503). */
const normalise = (name: string) => name.toLowerCase().replace(/[-_.]+/g, '-');

/** Writes pins for every resolved distribution that the requirements file does not name itself. */
export function writeConstraints(file: string, requirements: string, resolved: Record<string, string>): void {
  const topLevel = new Set(
    fs
      .readFileSync(requirements, 'utf-8')
      .split('\n')
      .map((l) => l.replace(/#.*/, '').trim())
      .filter(Boolean)
      .map((l) => normalise(l.split(/[<>=!~;\[ ]/)[0])),
  );
  const pins = Object.entries(resolved)
    .filter(([name]) => !topLevel.has(normalise(name)))
    .sort(([a], [b]) => normalise(a).localeCompare(normalise(b)))
    .map(([name, version]) => `${normalise(name)}==${version}`);
  const header = '# Transitive dependencies of requirements.txt, pinned so the dependency archive is reproducible.\n# Regenerate: npm run package -- --update-constraints\n';
  fs.writeFileSync(file, `${header}${pins.join('\n')}\n`);
}

/**
 * Every model directory under `modelsDir` with a `manifest.json` (scripts/build-models.py) must hold each file it
 * lists with its sha256 — the int8 export `model_int8.onnx` the news jobs load by default, the fp32 `model.onnx`,
 * the tokenizer — so a stale or half-built model directory never ships. @throws naming the directory and file.
 */
export function checkModelFiles(modelsDir: string): void {
  if (!fs.existsSync(modelsDir)) return;
  for (const entry of fs.readdirSync(modelsDir, { withFileTypes: true })) {
    const manifestFile = path.join(modelsDir, entry.name, 'manifest.json');
    if (!entry.isDirectory() || !fs.existsSync(manifestFile)) continue;
    const manifest = JSON.parse(fs.readFileSync(manifestFile, 'utf-8')) as { files?: Record<string, string>; precisions?: Record<string, { file: string }> };
    const listed = { ...(manifest.files ?? {}) };
    for (const precision of Object.values(manifest.precisions ?? {})) {
      if (!(precision.file in listed)) throw new Error(`${manifestFile}: precision file ${precision.file} is not in files (rebuild: .venv/bin/python scripts/build-models.py --force)`);
    }
    for (const [file, sha256] of Object.entries(listed)) {
      const full = path.join(modelsDir, entry.name, file);
      if (!fs.existsSync(full) || sha256File(full) !== sha256) {
        throw new Error(`${path.join(entry.name, file)}: missing or not the file manifest.json lists (rebuild: .venv/bin/python scripts/build-models.py --force)`);
      }
    }
  }
}

export function packageArtifacts(opts: PackageOptions): Manifest {
  fs.mkdirSync(opts.outDir, { recursive: true });
  const buildDir = path.join(opts.outDir, '.build');
  fs.mkdirSync(buildDir, { recursive: true });
  const pack = (format: 'tar' | 'zip', output: string, adds: string[], excludes: string[]) =>
    run(opts.python, [path.join(ROOT, 'scripts/pack_artifacts.py'), format, '--output', path.join(opts.outDir, output), ...adds.flatMap((a) => ['--add', a]), ...excludes.flatMap((e) => ['--exclude', e])]);

  const pythonPackages = buildPythonDeps(opts.updateConstraints ? { ...opts, constraints: undefined } : opts, buildDir);
  if (opts.updateConstraints) {
    const file = path.join(path.dirname(opts.requirements), 'constraints.txt');
    writeConstraints(file, opts.requirements, pythonPackages);
    opts = { ...opts, constraints: file };
    log(`wrote ${path.relative(ROOT, file)} (transitive pins; top-level pins stay in ${path.basename(opts.requirements)})`);
  }
  const artifacts: Artifact[] = [artifact(opts.outDir, 'python-deps', 'python-deps.tar.gz', 'environment')];

  log('packing the jobs package into pyfiles.zip');
  pack('zip', 'pyfiles.zip', [`${opts.jobsDir}:jobs`], ['tests', '__pycache__', '*.pyc', 'requirements*.txt', '.pytest_cache']);
  artifacts.push(artifact(opts.outDir, 'pyfiles', 'pyfiles.zip'));

  const entries = entryPointFiles(opts.jobsDir);
  for (const stale of fs.readdirSync(opts.outDir).filter((f) => f.endsWith('.py') && !entries.includes(f))) fs.rmSync(path.join(opts.outDir, stale));
  for (const file of entries) {
    fs.copyFileSync(path.join(opts.jobsDir, file), path.join(opts.outDir, file));
    artifacts.push(artifact(opts.outDir, 'entry-point', file));
  }

  const jar = buildUberJar(opts);
  if (jar) artifacts.push(artifact(opts.outDir, 'uber-jar', jar));

  const modelFiles = fs.existsSync(opts.modelsDir) ? fs.readdirSync(opts.modelsDir).filter((f) => f !== 'README.md' && !f.startsWith('.')) : [];
  if (modelFiles.length) {
    checkModelFiles(opts.modelsDir);
    log(`packing ${modelFiles.join(', ')} into models.tar.gz`);
    pack('tar', 'models.tar.gz', modelFiles.sort().map((f) => `${path.join(opts.modelsDir, f)}:${f}`), ['__pycache__', '*.pyc', '.*']);
    artifacts.push(artifact(opts.outDir, 'models', 'models.tar.gz', 'models'));
  } else {
    fs.rmSync(path.join(opts.outDir, 'models.tar.gz'), { force: true });
    log(`no model files in ${path.relative(ROOT, opts.modelsDir)}: no models archive`);
  }

  const manifest = parseManifest({
    schemaVersion: 1,
    builtFor: {
      releaseLabel: opts.releaseLabel,
      sparkVersion: opts.sparkVersion,
      pythonVersion: opts.pythonVersion,
      architecture: opts.architecture,
      platforms: opts.architecture === 'host' ? [] : platformTags(opts.architecture, opts.maxGlibc),
      implementation: 'cp',
      ...(opts.architecture === 'host' ? {} : { interpreter: opts.interpreter }),
    },
    inputs: inputHashes(opts),
    pythonPackages,
    artifacts,
    sparkConf: { ...dependencySparkConf('environment'), ...builtForSparkConf(opts) },
  });
  const manifestPath = path.join(opts.outDir, 'manifest.json');
  fs.writeFileSync(`${manifestPath}.tmp`, serializeManifest(manifest));
  fs.renameSync(`${manifestPath}.tmp`, manifestPath);
  return manifest;
}

/** `constraints.txt` next to the requirements file, when there is one. */
function siblingConstraints(requirements: string): string | undefined {
  const file = path.join(path.dirname(requirements), 'constraints.txt');
  return fs.existsSync(file) ? file : undefined;
}

function cdkContext(): Record<string, unknown> {
  return (JSON.parse(fs.readFileSync(path.join(ROOT, 'cdk.json'), 'utf-8')) as { context?: Record<string, unknown> }).context ?? {};
}

function readStage(stage: string | undefined): StageConfig {
  const context: Record<string, unknown> = { ...cdkContext(), ...(stage ? { stage } : {}) };
  return loadStageConfig((key) => context[key]);
}

/** The build target of a stage (its release, Python version and architecture in the release catalogue). */
export function stageTarget(stage: Pick<StageConfig, 'releaseLabel' | 'pythonVersion' | 'architecture'>): BuildTarget {
  return buildTarget(stage.releaseLabel, stage.pythonVersion, stage.architecture);
}

/** Every stage of cdk.json grouped by build target: target id → the target and its stages. */
export function stageTargets(stages: StageConfig[]): Map<string, { target: BuildTarget; stages: string[] }> {
  const targets = new Map<string, { target: BuildTarget; stages: string[] }>();
  for (const stage of stages) {
    const target = stageTarget(stage);
    const id = buildTargetId(target);
    const entry = targets.get(id) ?? { target, stages: [] };
    entry.stages.push(stage.stage);
    targets.set(id, entry);
  }
  return targets;
}

function main(argv: string[]): void {
  const program = new Command()
    .name('package-artifacts')
    .description('Build the EMR Serverless job artifacts (no Docker) and artifacts/manifest.json')
    .option('--stage <stage>', 'stage whose architecture / Python version / release to build for (cdk.json context)')
    .option('--all-stages', 'build for every cdk.json stage: one build per distinct target under <out-dir>/targets/<target>/', false)
    .option('--architecture <arch>', 'x86_64 | aarch64 | host (host: a local build for spark-submit tests)')
    .option('--python-version <version>', 'CPython version of the target (default: the stage config)')
    .option('--out-dir <dir>', 'output directory', path.join(ROOT, 'artifacts'))
    .option('--requirements <file>', 'pinned runtime requirements', path.join(ROOT, 'jobs/requirements.txt'))
    .option('--jobs-dir <dir>', 'the jobs package', path.join(ROOT, 'jobs'))
    .option('--models-dir <dir>', 'model files to ship', path.join(ROOT, 'assets/models'))
    .option('--pom <file>', 'Maven project of the uber-JAR', path.join(ROOT, 'java/pom.xml'))
    .option('--find-links <dir>', 'extra wheel directory for pip')
    .option('--constraints <file>', 'pip constraints pinning transitive dependencies (default: constraints.txt next to the requirements, when present)')
    .option('--no-index', 'do not use PyPI (only --find-links)')
    .option('--skip-jar', 'reuse an existing java-deps.jar instead of running Maven', false)
    .option('--update-constraints', 'resolve afresh and rewrite constraints.txt next to the requirements', false)
    .option('--max-glibc <minor>', 'newest glibc 2.X of the target image (default: the release catalogue\'s)')
    .option('--python <path>', 'Python that runs pip and the archive writer', fs.existsSync(path.join(ROOT, '.venv/bin/python')) ? path.join(ROOT, '.venv/bin/python') : 'python3')
    .parse(argv);
  const o = program.opts<Record<string, string | boolean | undefined>>();
  if (o.allStages) {
    for (const flag of ['stage', 'architecture', 'pythonVersion', 'maxGlibc'] as const) {
      if (o[flag] !== undefined) throw new Error(`--all-stages builds every stage's own target: drop --${flag.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`);
    }
    const stages = Object.keys((cdkContext().stages ?? {}) as Record<string, unknown>).map((name) => readStage(name));
    for (const [id, { target, stages: names }] of stageTargets(stages)) {
      log(`target ${id} (stages ${names.join(', ')})`);
      buildAndReport(optionsFor(o, names.join(','), target, target.architecture, path.join(path.resolve(o.outDir as string), 'targets', id)));
    }
    return;
  }
  const stage = readStage(o.stage as string | undefined);
  const architecture = (o.architecture as string | undefined) ?? stageTarget(stage).architecture;
  if (!['x86_64', 'aarch64', 'host'].includes(architecture)) throw new Error(`--architecture: must be x86_64, aarch64 or host (got ${architecture})`);
  const pythonVersion = (o.pythonVersion as string | undefined) ?? stage.pythonVersion;
  if (!/^3\.\d+$/.test(pythonVersion)) throw new Error(`--python-version: must look like 3.11 (got ${pythonVersion})`);
  const target = buildTarget(stage.releaseLabel, pythonVersion, stage.architecture);
  buildAndReport(optionsFor(o, stage.stage, target, architecture as PackageOptions['architecture'], path.resolve(o.outDir as string)));
}

function optionsFor(
  o: Record<string, string | boolean | undefined>,
  stage: string,
  target: BuildTarget,
  architecture: PackageOptions['architecture'],
  outDir: string,
): PackageOptions {
  return {
    stage,
    architecture,
    pythonVersion: target.pythonVersion,
    releaseLabel: target.releaseLabel,
    sparkVersion: target.sparkVersion,
    interpreter: target.interpreter,
    outDir,
    requirements: path.resolve(o.requirements as string),
    jobsDir: path.resolve(o.jobsDir as string),
    modelsDir: path.resolve(o.modelsDir as string),
    pom: path.resolve(o.pom as string),
    findLinks: o.findLinks ? path.resolve(o.findLinks as string) : undefined,
    constraints: o.constraints ? path.resolve(o.constraints as string) : siblingConstraints(path.resolve(o.requirements as string)),
    noIndex: o.index === false,
    skipJar: Boolean(o.skipJar),
    updateConstraints: Boolean(o.updateConstraints),
    maxGlibc: o.maxGlibc === undefined ? target.maxGlibc : Number(o.maxGlibc),
    python: o.python as string,
  };
}

function buildAndReport(opts: PackageOptions): void {
  const started = Date.now();
  const manifest = packageArtifacts(opts);
  for (const a of manifest.artifacts) log(`${a.file.padEnd(24)} ${String(a.size).padStart(11)} B  sha256 ${a.sha256}`);
  log(`manifest ${path.join(opts.outDir, 'manifest.json')} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
}

if (require.main === module) {
  try {
    main(process.argv);
  } catch (error) {
    process.stderr.write(`package: ${(error as Error).message}\n`);
    process.exit(1);
  }
}
