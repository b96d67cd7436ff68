import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { buildTarget, buildTargetId, EMR_RELEASES, getRelease, KNOWN_RELEASE_LABELS } from '../lib/config/emr-releases';
import { parseStageConfig } from '../lib/config/stage-config';
import { ArtifactsMismatchError } from '../lib/constructs/job-artifacts';
import { builtForMismatches, builtForSparkConf, parseManifest, serializeManifest } from '../lib/jobs/manifest';
import { addPlatform } from '../lib/stacks/platform';
import { launcherScript, stageTargets } from '../scripts/package-artifacts';
import { writeArtifacts } from './support/artifacts-fixture';
import { synthPlatform } from './support/cdk-platform';
import { makePackagingInputs, ROOT, runPackaging } from './support/packaging-fixture';

/** R2/R4: one release catalogue decides the archive's Python, interpreter and wheels; synth checks the build. */
describe('EMR release catalogue (lib/config/emr-releases.json)', () => {
  test('emr-spark-8.0.0 and emr-7.13.0 with their Spark, Python, interpreter, Java, architectures, source and date', () => {
    expect(KNOWN_RELEASE_LABELS).toEqual(expect.arrayContaining(['emr-spark-8.0.0', 'emr-7.13.0']));
    expect(getRelease('emr-spark-8.0.0')).toMatchObject({
      sparkVersion: '4.0.2',
      javaVersion: '17',
      python: { default: '3.11', interpreters: { '3.11': '/usr/bin/python3.11', '3.12': '/usr/bin/python3.12', '3.13': '/usr/bin/python3.13' } },
      architectures: ['X86_64', 'ARM64'],
      released: '2026-05-21',
    });
    expect(getRelease('emr-7.13.0')).toMatchObject({
      sparkVersion: '3.5.6',
      sparkBuild: '3.5.6-amzn-2',
      javaVersion: '17',
      python: { default: '3.9', interpreters: { '3.9': '/usr/bin/python3.9', '3.11': '/usr/bin/python3.11' } },
      released: '2026-04-21',
    });
    for (const release of Object.values(EMR_RELEASES)) {
      expect(release.sources.length).toBeGreaterThan(0);
      expect(release.checked).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    }
  });

  test('an unknown release is an error naming it and the known ones', () => {
    expect(() => getRelease('emr-6.15.0')).toThrow(`emr-6.15.0 is not in the EMR release catalogue (lib/config/emr-releases.json); known releases: ${KNOWN_RELEASE_LABELS.join(', ')}`);
  });

  test('a build target: the release default Python and its interpreter, the wheel CPU, the image glibc', () => {
    expect(buildTarget('emr-7.13.0', undefined, 'ARM64')).toEqual({
      releaseLabel: 'emr-7.13.0',
      sparkVersion: '3.5.6',
      pythonVersion: '3.9',
      interpreter: '/usr/bin/python3.9',
      architecture: 'aarch64',
      maxGlibc: 34,
    });
    expect(buildTarget('emr-7.13.0', '3.11', 'X86_64')).toMatchObject({ pythonVersion: '3.11', interpreter: '/usr/bin/python3.11', architecture: 'x86_64' });
    expect(() => buildTarget('emr-spark-8.0.0', '3.9', 'X86_64')).toThrow('emr-spark-8.0.0 offers Python 3.11, 3.12, 3.13, not 3.9');
    expect(buildTargetId(buildTarget('emr-spark-8.0.0', undefined, 'ARM64'))).toBe('emr-spark-8.0.0-py3.11-aarch64');
  });
});

describe('stage config against the catalogue', () => {
  test('an unknown releaseLabel fails naming it and listing the known releases', () => {
    expect(() => parseStageConfig('prod', { releaseLabel: 'emr-7.1.0' })).toThrow(
      `Invalid configuration for stage "prod": stages.prod.releaseLabel: emr-7.1.0 is not in the EMR release catalogue (lib/config/emr-releases.json); known releases: ${KNOWN_RELEASE_LABELS.join(', ')}`,
    );
  });

  test('pythonVersion defaults to the release default and must be one the release offers', () => {
    expect(parseStageConfig('dev', {}).pythonVersion).toBe('3.11');
    expect(parseStageConfig('dev', { releaseLabel: 'emr-7.13.0' }).pythonVersion).toBe('3.9');
    expect(parseStageConfig('dev', { releaseLabel: 'emr-7.13.0', pythonVersion: '3.11' }).pythonVersion).toBe('3.11');
    expect(() => parseStageConfig('dev', { releaseLabel: 'emr-7.13.0', pythonVersion: '3.12' })).toThrow(
      'stages.dev.pythonVersion: emr-7.13.0 offers Python 3.9, 3.11 (release catalogue), not 3.12',
    );
    expect(() => parseStageConfig('dev', { pythonVersion: '3.9' })).toThrow('stages.dev.pythonVersion: emr-spark-8.0.0 offers Python 3.11, 3.12, 3.13 (release catalogue), not 3.9');
  });
});

describe('synth checks the packaged manifest against the stage (R4)', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'release-catalogue-'));
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
  // the fixture build: emr-spark-8.0.0 / CPython 3.11 / x86_64
  const built = path.join(tmp, 'x86');
  writeArtifacts(built);
  const host = path.join(tmp, 'host');
  const { manifest } = writeArtifacts(host);
  fs.writeFileSync(path.join(host, 'manifest.json'), serializeManifest({ ...manifest, builtFor: { ...manifest.builtFor, architecture: 'host', platforms: [] } }));

  test('a stage the build fits synthesizes with it', () => {
    const { stack } = synthPlatform('dev', {}, { artifactsDir: built });
    expect(stack.artifacts.missingReason).toBeUndefined();
    expect(stack.artifacts.manifest?.builtFor.architecture).toBe('x86_64');
  });

  test.each([
    ['an ARM64 stage with x86_64 wheels', 'prod', { architecture: 'ARM64' as const }, 'emr-spark-8.0.0 / CPython 3.11 / aarch64', 'architecture: x86_64, expected aarch64'],
    ['another Python ABI', 'dev', { pythonVersion: '3.12' }, 'emr-spark-8.0.0 / CPython 3.12 / x86_64', 'pythonVersion: 3.11, expected 3.12'],
    ['another release', 'qa', { releaseLabel: 'emr-7.13.0', pythonVersion: '3.11' }, 'emr-7.13.0 / CPython 3.11 / x86_64', 'releaseLabel: emr-spark-8.0.0, expected emr-7.13.0'],
  ])('%s fails synth naming the stage, what it needs and what was built', (_name, stage, raw, expected, mismatch) => {
    const synth = () => synthPlatform(stage, raw, { artifactsDir: built });
    expect(synth).toThrow(ArtifactsMismatchError);
    expect(synth).toThrow(`Stage "${stage}" needs job artifacts built for ${expected}, but `);
    expect(synth).toThrow(`was built for emr-spark-8.0.0 / CPython 3.11 / x86_64 (${mismatch}): run \`npm run package -- --stage ${stage}\``);
  });

  test('a host build fails unless the app runs on this machine (acceptHostArtifacts)', () => {
    expect(() => synthPlatform('dev', {}, { artifactsDir: host })).toThrow('was built for emr-spark-8.0.0 / CPython 3.11 / host (this machine) (architecture: host, expected x86_64)');
    const app = new App({ context: { 'aws:cdk:disable-asset-staging': true, 'aws:cdk:bundling-stacks': [] } });
    const { stack } = addPlatform(app, parseStageConfig('dev', {}), { artifactsDir: host, acceptHostArtifacts: true });
    expect(stack.artifacts.manifest?.builtFor.architecture).toBe('host');
  });

  test('the comparison names each differing field', () => {
    expect(builtForMismatches(manifest.builtFor, { releaseLabel: 'emr-7.13.0', pythonVersion: '3.9', architecture: 'aarch64' })).toEqual([
      'releaseLabel: emr-spark-8.0.0, expected emr-7.13.0',
      'pythonVersion: 3.11, expected 3.9',
      'architecture: x86_64, expected aarch64',
    ]);
  });
});

describe('npm run package builds from the catalogue (R2)', () => {
  test('the launcher execs the catalogue interpreter and fails at once, naming release, version and path, without it', () => {
    const script = launcherScript({ releaseLabel: 'emr-7.13.0', pythonVersion: '3.99', interpreter: '/nonexistent/bin/python3.99' });
    expect(script).toContain('for candidate in "${EMRPIPE_PYTHON:-}" /nonexistent/bin/python3.99 python3.99; do');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'launcher-'));
    fs.writeFileSync(path.join(dir, 'python'), script, { mode: 0o755 });
    const env = { ...process.env };
    delete env.EMRPIPE_PYTHON;
    const run = spawnSync(path.join(dir, 'python'), ['-c', 'print(1)'], { encoding: 'utf-8', env });
    fs.rmSync(dir, { recursive: true, force: true });
    expect(run.status).toBe(127);
    expect(run.stderr).toContain('this archive was built for emr-7.13.0 with CPython 3.99, but this image has no /nonexistent/bin/python3.99');
  });

  test('the build tells the driver what it was built for (checked by the job entry)', () => {
    expect(builtForSparkConf({ releaseLabel: 'emr-7.13.0', pythonVersion: '3.11', sparkVersion: '3.5.6' })).toEqual({
      'spark.emr-serverless.driverEnv.EMRPIPE_BUILT_FOR_RELEASE': 'emr-7.13.0',
      'spark.emr-serverless.driverEnv.EMRPIPE_BUILT_FOR_PYTHON': '3.11',
      'spark.emr-serverless.driverEnv.EMRPIPE_BUILT_FOR_SPARK': '3.5.6',
    });
  });

  test('every configured stage gets a build for its target; stages sharing a target share one', () => {
    const stages = [
      parseStageConfig('dev', {}),
      parseStageConfig('prod', {}),
      parseStageConfig('arm', { architecture: 'ARM64' }),
      parseStageConfig('old', { releaseLabel: 'emr-7.13.0', pythonVersion: '3.11' }),
    ];
    expect([...stageTargets(stages)].map(([id, { stages: names }]) => [id, names])).toEqual([
      ['emr-spark-8.0.0-py3.11-x86_64', ['dev', 'prod']],
      ['emr-spark-8.0.0-py3.11-aarch64', ['arm']],
      ['emr-7.13.0-py3.11-x86_64', ['old']],
    ]);
  });

  test('--all-stages writes artifacts/targets/<target>/ with the catalogue interpreter in builtFor and the launcher', () => {
    const inputs = makePackagingInputs();
    try {
      const out = path.join(inputs.dir, 'out');
      const args = inputs.args(out).filter((a, i, all) => a !== '--architecture' && all[i - 1] !== '--architecture');
      const result = runPackaging([...args, '--all-stages']);
      expect(result.stderr).toContain('target emr-spark-8.0.0-py3.11-x86_64 (stages dev, prod)');
      expect(result.status).toBe(0);
      const dir = path.join(out, 'targets', 'emr-spark-8.0.0-py3.11-x86_64');
      const built = parseManifest(JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf-8')));
      expect(built.builtFor).toMatchObject({ releaseLabel: 'emr-spark-8.0.0', sparkVersion: '4.0.2', pythonVersion: '3.11', architecture: 'x86_64', interpreter: '/usr/bin/python3.11' });
      expect(built.sparkConf).toMatchObject({
        'spark.emr-serverless.driverEnv.PYSPARK_PYTHON': './environment/bin/python',
        'spark.emr-serverless.driverEnv.EMRPIPE_BUILT_FOR_PYTHON': '3.11',
        'spark.emr-serverless.driverEnv.EMRPIPE_BUILT_FOR_SPARK': '4.0.2',
      });
      const listing = spawnSync('tar', ['xzOf', path.join(dir, 'python-deps.tar.gz'), 'bin/python'], { encoding: 'utf-8' });
      expect(listing.stdout).toContain('/usr/bin/python3.11 python3.11; do');
      expect(fs.existsSync(path.join(out, 'manifest.json'))).toBe(false);
      // synth of a stage takes its target's own build from there (bin/app.ts default) — here via artifactsDir
      expect(synthPlatform('prod', {}, { artifactsDir: dir }).stack.artifacts.manifest?.builtFor.interpreter).toBe('/usr/bin/python3.11');
    } finally {
      fs.rmSync(inputs.dir, { recursive: true, force: true });
    }
  });

  test('flags that pick one target are refused with --all-stages', () => {
    const result = runPackaging([path.join(ROOT, 'scripts/package-artifacts.ts'), '--all-stages', '--architecture', 'aarch64']);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain("--all-stages builds every stage's own target: drop --architecture");
  });
});
