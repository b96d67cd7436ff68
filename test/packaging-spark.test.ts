import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Manifest, parseManifest } from '../lib/jobs/manifest';
import { makePackagingInputs, ROOT, runPackaging } from './support/packaging-fixture';

/**
 * The dependency archive, submitted exactly as the builder submits it (spark.archives=…#environment,
 * PYSPARK_PYTHON=./environment/bin/python), is imported by Python workers on the executors.
 *
 * Master `local-cluster[2,1,1024]`: two real executor processes, each of which unpacks spark.archives into its
 * own working directory and starts its Python workers there — as on EMR Serverless. (`local[N]` runs tasks in the
 * driver JVM, unpacks archives into a private SparkFiles directory and starts Python workers in the driver's
 * working directory, so no relative `./environment/...` interpreter can resolve there.)
 */
describe('dependency archive on Spark executors', () => {
  const inputs = makePackagingInputs();
  const out = path.join(inputs.dir, 'out');
  // The standalone worker writes executor directories under SPARK_HOME/work: use a throwaway SPARK_HOME.
  const sparkHome = path.join(inputs.dir, 'spark-home');
  afterAll(() => fs.rmSync(inputs.dir, { recursive: true, force: true }));

  it('imports a dependency that only the archive contains, in every task', () => {
    expect(runPackaging(inputs.args(out)).status).toBe(0);
    const manifest: Manifest = parseManifest(JSON.parse(fs.readFileSync(path.join(out, 'manifest.json'), 'utf-8')));
    const pyspark = path.join(ROOT, '.venv/lib/python3.11/site-packages/pyspark');
    fs.mkdirSync(sparkHome);
    for (const entry of fs.readdirSync(pyspark)) fs.symlinkSync(path.join(pyspark, entry), path.join(sparkHome, entry));

    const conf = Object.entries(manifest.sparkConf).flatMap(([k, v]) => ['--conf', `${k}=${v}`]);
    const result = spawnSync(
      path.join(ROOT, '.venv/bin/spark-submit'),
      [
        '--master', 'local-cluster[2,1,1024]',
        '--conf', `spark.archives=${path.join(out, 'python-deps.tar.gz')}#environment`,
        '--py-files', path.join(out, 'pyfiles.zip'),
        ...conf,
        // Locally the driver runs in client mode from this process: give it the venv's Python; executors use
        // the archive's launcher (spark.executorEnv.PYSPARK_PYTHON is what EMR Serverless uses; locally
        // spark.pyspark.python is the equivalent that reaches the workers).
        '--conf', 'spark.pyspark.driver.python=' + path.join(ROOT, '.venv/bin/python'),
        '--conf', `spark.pyspark.python=${manifest.sparkConf['spark.executorEnv.PYSPARK_PYTHON']}`,
        '--conf', 'spark.ui.enabled=false',
        path.join(out, 'probe_job.py'),
      ],
      { cwd: inputs.dir, encoding: 'utf-8', env: { ...process.env, SPARK_HOME: sparkHome }, maxBuffer: 64 << 20 },
    );
    const line = result.stdout.split('\n').find((l) => l.startsWith('PROBE_RESULT '));
    if (!line) throw new Error(`spark-submit exited ${result.status}:\n${result.stderr.slice(-4000)}`);
    const probes = JSON.parse(line.slice('PROBE_RESULT '.length)) as Array<{ module: string; value: number; python: string; cwd: string }>;
    expect(probes).toHaveLength(4);
    const executorDirs = new Set<string>();
    for (const p of probes) {
      expect(p.value).toBe(42);
      expect(p.python).toMatch(/^3\.11\./);
      // Imported from the archive unpacked in the executor's working directory.
      expect(p.module).toBe(path.join(p.cwd, 'environment/site-packages/emrpipe_probe/__init__.py'));
      expect(p.cwd.startsWith(path.join(sparkHome, 'work'))).toBe(true);
      executorDirs.add(p.cwd);
    }
    expect(executorDirs.size).toBeGreaterThanOrEqual(1);
    // The driver's own interpreter cannot import it: the archive is the only source.
    const driver = spawnSync(path.join(ROOT, '.venv/bin/python'), ['-c', 'import emrpipe_probe'], { encoding: 'utf-8' });
    expect(driver.status).not.toBe(0);
  }, 900_000);
});
