import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { parseManifest } from '../lib/jobs/manifest';
import { dependencySparkConf, pipInstallArgs, platformTags, writeConstraints } from '../scripts/package-artifacts';
import { makePackagingInputs, PYTHON, runPackaging } from './support/packaging-fixture';

const sha = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

describe('pip resolution for the target platform', () => {
  it('asks pip for wheels only, for the target CPython ABI and every manylinux tag up to glibc 2.34', () => {
    const args = pipInstallArgs({ architecture: 'aarch64', pythonVersion: '3.11', requirements: 'jobs/requirements.txt', noIndex: false, maxGlibc: 34 }, '/t');
    expect(args.slice(0, 5)).toEqual(['-m', 'pip', 'install', '--target', '/t']);
    expect(args).toContain('--only-binary=:all:');
    expect(args.join(' ')).toContain('--python-version 3.11 --implementation cp --abi cp311 -r jobs/requirements.txt');
    expect(args.filter((_, i) => args[i - 1] === '--platform')).toEqual(platformTags('aarch64', 34));
    expect(platformTags('x86_64', 34)[0]).toBe('manylinux_2_34_x86_64');
    expect(platformTags('x86_64', 34)).toContain('manylinux_2_28_x86_64');
    expect(platformTags('x86_64', 34).at(-1)).toBe('manylinux2014_x86_64');
    expect(platformTags('x86_64', 34)).toHaveLength(19);
  });

  it('passes a constraints file pinning transitive dependencies', () => {
    const args = pipInstallArgs({ architecture: 'x86_64', pythonVersion: '3.12', requirements: 'r.txt', constraints: 'c.txt', noIndex: false, maxGlibc: 28 }, '/t');
    expect(args.join(' ')).toContain('--python-version 3.12 --implementation cp --abi cp312 -c c.txt -r r.txt');
    expect(args.filter((_, i) => args[i - 1] === '--platform')[0]).toBe('manylinux_2_28_x86_64');
  });

  it('writes transitive pins (not the top-level ones) as constraints', () => {
    const dir = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'constraints-'));
    fs.writeFileSync(path.join(dir, 'requirements.txt'), '# runtime\nnumpy==2.3.5\nvaderSentiment==3.3.2  # sentiment\n');
    writeConstraints(path.join(dir, 'constraints.txt'), path.join(dir, 'requirements.txt'), {
      numpy: '2.3.5',
      vaderSentiment: '3.3.2',
      requests: '2.34.2',
      charset_normalizer: '3.5.2',
    });
    const lines = fs.readFileSync(path.join(dir, 'constraints.txt'), 'utf-8').split('\n').filter((l) => l && !l.startsWith('#'));
    expect(lines).toEqual(['charset-normalizer==3.5.2', 'requests==2.34.2']);
    fs.rmSync(dir, { recursive: true });
  });

  it('host builds resolve for the running interpreter (no --platform)', () => {
    const args = pipInstallArgs({ architecture: 'host', pythonVersion: '3.11', requirements: 'r.txt', findLinks: '/w', noIndex: true, maxGlibc: 34 }, '/t');
    expect(args).not.toContain('--platform');
    expect(args.join(' ')).toContain('--find-links /w --no-index -r r.txt');
  });

  it('points driver and executors at the archive launcher', () => {
    expect(dependencySparkConf()).toEqual({
      'spark.emr-serverless.driverEnv.PYSPARK_DRIVER_PYTHON': './environment/bin/python',
      'spark.emr-serverless.driverEnv.PYSPARK_PYTHON': './environment/bin/python',
      'spark.executorEnv.PYSPARK_PYTHON': './environment/bin/python',
    });
  });
});

describe('npm run package (offline fixture inputs)', () => {
  const inputs = makePackagingInputs();
  const outA = path.join(inputs.dir, 'out-a');
  const outB = path.join(inputs.dir, 'out-b');
  let first: ReturnType<typeof runPackaging>;

  beforeAll(() => {
    first = runPackaging(inputs.args(outA));
    // Second run: different output directory, later clock — must not matter.
    runPackaging(inputs.args(outB));
  });
  afterAll(() => fs.rmSync(inputs.dir, { recursive: true, force: true }));

  it('writes a valid manifest whose keys, hashes and sizes match the files', () => {
    expect(first.stderr).toContain('manifest');
    expect(first.status).toBe(0);
    const manifest = parseManifest(JSON.parse(fs.readFileSync(path.join(outA, 'manifest.json'), 'utf-8')));
    expect(manifest.builtFor).toMatchObject({ architecture: 'host', pythonVersion: '3.11', releaseLabel: 'emr-spark-8.0.0', sparkVersion: '4.0.2', implementation: 'cp' });
    expect(manifest.pythonPackages).toEqual({ 'emrpipe-probe': '1.0.0' });
    expect(manifest.artifacts.map((a) => [a.kind, a.file])).toEqual([
      ['python-deps', 'python-deps.tar.gz'],
      ['pyfiles', 'pyfiles.zip'],
      ['entry-point', 'probe_job.py'],
      ['models', 'models.tar.gz'],
    ]);
    for (const a of manifest.artifacts) {
      const file = path.join(outA, a.file);
      expect(a.sha256).toBe(sha(file));
      expect(a.size).toBe(fs.statSync(file).size);
      expect(a.key).toBe(`artifacts/${a.sha256}/${a.file}`);
    }
    expect(manifest.inputs.requirements).toBe(sha(path.join(inputs.dir, 'requirements.txt')));
  });

  it('is byte-identical when re-run with unchanged inputs', () => {
    for (const file of ['manifest.json', 'python-deps.tar.gz', 'pyfiles.zip', 'models.tar.gz', 'probe_job.py']) {
      expect(sha(path.join(outB, file))).toBe(sha(path.join(outA, file)));
    }
  });

  it('packs tar.gz reproducibly: sorted entries, fixed mtime and owner, gzip mtime 0', () => {
    const gz = fs.readFileSync(path.join(outA, 'python-deps.tar.gz'));
    expect(gz.readUInt32LE(4)).toBe(0); // gzip header MTIME
    const listing = spawnSync(PYTHON, ['-c', [
      'import json, sys, tarfile',
      't = tarfile.open(sys.argv[1])',
      'print(json.dumps([[m.name, m.mtime, m.uid, m.gid, m.uname, m.gname, oct(m.mode)] for m in t.getmembers()]))',
    ].join('\n'), path.join(outA, 'python-deps.tar.gz')], { encoding: 'utf-8' });
    const members = JSON.parse(listing.stdout) as Array<[string, number, number, number, string, string, string]>;
    const names = members.map((m) => m[0]);
    expect(names).toEqual([...names].sort());
    expect(names).toEqual(expect.arrayContaining(['bin/python', 'site-packages/emrpipe_probe/__init__.py', 'site-packages/emrpipe_probe-1.0.0.dist-info/METADATA']));
    expect(names.some((n) => n.includes('__pycache__') || n.endsWith('.pyc'))).toBe(false);
    for (const [, mtime, uid, gid, uname, gname] of members) expect([mtime, uid, gid, uname, gname]).toEqual([315532800, 0, 0, '', '']);
    expect(members.find((m) => m[0] === 'bin/python')![6]).toBe('0o755');
    expect(zlib.gunzipSync(gz).length % 512).toBe(0);
  });

  it('zips the jobs package without tests and keeps entry scripts as plain files', () => {
    const listing = spawnSync(PYTHON, ['-c', 'import json, sys, zipfile; print(json.dumps([[i.filename, list(i.date_time)] for i in zipfile.ZipFile(sys.argv[1]).infolist()]))', path.join(outA, 'pyfiles.zip')], { encoding: 'utf-8' });
    const entries = JSON.parse(listing.stdout) as Array<[string, number[]]>;
    expect(entries.map((e) => e[0])).toEqual(['jobs/', 'jobs/__init__.py', 'jobs/common/', 'jobs/common/__init__.py', 'jobs/probe_job.py']);
    for (const [, time] of entries) expect(time).toEqual([1980, 1, 1, 0, 0, 0]);
    expect(fs.readFileSync(path.join(outA, 'probe_job.py'), 'utf-8')).toContain('import emrpipe_probe');
  });

  it('ships model files but not the README', () => {
    const listing = spawnSync('tar', ['tzf', path.join(outA, 'models.tar.gz')], { encoding: 'utf-8' });
    expect(listing.stdout.trim().split('\n')).toEqual(['tiny-model/', 'tiny-model/weights.bin']);
  });

  it('the archive launcher runs CPython with the archive on the path (what the driver does on EMR Serverless)', () => {
    const extracted = path.join(inputs.dir, 'environment');
    fs.mkdirSync(extracted);
    expect(spawnSync('tar', ['xzf', path.join(outA, 'python-deps.tar.gz'), '-C', extracted]).status).toBe(0);
    const run = spawnSync('./environment/bin/python', ['-c', 'import emrpipe_probe, sys; print(emrpipe_probe.where()); print(sys.version_info[:2])'], {
      cwd: inputs.dir,
      encoding: 'utf-8',
      env: { ...process.env, PYTHONPATH: '/does-not-matter' },
    });
    expect(run.stderr).toBe('');
    expect(run.stdout.split('\n')[0]).toBe(path.join(fs.realpathSync(extracted), 'site-packages/emrpipe_probe/__init__.py'));
    expect(run.stdout.split('\n')[1]).toBe('(3, 11)');
  });

  it('fails with a message naming the option for a bad architecture', () => {
    const bad = runPackaging(inputs.args(path.join(inputs.dir, 'out-c'), ['--architecture', 'arm']));
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('--architecture: must be x86_64, aarch64 or host (got arm)');
  });
});
