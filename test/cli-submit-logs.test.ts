import { GetApplicationCommand, GetJobRunCommand, StartJobRunCommand } from '@aws-sdk/client-emr-serverless';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { sdkStreamMixin } from '@smithy/core/serde';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { parseJobTokens, submitCommand } from '../cli/commands/submit';
import { CliContext } from '../cli/context';
import type { LocalJobRequest } from '../cli/local';
import { cli, emr, resetMocks, s3 } from './cli-harness';
import { fixtureManifest } from './fixtures/job-manifest';

const body = (bytes: Buffer | string) => sdkStreamMixin(Readable.from([Buffer.from(bytes)]));
const APP = '00fabc123def';
const LOG_KEY = (run: string, stream: string) => `emr/applications/${APP}/jobs/${run}/SPARK_DRIVER/${stream}.gz`;

beforeEach(() => {
  resetMocks();
  s3.on(GetObjectCommand, { Bucket: 'dev-artifacts-bucket', Key: 'manifests/current.json' }).resolves({ Body: body(JSON.stringify(fixtureManifest)) } as never);
  emr.on(GetApplicationCommand).resolves({ application: { applicationId: APP, architecture: 'X86_64', monitoringConfiguration: {} } } as never);
});

describe('parseJobTokens', () => {
  test('turns job CLI flags into builder arguments', () => {
    expect(parseJobTokens('train', ['--train', 's3://b/t', '--model-root', 's3://m/r', '--max-iter', '5', '--implicit-prefs', '--reg-param=0.05'])).toEqual({
      train: 's3://b/t', modelRoot: 's3://m/r', maxIter: 5, implicitPrefs: true, regParam: 0.05,
    });
    expect(parseJobTokens('drift', ['detect', '--kl-threshold', '0.2'])).toEqual({ action: 'detect', klThreshold: 0.2 });
    expect(() => parseJobTokens('drift', ['--kl-threshold', '0.2'])).toThrow(/needs a subcommand/);
    expect(() => parseJobTokens('nope', [])).toThrow(/unknown job "nope"/);
  });
});

describe('submit', () => {
  test('builds the request with the job-request builder from the stage outputs and the published manifest', async () => {
    emr.on(StartJobRunCommand).resolves({ applicationId: APP, jobRunId: 'jr-42', arn: 'arn' });
    const r = await cli(['submit', 'etl', '--', '--input', 's3://dev-lake-bucket/bronze/netflix/raw/', '--output', 's3://dev-lake-bucket/silver/netflix/ratings/train/', '--rejects', 's3://dev-lake-bucket/silver/netflix/rejects/']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const input = emr.commandCalls(StartJobRunCommand)[0]!.args[0].input;
    expect(input.applicationId).toBe(APP);
    expect(input.executionRoleArn).toBe('arn:aws:iam::123456789012:role/dev-emr-job-role');
    expect(input.name).toBe('standalone-cli-20261121-120000-etl');
    expect(input.jobDriver?.sparkSubmit?.entryPoint).toBe(`s3://dev-artifacts-bucket/artifacts/${'01'.repeat(32)}/etl.py`);
    expect(input.jobDriver?.sparkSubmit?.entryPointArguments).toEqual([
      '--result-uri', 's3://dev-lake-bucket/runs/standalone/cli-20261121-120000/etl.json',
      '--input', 's3://dev-lake-bucket/bronze/netflix/raw/',
      '--output', 's3://dev-lake-bucket/silver/netflix/ratings/train/',
      '--rejects', 's3://dev-lake-bucket/silver/netflix/rejects/',
    ]);
    expect(input.configurationOverrides?.monitoringConfiguration?.s3MonitoringConfiguration?.logUri).toBe('s3://dev-logs-bucket/emr/');
    expect(input.executionTimeoutMinutes).toBe(120);
    expect(input.clientToken).toMatch(/^etl-[0-9a-f]{40}$/);
    expect(r.out[0]).toBe(`Submitted etl as job run jr-42 (standalone-cli-20261121-120000-etl) on application ${APP}.`);
  });

  test('--wait --show-stdout follows the run, prints its cost and the gunzipped driver stdout', async () => {
    emr.on(StartJobRunCommand).resolves({ applicationId: APP, jobRunId: 'jr-7', arn: 'arn' });
    const logUri = 's3://dev-logs-bucket/emr/';
    const run = (state: string, extra = {}) => ({ jobRun: { applicationId: APP, jobRunId: 'jr-7', state, configurationOverrides: { monitoringConfiguration: { s3MonitoringConfiguration: { logUri } } }, ...extra } });
    emr
      .on(GetJobRunCommand)
      .resolvesOnce(run('PENDING') as never)
      .resolvesOnce(run('RUNNING') as never)
      .resolvesOnce(run('RUNNING') as never)
      .resolves(run('SUCCESS', { totalExecutionDurationSeconds: 95, billedResourceUtilization: { vCPUHour: 0.5, memoryGBHour: 2, storageGBHour: 0 } }) as never);
    s3.on(GetObjectCommand, { Bucket: 'dev-logs-bucket', Key: LOG_KEY('jr-7', 'stdout') }).resolves({ Body: body(gzipSync('train rmse=0.91\ndone\n')) } as never);
    const r = await cli(['submit', 'train', '--wait', '--show-stdout', '--', '--train', 's3://dev-lake-bucket/silver/t/', '--model-root', 's3://dev-models-bucket/recommender/']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const states = r.out.filter((l) => /^\d\d:\d\d:\d\d /.test(l)).map((l) => l.slice(9));
    expect(states).toEqual(['PENDING', 'RUNNING', 'SUCCESS']);
    expect(r.out).toContain('Cost: $0.0379 (0.5 vCPU-h, 2 GB-h, 0 storage GB-h, 1m35s).');
    expect(r.out.slice(-2)).toEqual(['--- driver stdout ---', 'train rmse=0.91\ndone\n']);
  });

  test('a failed job run exits 1 and points to its stderr', async () => {
    emr.on(StartJobRunCommand).resolves({ applicationId: APP, jobRunId: 'jr-9', arn: 'arn' });
    emr.on(GetJobRunCommand).resolves({ jobRun: { state: 'FAILED', stateDetails: 'Job failed, exit code 2' } } as never);
    const r = await cli(['submit', 'create_futures', '--wait', '--', '--input', 's3://dev-lake-bucket/a/', '--output', 's3://dev-lake-bucket/b/']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('emrpipe: Job run jr-9 ended FAILED: Job failed, exit code 2. See its driver log with: emrpipe logs jr-9 --stderr');
  });

  test('bad job arguments are rejected by the builder naming the field; nothing is started', async () => {
    const r = await cli(['submit', 'train', '--', '--train', 'not-a-uri', '--model-root', 's3://dev-models-bucket/r/']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^emrpipe: Invalid arguments for job "train": args\.train: must be an s3:\/\/bucket\/key URI/);
    expect(emr.commandCalls(StartJobRunCommand)).toHaveLength(0);
  });

  test('a stage without a published manifest says what to do', async () => {
    s3.on(GetObjectCommand, { Bucket: 'dev-artifacts-bucket', Key: 'manifests/current.json' }).rejects(Object.assign(new Error('no key'), { name: 'NoSuchKey', $metadata: {} }));
    const r = await cli(['submit', 'etl', '--', '--input', 's3://a1/b', '--output', 's3://a1/c', '--rejects', 's3://a1/d']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('emrpipe: Stage dev has no published artifacts (s3://dev-artifacts-bucket/manifests/current.json is missing); run "npm run package" and deploy first.');
  });
});

describe('submit --local', () => {
  function localRepo(jobRunId: string, stdout: string): string {
    const cwd = mkdtempSync(join(tmpdir(), 'emrpipe-submit-local-'));
    const dir = join(cwd, '.local', 's3', 'local-logs', 'emr', 'applications', '00localapp', 'jobs', jobRunId, 'SPARK_DRIVER');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'stdout.gz'), gzipSync(stdout));
    return cwd;
  }
  const context = (cwd: string, out: string[]) =>
    new CliContext({ stage: 'dev', local: true }, { out: (t) => out.push(t), err: () => undefined, sleep: async () => undefined, now: () => new Date('2026-11-21T12:00:00Z'), cwd });

  test('runs the job through the local runner with the parsed arguments and prints state, CPU time and stdout', async () => {
    const cwd = localRepo('00run1', 'rows=42\n');
    const out: string[] = [];
    const requests: LocalJobRequest[] = [];
    const code = await submitCommand(context(cwd, out), 'drift', ['detect', '--kl-threshold', '0.2'], { showStdout: true }, async (request) => {
      requests.push(request);
      return {
        jobRun: { JobRunId: '00run1', State: 'SUCCESS', TotalExecutionDurationSeconds: 75, Local: { cpuSeconds: 121.25 } },
        logFile: '/x/.local/logs/standalone/cli-20261121-120000/drift-detect.log',
        resultUri: 's3://local-lake/runs/standalone/cli-20261121-120000/drift-detect.json',
      };
    });
    expect(code).toBe(0);
    expect(requests).toEqual([{ job: 'drift', step: 'drift-detect', args: { action: 'detect', klThreshold: 0.2 }, stage: 'dev', cwd, executionName: 'cli-20261121-120000' }]);
    expect(out).toEqual([
      'Running drift locally (stage dev settings, no AWS)…',
      'Job run 00run1: SUCCESS in 1m15s (121.3 CPU seconds; local runs cost $0).',
      'Result: s3://local-lake/runs/standalone/cli-20261121-120000/drift-detect.json',
      'Log: /x/.local/logs/standalone/cli-20261121-120000/drift-detect.log',
      '--- driver stdout ---',
      'rows=42\n',
    ]);
  });

  test('a failed local job run is an error naming its log file', async () => {
    const out: string[] = [];
    await expect(
      submitCommand(context(mkdtempSync(join(tmpdir(), 'x-')), out), 'etl', ['--input', 's3://a1/b'], {}, async () => ({
        jobRun: { JobRunId: '00run2', State: 'FAILED', StateDetails: 'ValueError: bad input' },
        logFile: '/x/etl.log',
        resultUri: 's3://l/r.json',
      })),
    ).rejects.toThrow('Local job run 00run2 ended FAILED: ValueError: bad input. Its driver output is in /x/etl.log.');
  });
});

describe('logs', () => {
  test('prints the gunzipped driver stdout from the job run log location; --stderr the stderr', async () => {
    emr.on(GetJobRunCommand).resolves({ jobRun: { state: 'SUCCESS', configurationOverrides: { monitoringConfiguration: { s3MonitoringConfiguration: { logUri: 's3://dev-logs-bucket/emr' } } } } } as never);
    s3.on(GetObjectCommand, { Bucket: 'dev-logs-bucket', Key: LOG_KEY('jr-1', 'stdout') }).resolves({ Body: body(gzipSync('hello from the driver\n')) } as never);
    s3.on(GetObjectCommand, { Bucket: 'dev-logs-bucket', Key: LOG_KEY('jr-1', 'stderr') }).resolves({ Body: body(gzipSync('WARN something\n')) } as never);
    const out = await cli(['logs', 'jr-1']);
    expect(out.code).toBe(0);
    expect(out.out).toEqual(['hello from the driver\n']);
    const err = await cli(['logs', 'jr-1', '--stderr']);
    expect(err.out).toEqual(['WARN something\n']);
  });

  test('falls back to the application log location, and explains a missing log', async () => {
    emr.on(GetJobRunCommand).resolves({ jobRun: { state: 'RUNNING' } } as never);
    emr.on(GetApplicationCommand).resolves({ application: { monitoringConfiguration: { s3MonitoringConfiguration: { logUri: 's3://app-logs/x/' } } } } as never);
    s3.on(GetObjectCommand).rejects(Object.assign(new Error('missing'), { name: 'NoSuchKey', $metadata: {} }));
    const r = await cli(['logs', 'jr-2']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`emrpipe: No driver stdout for job run jr-2 at s3://app-logs/x/applications/${APP}/jobs/jr-2/SPARK_DRIVER/stdout.gz yet (EMR Serverless uploads driver logs while the job runs; try again shortly).`);
  });

  test('--local reads the driver log the local runner wrote into the local S3 tree', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'emrpipe-logs-'));
    const dir = join(cwd, '.local', 's3', 'local-logs', 'emr', 'applications', '00localapp', 'jobs', '00abc123', 'SPARK_DRIVER');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'stdout.gz'), gzipSync('local driver says hi\n'));
    writeFileSync(join(dir, 'stderr.gz'), gzipSync('local warnings\n'));
    expect((await cli(['--local', 'logs', '00abc123'], cwd)).out).toEqual(['local driver says hi\n']);
    expect((await cli(['--local', 'logs', '00abc123', '--stderr'], cwd)).out).toEqual(['local warnings\n']);
    const missing = await cli(['--local', 'logs', '00zzz'], cwd);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe('emrpipe: No local driver stdout for job run 00zzz under .local/s3/*/emr/applications/ (run a pipeline with --local first).');
    expect(s3.commandCalls(GetObjectCommand)).toHaveLength(0);
  });
});
