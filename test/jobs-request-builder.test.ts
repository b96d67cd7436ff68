import { createHash } from 'node:crypto';
import {
  buildJobRequest,
  clientToken,
  CLIENT_TOKEN_BASE_LENGTH,
  describeJobRun,
  parseSparkSubmitParameters,
  toSdkStartJobRunInput,
} from '../lib/jobs/job-request-builder';
import { JOB_NAMES } from '../lib/jobs/catalog';
import { fixtureEnv, fixtureExecution, fixtureManifest } from './fixtures/job-manifest';

const A = 's3://dev-artifacts-bucket/artifacts';
const DEPS = `${A}/${'a'.repeat(64)}/python-deps.tar.gz#environment`;
const MODELS = `${A}/${'d'.repeat(64)}/models.tar.gz#models`;
// the image's Delta Lake jars (lib/config/emr-releases.json), then the job's uber-JAR
const DELTA_JARS = '/usr/share/aws/delta/lib/delta-spark.jar,/usr/share/aws/delta/lib/delta-storage.jar';
const FILES = `--py-files ${A}/${'b'.repeat(64)}/pyfiles.zip --jars ${DELTA_JARS},${A}/${'c'.repeat(64)}/uber.jar`;
const DELTA =
  ' --conf spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension' +
  ' --conf spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog';
const PY =
  '--conf spark.emr-serverless.driverEnv.PYSPARK_DRIVER_PYTHON=./environment/bin/python ' +
  '--conf spark.emr-serverless.driverEnv.PYSPARK_PYTHON=./environment/bin/python ' +
  '--conf spark.executorEnv.PYSPARK_PYTHON=./environment/bin/python';
const SMALL =
  '--conf spark.driver.cores=1 --conf spark.driver.memory=4g --conf spark.executor.cores=2 --conf spark.executor.memory=8g ' +
  '--conf spark.executor.instances=1 --conf spark.dynamicAllocation.maxExecutors=2 ' +
  '--conf spark.emr-serverless.driver.disk=20g --conf spark.emr-serverless.executor.disk=20g' + DELTA;
const MEDIUM =
  '--conf spark.driver.cores=2 --conf spark.driver.memory=8g --conf spark.executor.cores=2 --conf spark.executor.memory=7g ' +
  '--conf spark.executor.instances=2 --conf spark.dynamicAllocation.maxExecutors=3 ' +
  '--conf spark.emr-serverless.driver.disk=20g --conf spark.emr-serverless.executor.disk=50g' + DELTA;
const LARGE =
  '--conf spark.driver.cores=2 --conf spark.driver.memory=12g --conf spark.executor.cores=4 --conf spark.executor.memory=14g ' +
  '--conf spark.executor.instances=2 --conf spark.dynamicAllocation.maxExecutors=2 ' +
  '--conf spark.emr-serverless.driver.disk=20g --conf spark.emr-serverless.executor.disk=100g' + DELTA;
const ML =
  '--conf spark.driver.cores=2 --conf spark.driver.memory=8g --conf spark.executor.cores=2 --conf spark.executor.memory=7g ' +
  '--conf spark.executor.instances=2 --conf spark.dynamicAllocation.maxExecutors=6 ' +
  '--conf spark.emr-serverless.driver.disk=20g --conf spark.emr-serverless.executor.disk=50g' + DELTA;
const R = 's3://dev-lake-bucket/runs/dev-recommender/run-2026-11-21';

const entry = (i: number, name: string) => `${A}/${i.toString(16).padStart(2, '0').repeat(32)}/${name}.py`;

interface Case {
  job: string;
  step: string;
  args: Record<string, unknown>;
  entryPoint: string;
  arguments: string[];
  parameters: string;
}

const cases: Case[] = [
  {
    job: 'etl',
    step: 'etl-train',
    args: { input: ['s3://dev-lake-bucket/bronze/netflix/raw/train_1.txt', 's3://dev-lake-bucket/bronze/netflix/raw/train_2.txt'], output: 's3://dev-lake-bucket/silver/netflix/ratings/train/', rejects: 's3://dev-lake-bucket/silver/netflix/rejects/', shufflePartitions: 64 },
    entryPoint: entry(1, 'etl'),
    arguments: ['--result-uri', `${R}/etl-train.json`, '--input', 's3://dev-lake-bucket/bronze/netflix/raw/train_1.txt,s3://dev-lake-bucket/bronze/netflix/raw/train_2.txt', '--output', 's3://dev-lake-bucket/silver/netflix/ratings/train/', '--rejects', 's3://dev-lake-bucket/silver/netflix/rejects/', '--shuffle-partitions', '64'],
    parameters: `--conf spark.archives=${DEPS} ${FILES} ${MEDIUM} ${PY}`,
  },
  {
    job: 'create_futures',
    step: 'create-futures',
    args: { input: 's3://dev-lake-bucket/bronze/netflix/raw/future.txt', output: 's3://dev-lake-bucket/gold/netflix/futures/' },
    entryPoint: entry(2, 'create_futures'),
    arguments: ['--result-uri', `${R}/create-futures.json`, '--input', 's3://dev-lake-bucket/bronze/netflix/raw/future.txt', '--output', 's3://dev-lake-bucket/gold/netflix/futures/'],
    parameters: `--conf spark.archives=${DEPS} ${FILES} ${SMALL} ${PY}`,
  },
  {
    job: 'train',
    step: 'train',
    args: { train: 's3://dev-lake-bucket/silver/netflix/ratings/train/', modelRoot: 's3://dev-models-bucket/recommender', rank: 64, regParam: 0.1, maxIter: 15, implicitPrefs: false, nonnegative: true, seed: 42 },
    entryPoint: entry(3, 'train'),
    arguments: ['--result-uri', `${R}/train.json`, '--train', 's3://dev-lake-bucket/silver/netflix/ratings/train/', '--model-root', 's3://dev-models-bucket/recommender', '--rank', '64', '--reg-param', '0.1', '--max-iter', '15', '--nonnegative', '--seed', '42'],
    parameters: `--conf spark.archives=${DEPS} ${FILES} ${LARGE} ${PY}`,
  },
  {
    job: 'evaluate',
    step: 'evaluate',
    args: { model: 's3://dev-models-bucket/recommender/versions/v1', train: 's3://dev-lake-bucket/silver/netflix/ratings/train/', test: 's3://dev-lake-bucket/silver/netflix/ratings/test/', k: 10, threshold: 4, currentPointer: 's3://dev-models-bucket/recommender/current.json' },
    entryPoint: entry(4, 'evaluate'),
    arguments: ['--result-uri', `${R}/evaluate.json`, '--model', 's3://dev-models-bucket/recommender/versions/v1', '--train', 's3://dev-lake-bucket/silver/netflix/ratings/train/', '--test', 's3://dev-lake-bucket/silver/netflix/ratings/test/', '--k', '10', '--threshold', '4', '--current-pointer', 's3://dev-models-bucket/recommender/current.json'],
    parameters: `--conf spark.archives=${DEPS} ${FILES} ${LARGE} ${PY}`,
  },
  {
    job: 'drift',
    step: 'drift-detect',
    args: { action: 'detect', baselineTest: 's3://dev-lake-bucket/silver/netflix/ratings/test/', newTest: 's3://dev-lake-bucket/silver/netflix/stream/staging/test/', currentPointer: 's3://dev-models-bucket/recommender/current.json', weights: [0.5, 0.3, 0.2], scoreThreshold: 1 },
    entryPoint: entry(5, 'drift'),
    arguments: ['detect', '--result-uri', `${R}/drift-detect.json`, '--baseline-test', 's3://dev-lake-bucket/silver/netflix/ratings/test/', '--new-test', 's3://dev-lake-bucket/silver/netflix/stream/staging/test/', '--current-pointer', 's3://dev-models-bucket/recommender/current.json', '--weights', '0.5,0.3,0.2', '--score-threshold', '1'],
    parameters: `--conf spark.archives=${DEPS} ${FILES} ${SMALL} ${PY}`,
  },
  {
    job: 'generate',
    step: 'generate',
    args: { output: 's3://dev-lake-bucket/bronze/netflix/raw/', movies: 100, customers: 500, ratings: 10000, seed: 7, malformedFraction: 0.01 },
    entryPoint: entry(6, 'generate'),
    arguments: ['--result-uri', `${R}/generate.json`, '--output', 's3://dev-lake-bucket/bronze/netflix/raw/', '--movies', '100', '--customers', '500', '--ratings', '10000', '--seed', '7', '--malformed-fraction', '0.01'],
    parameters: `--conf spark.archives=${DEPS} ${FILES} ${SMALL} ${PY}`,
  },
  {
    job: 'ml_processing',
    step: 'enrich-articles',
    args: { source: 'postgres', sink: 'postgres', table: 'articles', batchSize: 256 },
    entryPoint: entry(7, 'ml_processing'),
    arguments: ['--result-uri', `${R}/enrich-articles.json`, '--source', 'postgres', '--sink', 'postgres', '--table', 'articles', '--models-dir', './models', '--batch-size', '256', '--db-secret-arn', 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:news-db-AbCdEf'],
    parameters: `--conf spark.archives=${DEPS},${MODELS} ${FILES} ${ML} ${PY} --conf spark.sql.execution.arrow.pyspark.enabled=true`,
  },
  {
    job: 'train_topic_model',
    step: 'train-topic-model',
    args: { input: 's3://dev-lake-bucket/gold/news/articles/', modelRoot: 's3://dev-models-bucket/topic' },
    entryPoint: entry(8, 'train_topic_model'),
    arguments: ['--result-uri', `${R}/train-topic-model.json`, '--input', 's3://dev-lake-bucket/gold/news/articles/', '--model-root', 's3://dev-models-bucket/topic', '--models-dir', './models'],
    parameters: `--conf spark.archives=${DEPS},${MODELS} ${FILES} ${MEDIUM} ${PY}`,
  },
  {
    job: 'taxi_preprocess',
    step: 'taxi-preprocess',
    args: { bronze: 's3://dev-lake-bucket/bronze/taxi/yellow/', silver: 's3://dev-lake-bucket/silver/taxi/trips/', rejects: 's3://dev-lake-bucket/silver/taxi/rejects/', months: '2024-01,2024-02' },
    entryPoint: entry(9, 'taxi_preprocess'),
    arguments: ['--result-uri', `${R}/taxi-preprocess.json`, '--bronze', 's3://dev-lake-bucket/bronze/taxi/yellow/', '--silver', 's3://dev-lake-bucket/silver/taxi/trips/', '--rejects', 's3://dev-lake-bucket/silver/taxi/rejects/', '--months', '2024-01,2024-02'],
    parameters: `--conf spark.archives=${DEPS} ${FILES} ${MEDIUM} ${PY}`,
  },
  {
    job: 'taxi_features',
    step: 'taxi-features',
    args: { silver: 's3://dev-lake-bucket/silver/taxi/trips/', gold: 's3://dev-lake-bucket/gold/taxi/features/', months: ['2024-01'] },
    entryPoint: entry(10, 'taxi_features'),
    arguments: ['--result-uri', `${R}/taxi-features.json`, '--silver', 's3://dev-lake-bucket/silver/taxi/trips/', '--gold', 's3://dev-lake-bucket/gold/taxi/features/', '--months', '2024-01'],
    parameters: `--conf spark.archives=${DEPS} ${FILES} ${MEDIUM} ${PY}`,
  },
  {
    job: 'recommend',
    step: 'recommend',
    args: { model: 's3://dev-models-bucket/recommender/versions/v1', train: 's3://dev-lake-bucket/silver/netflix/ratings/train/', output: 's3://dev-lake-bucket/gold/netflix/recommendations/', k: 10 },
    entryPoint: entry(11, 'recommend'),
    arguments: ['--result-uri', `${R}/recommend.json`, '--model', 's3://dev-models-bucket/recommender/versions/v1', '--train', 's3://dev-lake-bucket/silver/netflix/ratings/train/', '--output', 's3://dev-lake-bucket/gold/netflix/recommendations/', '--k', '10'],
    parameters: `--conf spark.archives=${DEPS} ${FILES} ${LARGE} ${PY}`,
  },
];

describe('buildJobRequest', () => {
  it('has a case for every job of the catalog', () => {
    expect(cases.map((c) => c.job).sort()).toEqual([...JOB_NAMES].sort());
  });

  it.each(cases)('builds the exact StartJobRun request for $job', (c) => {
    const request = buildJobRequest({ job: c.job, step: c.step, args: c.args, execution: fixtureExecution, manifest: fixtureManifest, env: fixtureEnv });
    const token = `${c.step.slice(0, 17)}-${createHash('sha256').update(`${fixtureExecution.id}\u0000${c.step}`).digest('hex').slice(0, 40)}`;
    expect(request).toEqual({
      ApplicationId: '00fabc123def4567',
      ExecutionRoleArn: 'arn:aws:iam::123456789012:role/dev-emr-job-role',
      Name: `dev-recommender-run-2026-11-21-${c.step}`,
      ClientToken: token,
      ExecutionTimeoutMinutes: 120,
      Mode: 'BATCH',
      RetryPolicy: { MaxAttempts: c.job === 'ml_processing' ? 1 : 2 },
      JobDriver: { SparkSubmit: { EntryPoint: c.entryPoint, EntryPointArguments: c.arguments, SparkSubmitParameters: c.parameters } },
      ConfigurationOverrides: { MonitoringConfiguration: { S3MonitoringConfiguration: { LogUri: 's3://dev-logs-bucket/emr/' } } },
      Tags: {
        project: 'emr-ml-pipelines',
        stage: 'dev',
        job: c.job,
        step: c.step,
        stateMachine: 'dev-recommender',
        execution: 'run-2026-11-21',
        depsSha256: 'aaaaaaaaaaaaaaaa',
      },
    });
  });

  it('keeps an explicit resultUri and is deterministic', () => {
    const input = {
      job: 'create_futures',
      step: 'create-futures',
      args: { resultUri: 's3://dev-lake-bucket/runs/x/y/z.json', input: 's3://dev-lake-bucket/a', output: 's3://dev-lake-bucket/b' },
      execution: fixtureExecution,
      manifest: fixtureManifest,
      env: fixtureEnv,
    };
    const first = buildJobRequest(input);
    expect(first.JobDriver.SparkSubmit.EntryPointArguments.slice(0, 2)).toEqual(['--result-uri', 's3://dev-lake-bucket/runs/x/y/z.json']);
    expect(buildJobRequest(input)).toEqual(first);
  });
});

describe('ClientToken', () => {
  it('is the same for a retried step and differs across steps and executions', () => {
    const a = clientToken(fixtureExecution.id, 'train');
    expect(clientToken(fixtureExecution.id, 'train')).toBe(a);
    expect(clientToken(fixtureExecution.id, 'evaluate')).not.toBe(a);
    expect(clientToken(`${fixtureExecution.id}-2`, 'train')).not.toBe(a);
  });

  it('leaves room for the Run state\'s redrive suffix within StartJobRun\'s 64 characters', () => {
    const token = clientToken(`arn:aws:states:eu-west-1:123456789012:execution:${'x'.repeat(80)}:${'y'.repeat(80)}`, `a_${'b'.repeat(78)}`);
    expect(token.length).toBe(CLIENT_TOKEN_BASE_LENGTH);
    // RedriveExecution allows at most 1000 redrives: "-1000" is the longest suffix
    expect(`${token}-1000`.length).toBeLessThanOrEqual(64);
  });

  it('is at most 64 characters of the allowed charset even for long steps and ARNs', () => {
    const token = clientToken(`arn:aws:states:eu-west-1:123456789012:execution:${'x'.repeat(80)}:${'y'.repeat(80)}`, `a_${'b'.repeat(78)}`);
    expect(token.length).toBeLessThanOrEqual(64);
    expect(token).toMatch(/^[a-z0-9-]+$/);
  });
});

describe('validation', () => {
  const base = { step: 'etl-train', execution: fixtureExecution, manifest: fixtureManifest, env: fixtureEnv };
  const etlArgs = { input: 's3://dev-lake-bucket/a', output: 's3://dev-lake-bucket/b', rejects: 's3://dev-lake-bucket/c' };

  it('rejects an unknown job naming the field and the known jobs', () => {
    expect(() => buildJobRequest({ ...base, job: 'etl2', args: etlArgs })).toThrow(/job: unknown job "etl2"; known jobs: etl, create_futures/);
  });

  it('rejects bad and unknown arguments naming the field', () => {
    expect(() => buildJobRequest({ ...base, job: 'etl', args: { ...etlArgs, output: 'not a uri' } })).toThrow(/args\.output: must be an s3:\/\/bucket/);
    expect(() => buildJobRequest({ ...base, job: 'etl', args: { ...etlArgs, outptu: 's3://dev-lake-bucket/x' } })).toThrow(/Unrecognized key: "outptu"/);
    expect(() => buildJobRequest({ ...base, job: 'taxi_features', args: { silver: 's3://dev-lake-bucket/s', gold: 's3://dev-lake-bucket/g', months: '2024-13' } })).toThrow(/args\.months\[0\]: must be a month YYYY-MM/);
    expect(() => buildJobRequest({ ...base, job: 'drift', args: { action: 'explode' } })).toThrow(/args\.action: action must be one of process, detect, merge/);
  });

  it('rejects bad overrides naming the field', () => {
    const run = (overrides: unknown) => () => buildJobRequest({ ...base, job: 'etl', args: etlArgs, overrides });
    expect(run({ sizing: { executorMemory: '14 GB' } })).toThrow(/overrides\.sizing\.executorMemory: must be 2g\.\.120g/);
    expect(run({ sizing: { executorCores: 3 } })).toThrow(/overrides\.sizing\.executorCores: must be 1, 2, 4, 8 or 16 vCPU/);
    expect(run({ sizing: { initialExecutors: 30 } })).toThrow(/overrides\.sizing\.initialExecutors: 30 exceeds maxExecutors 3/);
    expect(run({ sparkConf: { 'spark.archives': 's3://evil/x.tar.gz#environment' } })).toThrow(/overrides\.sparkConf\.spark\.archives: is set by the builder/);
    expect(run({ sparkConf: { 'spark.hadoop.fs.s3a.secret.key': 'abc' } })).toThrow(/looks like a secret/);
    expect(run({ sparkConf: { 'spark.sql.shuffle.partitions': '8 0' } })).toThrow(/must not contain whitespace/);
    expect(run({ executionTimeoutMinutes: 2 })).toThrow(/overrides\.executionTimeoutMinutes/);
    expect(run({ retries: 3 })).toThrow(/overrides: Unrecognized key: "retries"/);
  });

  it('rejects a bad step or execution', () => {
    expect(() => buildJobRequest({ ...base, step: 'Etl Train', job: 'etl', args: etlArgs })).toThrow(/step: must be a step id/);
    expect(() => buildJobRequest({ ...base, execution: { id: 'x', name: 'has space' }, job: 'etl', args: etlArgs })).toThrow(/execution\.name/);
  });

  it('rejects postgres without a configured database', () => {
    const { dbSecretArn: _unused, ...noDb } = fixtureEnv;
    expect(() => buildJobRequest({ ...base, env: noDb, job: 'ml_processing', args: { source: 'postgres', sink: 's3://dev-lake-bucket/gold/news/articles/' } })).toThrow(
      /args\.source: "postgres" needs a database, but stage "dev" has none configured/,
    );
  });
});

describe('overrides and spark-submit parts', () => {
  it('applies sizing, conf, timeout and tag overrides; conf overrides replace defaults in place', () => {
    const run = describeJobRun({
      job: 'etl',
      step: 'etl-train',
      args: { input: 's3://dev-lake-bucket/a', output: 's3://dev-lake-bucket/b', rejects: 's3://dev-lake-bucket/c' },
      overrides: {
        sizing: { executorMemory: '28g', maxExecutors: 40 },
        sparkConf: { 'spark.sql.shuffle.partitions': '400', 'spark.executor.cores': '8' },
        executionTimeoutMinutes: 30,
        tags: { costCenter: 'ml-42' },
      },
      execution: { id: 'evt-1234', name: 'nightly-etl' },
      manifest: fixtureManifest,
      env: fixtureEnv,
    });
    expect(run.request.ExecutionTimeoutMinutes).toBe(30);
    expect(run.request.Name).toBe('standalone-nightly-etl-etl-train');
    expect(run.request.Tags.costCenter).toBe('ml-42');
    expect(run.args.resultUri).toBe('s3://dev-lake-bucket/runs/standalone/nightly-etl/etl-train.json');
    expect(run.sparkSubmit.conf).toEqual([
      ['spark.driver.cores', '2'],
      ['spark.driver.memory', '8g'],
      ['spark.executor.cores', '8'],
      ['spark.executor.memory', '28g'],
      ['spark.executor.instances', '2'],
      ['spark.dynamicAllocation.maxExecutors', '40'],
      ['spark.emr-serverless.driver.disk', '20g'],
      ['spark.emr-serverless.executor.disk', '50g'],
      ['spark.sql.extensions', 'io.delta.sql.DeltaSparkSessionExtension'],
      ['spark.sql.catalog.spark_catalog', 'org.apache.spark.sql.delta.catalog.DeltaCatalog'],
      ['spark.emr-serverless.driverEnv.PYSPARK_DRIVER_PYTHON', './environment/bin/python'],
      ['spark.emr-serverless.driverEnv.PYSPARK_PYTHON', './environment/bin/python'],
      ['spark.executorEnv.PYSPARK_PYTHON', './environment/bin/python'],
      ['spark.sql.shuffle.partitions', '400'],
    ]);
    // The rendered parameters parse back into the same parts (what the local runner relies on).
    const parsed = parseSparkSubmitParameters(run.request.JobDriver.SparkSubmit.SparkSubmitParameters);
    expect(parsed).toEqual({ archives: run.sparkSubmit.archives, pyFiles: run.sparkSubmit.pyFiles, jars: run.sparkSubmit.jars, files: [], conf: run.sparkSubmit.conf });
  });

  it('omits the jar when the manifest has no uber-JAR and converts to the SDK input shape', () => {
    const manifest = { ...fixtureManifest, artifacts: fixtureManifest.artifacts.filter((a) => a.kind !== 'uber-jar') };
    const request = buildJobRequest({
      job: 'generate',
      step: 'generate',
      args: { output: 's3://dev-lake-bucket/bronze/netflix/raw/' },
      execution: fixtureExecution,
      manifest,
      env: fixtureEnv,
    });
    expect(parseSparkSubmitParameters(request.JobDriver.SparkSubmit.SparkSubmitParameters).jars).toEqual(DELTA_JARS.split(','));
    const sdk = toSdkStartJobRunInput(request);
    expect(sdk).toMatchObject({
      applicationId: '00fabc123def4567',
      clientToken: request.ClientToken,
      jobDriver: { sparkSubmit: { entryPoint: request.JobDriver.SparkSubmit.EntryPoint } },
      configurationOverrides: { monitoringConfiguration: { s3MonitoringConfiguration: { logUri: 's3://dev-logs-bucket/emr/' } } },
    });
  });

  it('fails clearly when the manifest lacks the job entry point', () => {
    const manifest = { ...fixtureManifest, artifacts: fixtureManifest.artifacts.filter((a) => a.file !== 'train.py') };
    expect(() =>
      buildJobRequest({ job: 'train', step: 'train', args: { train: 's3://dev-lake-bucket/t', modelRoot: 's3://dev-models-bucket/r' }, execution: fixtureExecution, manifest, env: fixtureEnv }),
    ).toThrow(/manifest: no entry-point artifact train\.py for job "train"/);
  });
});

describe('execution context from Step Functions', () => {
  it('accepts $$.Execution.StartTime and console-style names; tags stay within the allowed charset', () => {
    const request = buildJobRequest({
      job: 'generate',
      step: 'generate',
      args: { output: 's3://dev-lake-bucket/bronze/netflix/raw/' },
      execution: { ...fixtureExecution, name: 'run(1)!é', startTime: '2026-11-21T05:00:00.000Z' },
      manifest: fixtureManifest,
      env: fixtureEnv,
    });
    // EMR Serverless tag values are ASCII: the é of the execution name becomes _
    expect(request.Tags.execution).toBe('run_1___');
    expect(request.Name).toBe('dev-recommender-run-1----generate');
  });
});

describe('job-run tags (R7): EMR Serverless ASCII patterns, at most 50, no aws: keys', () => {
  const etlArgs = { input: 's3://dev-lake-bucket/a', output: 's3://dev-lake-bucket/b', rejects: 's3://dev-lake-bucket/c' };
  const base = { job: 'etl', step: 'etl-train', args: etlArgs, execution: fixtureExecution, manifest: fixtureManifest, env: fixtureEnv };
  const withTags = (tags: Record<string, string>) => () => buildJobRequest({ ...base, overrides: { tags } });
  /** The Tag key / value patterns of the EMR Serverless API reference (StartJobRun `tags`). */
  const API_KEY = /^[A-Za-z0-9 /_.:=+@-]{1,128}$/;
  const API_VALUE = /^[A-Za-z0-9 /_.:=+@-]{0,256}$/;

  it('accepts what the API accepts: ASCII letters, digits, space and _ . : / = + - @, 128-character keys, 256-character values', () => {
    const tags = { 'team name': 'ml platform', 'cost/center:id=1+2@x_y.z-w': '', ['k'.repeat(128)]: 'v'.repeat(256) };
    const request = buildJobRequest({ ...base, overrides: { tags } });
    expect(request.Tags).toMatchObject(tags);
    for (const [k, v] of Object.entries(request.Tags)) {
      expect(k).toMatch(API_KEY);
      expect(v).toMatch(API_VALUE);
    }
  });

  it('refuses non-ASCII letters and digits the Unicode classes allowed, naming the tag', () => {
    expect(withTags({ équipe: 'ml' })).toThrow(/overrides\.tags\.équipe: must be a tag key of ASCII letters, digits, space and _ \. : \/ = \+ - @ only/);
    expect(withTags({ team: 'données' })).toThrow(/overrides\.tags\.team: must be a tag value of ASCII letters/);
    expect(withTags({ team: '١٢٣' })).toThrow(/overrides\.tags\.team: must be a tag value of ASCII/);
    expect(withTags({ team: 'a\u00a0b' })).toThrow(/overrides\.tags\.team: must be a tag value of ASCII/);
    expect(withTags({ ['k'.repeat(129)]: 'v' })).toThrow(/must be a tag key of at most 128 characters/);
    expect(withTags({ team: 'v'.repeat(257) })).toThrow(/overrides\.tags\.team: must be a tag value of at most 256 characters/);
  });

  it('refuses keys with the reserved aws: prefix, in any case', () => {
    expect(withTags({ 'aws:createdBy': 'me' })).toThrow(/overrides\.tags\.aws:createdBy: must not start with "aws:" \(reserved for AWS use\)/);
    expect(withTags({ 'AWS:x': 'me' })).toThrow(/overrides\.tags\.AWS:x: must not start with "aws:"/);
    expect(() => buildJobRequest({ ...base, overrides: { tags: { 'awsome:x': 'ok' } } })).not.toThrow();
  });

  it('counts the override tags with the builder\'s own: 50 per job run at most', () => {
    const extra = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`t${i}`, 'v']));
    expect(Object.keys(buildJobRequest({ ...base, overrides: { tags: extra(43) } }).Tags)).toHaveLength(50);
    expect(withTags(extra(44))).toThrow(
      /overrides\.tags: 51 tags with the 7 the builder sets \(project, stage, job, step, stateMachine, execution, depsSha256\); EMR Serverless allows at most 50 per job run/,
    );
    // an override of a builder key replaces it, it does not add one
    expect(Object.keys(buildJobRequest({ ...base, overrides: { tags: { ...extra(43), project: 'other' } } }).Tags)).toHaveLength(50);
  });
});

describe('job retry policy (EMR Serverless retryPolicy, batch mode)', () => {
  const base = { execution: fixtureExecution, manifest: fixtureManifest, env: fixtureEnv };
  const etl = { ...base, job: 'etl', step: 'etl', args: { input: 's3://dev-lake-bucket/raw/', output: 's3://dev-lake-bucket/out/', rejects: 's3://dev-lake-bucket/rejects/' } };

  it('gives idempotent jobs 2 attempts and the non-idempotent news job 1, in BATCH mode', () => {
    const request = buildJobRequest(etl);
    expect(request.Mode).toBe('BATCH');
    expect(request.RetryPolicy).toEqual({ MaxAttempts: 2 });
    expect(toSdkStartJobRunInput(request)).toMatchObject({ mode: 'BATCH', retryPolicy: { maxAttempts: 2 } });
    const news = buildJobRequest({
      ...base,
      job: 'ml_processing',
      step: 'ml-processing',
      args: { source: 's3://dev-lake-bucket/raw/news/', sink: 's3://dev-lake-bucket/gold/news/' },
    });
    expect(news.RetryPolicy).toEqual({ MaxAttempts: 1 });
  });

  it('takes an override within 1..10 and refuses retries of a job that is not idempotent', () => {
    expect(buildJobRequest({ ...etl, overrides: { maxAttempts: 5 } }).RetryPolicy).toEqual({ MaxAttempts: 5 });
    expect(() => buildJobRequest({ ...etl, overrides: { maxAttempts: 11 } })).toThrow(/overrides\.maxAttempts/);
    expect(() =>
      buildJobRequest({
        ...base,
        job: 'ml_processing',
        step: 'ml-processing',
        args: { source: 's3://dev-lake-bucket/raw/news/', sink: 's3://dev-lake-bucket/gold/news/' },
        overrides: { maxAttempts: 2 },
      }),
    ).toThrow(/overrides\.maxAttempts: job "ml_processing" is not idempotent/);
  });
});

describe('train tuning arguments', () => {
  it('become the flags jobs/train.py parses: comma lists, the objective, the budget', () => {
    const request = buildJobRequest({
      job: 'train',
      step: 'train',
      args: { train: 's3://dev-lake-bucket/t/', modelRoot: 's3://dev-models-bucket/recommender', gridRank: [8, 16], gridImplicitPrefs: [false, true], tuneObjective: 'ndcgAtK', tuneMaxModels: 3, validationFraction: 0.2 },
      execution: fixtureExecution,
      manifest: fixtureManifest,
      env: fixtureEnv,
    });
    expect(request.JobDriver.SparkSubmit.EntryPointArguments).toEqual(expect.arrayContaining(['--grid-rank', '8,16', '--grid-implicit-prefs', 'false,true', '--tune-objective', 'ndcgAtK', '--tune-max-models', '3', '--validation-fraction', '0.2']));
    expect(() => buildJobRequest({ job: 'train', step: 'train', args: { train: 's3://dev-lake-bucket/t/', modelRoot: 's3://dev-models-bucket/r', tuneObjective: 'accuracy' }, execution: fixtureExecution, manifest: fixtureManifest, env: fixtureEnv })).toThrow(/args\.tuneObjective/);
  });
});
