/**
 * The operator view of issue 12: `emrpipe ui` (GetDashboardForJobRun), `status <job run>` with its attempts
 * (ListJobRunAttempts) and timing, the timing columns of `cost`, and the local runner's commands reached through
 * `emrpipe --local` (argument errors only here: nothing starts the local runner).
 */
import {
  GetApplicationCommand,
  GetDashboardForJobRunCommand,
  GetJobRunCommand,
  ListJobRunAttemptsCommand,
  ListJobRunsCommand,
  ResourceNotFoundException,
  EMRServerlessServiceException,
} from '@aws-sdk/client-emr-serverless';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cost } from '../lib/cost/cost';
import { cli, emr, NOW, resetMocks } from './cli-harness';

const APP = '00fabc123def';
const ROLE = 'arn:aws:iam::123456789012:role/dev-emr-job-role';
const DASHBOARD = 'https://p-00fjob1abc-00fabc123def.emrappui-prod.us-east-1.amazonaws.com/shs/history/00fjob1abc/jobs/?authToken=abc';

beforeEach(() => {
  resetMocks();
  emr.on(GetApplicationCommand).resolves({ application: { applicationId: APP, architecture: 'X86_64', monitoringConfiguration: {} } } as never);
});

describe('ui', () => {
  test('prints a fresh dashboard URL of the job run (GetDashboardForJobRun with the stage application)', async () => {
    emr.on(GetDashboardForJobRunCommand).resolves({ url: DASHBOARD });
    const r = await cli(['ui', '00fjob1abc']);
    expect(r.code).toBe(0);
    expect(r.out).toEqual([DASHBOARD]);
    expect(r.stderr).toBe('The URL is valid for one hour; use it once and run emrpipe ui again for a new one.');
    expect(emr.commandCalls(GetDashboardForJobRunCommand).map((c) => c.args[0].input)).toEqual([{ applicationId: APP, jobRunId: '00fjob1abc' }]);
    // every call asks anew (a URL is valid for one hour)
    await cli(['ui', '00fjob1abc']);
    expect(emr.commandCalls(GetDashboardForJobRunCommand)).toHaveLength(2);
  });

  test('an unknown job run is one plain sentence', async () => {
    emr.on(GetDashboardForJobRunCommand).rejects(new ResourceNotFoundException({ message: 'Job run 00nope does not exist.', $metadata: { httpStatusCode: 404 } }));
    const r = await cli(['ui', '00nope']);
    expect(r.code).toBe(1);
    expect(r.out).toEqual([]);
    expect(r.stderr).toBe(`emrpipe: Job run 00nope does not exist in application ${APP} of stage dev (find job runs with: emrpipe status).`);
  });

  test('--open without a browser opener still prints the URL and succeeds', async () => {
    emr.on(GetDashboardForJobRunCommand).resolves({ url: DASHBOARD });
    const path = process.env.PATH;
    process.env.PATH = mkdtempSync(join(tmpdir(), 'no-opener-'));
    try {
      const r = await cli(['ui', '00fjob1abc', '--open']);
      expect(r.code).toBe(0);
      expect(r.out).toEqual([DASHBOARD]);
      expect(r.err).toContain('Could not open a browser (no xdg-open on this machine); open the URL above yourself.');
    } finally {
      process.env.PATH = path;
    }
  });

  test('--help says what the URL is and how long it lasts', async () => {
    const r = await cli(['ui', '--help']);
    expect(r.code).toBe(0);
    const help = r.stdout.replace(/\s+/g, ' ');
    expect(help).toContain('Usage: emrpipe ui [options] <jobRunId>');
    expect(help).toContain('GetDashboardForJobRun');
    expect(help).toContain('a URL is valid for one hour and meant for one use, so each call asks for a new one');
    expect(help).toContain('--open also open the URL in a browser (xdg-open / open / start)');
    expect(help).toContain("With --local: serve Spark's History Server over .local/spark-events/");
  });
});

describe('status <job run>', () => {
  const jobRun = (extra: Record<string, unknown> = {}) => ({
    jobRun: {
      applicationId: APP, jobRunId: 'jr7', arn: `arn:aws:emr-serverless:us-east-1:123456789012:/applications/${APP}/jobruns/jr7`, name: 'train', state: 'SUCCESS', stateDetails: '',
      createdBy: ROLE, executionRole: ROLE, releaseLabel: 'emr-spark-8.0.0',
      createdAt: new Date('2026-11-21T10:00:00Z'), updatedAt: new Date('2026-11-21T10:09:10Z'), startedAt: new Date('2026-11-21T10:00:42Z'), endedAt: new Date('2026-11-21T10:09:10Z'),
      queuedDurationMilliseconds: 30500, totalExecutionDurationSeconds: 508, attempt: 2,
      retryPolicy: { maxAttempts: 2 },
      configurationOverrides: { monitoringConfiguration: { s3MonitoringConfiguration: { logUri: 's3://dev-logs-bucket/emr/' } } },
      billedResourceUtilization: { vCPUHour: 1, memoryGBHour: 4, storageGBHour: 0 },
      ...extra,
    },
  });
  const attempt = (n: number, state: string, stateDetails: string, created: string, updated: string) => ({
    applicationId: APP, id: 'jr7', name: 'train', mode: 'BATCH', arn: `arn:aws:emr-serverless:us-east-1:123456789012:/applications/${APP}/jobruns/jr7`, createdBy: ROLE,
    jobCreatedAt: new Date('2026-11-21T10:00:00Z'), createdAt: new Date(created), updatedAt: new Date(updated), executionRole: ROLE, state, stateDetails, releaseLabel: 'emr-spark-8.0.0', type: 'Spark', attempt: n,
  });

  test('shows queued time, start and run time, and every attempt with its driver log', async () => {
    emr.on(GetJobRunCommand, { applicationId: APP, jobRunId: 'jr7' }).resolves(jobRun() as never);
    emr
      .on(ListJobRunAttemptsCommand, { applicationId: APP, jobRunId: 'jr7' })
      .resolvesOnce({ jobRunAttempts: [attempt(1, 'FAILED', 'Job failed, please check complete logs in configured logging destination. ExitCode: 1.', '2026-11-21T10:00:00Z', '2026-11-21T10:03:00Z')], nextToken: 't2' } as never)
      .resolves({ jobRunAttempts: [attempt(2, 'SUCCESS', '', '2026-11-21T10:03:20Z', '2026-11-21T10:09:10Z')] } as never);
    const r = await cli(['status', 'jr7']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toEqual([
      'Job run jr7 (train): SUCCESS',
      '  created: 2026-11-21 10:00:00   started: 2026-11-21 10:00:42   ended: 2026-11-21 10:09:10',
      '  queued: 30.5s   run time: 8m28s',
      '  billed: 1 vCPU-h, 4 GB-h, 0 storage GB-h, $0.0757',
      '  attempts (2):',
      '    #1 FAILED    created: 2026-11-21 10:00:00   updated: 2026-11-21 10:03:00   Job failed, please check complete logs in configured logging destination. ExitCode: 1.',
      `       driver log: s3://dev-logs-bucket/emr/applications/${APP}/jobs/jr7/SPARK_DRIVER/stderr.gz`,
      '    #2 SUCCESS   created: 2026-11-21 10:03:20   updated: 2026-11-21 10:09:10',
      `       driver log: s3://dev-logs-bucket/emr/applications/${APP}/jobs/jr7/attempts/2/SPARK_DRIVER/stderr.gz`,
    ]);
    expect(emr.commandCalls(ListJobRunAttemptsCommand).map((c) => c.args[0].input.nextToken)).toEqual([undefined, 't2']);
  });

  test('a run that is still queued has no start, end or run time yet; logs default to the stage logs bucket', async () => {
    emr.on(GetJobRunCommand).resolves(jobRun({ state: 'QUEUED', startedAt: undefined, endedAt: undefined, totalExecutionDurationSeconds: undefined, queuedDurationMilliseconds: undefined, billedResourceUtilization: undefined, configurationOverrides: undefined, attempt: 1, retryPolicy: undefined }) as never);
    emr.on(ListJobRunAttemptsCommand).resolves({ jobRunAttempts: [attempt(1, 'QUEUED', 'Job run is queued.', '2026-11-21T10:00:00Z', '2026-11-21T10:00:05Z')] } as never);
    const r = await cli(['status', 'jr7']);
    expect(r.out).toEqual([
      'Job run jr7 (train): QUEUED',
      '  created: 2026-11-21 10:00:00   started: -   ended: -',
      '  queued: -   run time: -',
      '  attempts (1):',
      '    #1 QUEUED    created: 2026-11-21 10:00:00   updated: 2026-11-21 10:00:05   Job run is queued.',
      `       driver log: s3://dev-logs-bucket/emr/applications/${APP}/jobs/jr7/SPARK_DRIVER/stderr.gz`,
    ]);
  });

  test('without emr-serverless:ListJobRunAttempts the rest of the status still shows', async () => {
    emr.on(GetJobRunCommand).resolves(jobRun() as never);
    emr.on(ListJobRunAttemptsCommand).rejects(
      // not a modeled error of the EMR Serverless API: the SDK raises it as its service exception with the code as name
      new EMRServerlessServiceException({ name: 'AccessDeniedException', $fault: 'client', message: `User: arn:aws:iam::123456789012:user/operator is not authorized to perform: emr-serverless:ListJobRunAttempts on resource: arn:aws:emr-serverless:us-east-1:123456789012:/applications/${APP}/jobruns/jr7`, $metadata: { httpStatusCode: 403 } }),
    );
    const r = await cli(['status', 'jr7']);
    expect(r.code).toBe(0);
    expect(r.out.at(-1)).toBe(`  attempts: not listed (AccessDeniedException: User: arn:aws:iam::123456789012:user/operator is not authorized to perform: emr-serverless:ListJobRunAttempts on resource: arn:aws:emr-serverless:us-east-1:123456789012:/applications/${APP}/jobruns/jr7)`);
  });
});

describe('cost timing', () => {
  test('rows show started, queued, run time and attempt when GetJobRun has them (JSON: every timing field)', async () => {
    emr.on(ListJobRunsCommand).resolves({ jobRuns: [{ id: 'jr1', applicationId: APP, name: 'etl', state: 'SUCCESS', createdAt: new Date('2026-11-21T11:00:00Z') }] } as never);
    emr.on(GetJobRunCommand).resolves({
      jobRun: {
        name: 'etl', state: 'SUCCESS', createdAt: new Date('2026-11-21T11:00:00Z'), startedAt: new Date('2026-11-21T11:00:40Z'), endedAt: new Date('2026-11-21T11:05:40Z'),
        queuedDurationMilliseconds: 12000, totalExecutionDurationSeconds: 300, attempt: 1, billedResourceUtilization: { vCPUHour: 2, memoryGBHour: 8, storageGBHour: 0 },
      },
    } as never);
    const table = await cli(['cost']);
    expect(table.out[1]).toMatch(/^run\s+name\s+state\s+created\s+started\s+queued\s+run time\s+attempt\s+vCPU-h\s+GB-h\s+storage GB-h\s+cost$/);
    expect(table.out[2]).toMatch(/^jr1\s+etl\s+SUCCESS\s+2026-11-21 11:00\s+2026-11-21 11:00\s+12\.0s\s+5m00s\s+1\s+2\.000\s+8\.000\s+0\.000\s+\$0\.1515$/);
    const json = JSON.parse((await cli(['cost', '--json'])).stdout);
    expect(json.runs[0]).toMatchObject({ startedAt: '2026-11-21T11:00:40.000Z', endedAt: '2026-11-21T11:05:40.000Z', queuedSeconds: 12, startLatencySeconds: 40, runSeconds: 300, attempt: 1 });
  });

  test('--local rows show the timing fields of the cost record (record-job-cost output) when present', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'emrpipe-cost-timing-'));
    const dir = join(cwd, '.local', 's3', 'local-lake', 'runs', 'recommender-training', 'demo-2');
    mkdirSync(dir, { recursive: true });
    const priced = cost({ vCPUHour: 0.1, memoryGBHour: 0.1, storageGBHour: 0 }, 'us-east-1', 'X86_64', { wallSeconds: 90 });
    const timing = { createdAt: '2026-11-21T11:00:00.000Z', startedAt: '2026-11-21T11:00:03.000Z', endedAt: '2026-11-21T11:01:33.000Z', queuedSeconds: 2.5, startLatencySeconds: 3, runSeconds: 90, attempt: 2 };
    writeFileSync(join(dir, 'train.json'), JSON.stringify({ job: 'train', status: 'SUCCEEDED', startedAt: '2026-11-21T11:00:04Z', resources: { ...priced, ...timing } }));
    // a record from before the timing fields: its cells are "-"
    writeFileSync(join(dir, 'etl.json'), JSON.stringify({ job: 'etl', status: 'SUCCEEDED', startedAt: '2026-11-21T10:59:00Z', resources: priced }));
    const r = await cli(['--local', 'cost', '--since', '1d'], cwd);
    expect(r.code).toBe(0);
    expect(r.out[1]).toMatch(/^run\s+name\s+state\s+created\s+started\s+queued\s+run time\s+attempt\s+vCPU-h/);
    expect(r.out[2]).toMatch(/^recommender-training\/demo-2\/etl\s+etl\s+SUCCEEDED\s+2026-11-21 10:59\s+-\s+-\s+-\s+-\s+0\.100/);
    expect(r.out[3]).toMatch(/^recommender-training\/demo-2\/train\s+train\s+SUCCEEDED\s+2026-11-21 11:00\s+2026-11-21 11:00\s+2\.5s\s+1m30s\s+2\s+0\.100/);
    const json = JSON.parse((await cli(['--local', 'cost', '--since', '1d', '--json'], cwd)).stdout);
    expect(json.runs[1]).toMatchObject({ run: 'recommender-training/demo-2/train', startedAt: timing.startedAt, endedAt: timing.endedAt, queuedSeconds: 2.5, runSeconds: 90, attempt: 2 });
    expect(json.runs[0]).not.toHaveProperty('runSeconds');
  });
});

describe('emrpipe --local: the local runner commands', () => {
  test('--local run --input-json with bad JSON is a usage error naming the option (nothing runs)', async () => {
    const r = await cli(['--local', 'run', 'recommender-training', '--input-json', '{"rank": 8,']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: option '--input-json <json>' argument '\{"rank": 8,' is invalid\. not valid JSON \(.+\)/);
  });

  test('--input-json must be an object, and not together with --input', async () => {
    const array = await cli(['--local', 'run', 'recommender-training', '--input-json', '[1]']);
    expect(array.code).toBe(2);
    expect(array.stderr).toBe('emrpipe: --input-json must be a JSON object, like {"rank": 32}.');
    const both = await cli(['--local', 'run', 'recommender-training', '--input', 'in.json', '--input-json', '{}']);
    expect(both.code).toBe(2);
    expect(both.stderr).toBe('emrpipe: Give the execution input either as --input <file> or as --input-json <json>, not both.');
  });

  test('list, schedule, access and demo need --local', async () => {
    for (const args of [['list'], ['schedule', 'NewsEnrichmentHourly'], ['access', '--json'], ['demo']]) {
      const r = await cli(args);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(`emrpipe: "${args[0]}" is a local-runner command: run it as emrpipe --local ${args[0]}.`);
    }
  });

  test('--local access prints the access report of the last local run (local/cli.ts implementation)', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'emrpipe-access-'));
    const missing = await cli(['--local', 'access'], cwd);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe(`emrpipe: No access report at ${join(cwd, '.local', 'access-report.json')}: run a pipeline locally first`);
    mkdirSync(join(cwd, '.local'));
    const report = { principals: [], generatedAt: NOW.toISOString() };
    writeFileSync(join(cwd, '.local', 'access-report.json'), JSON.stringify(report));
    const json = await cli(['--local', 'access', '--json'], cwd);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual(report);
  });
});
