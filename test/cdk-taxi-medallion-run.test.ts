import { ExecutionError, StateMachine } from 'aws-local-stepfunctions';
import { planFor } from '../lib/pipelines';
import { planEnvironmentFor } from '../lib/pipelines/common';
import { INGEST_MAX_CONCURRENCY, newestPublishedMonth, plan } from '../lib/pipelines/taxi-medallion';
import { parseStageConfig } from '../lib/config/stage-config';
import { definitions, synthPlatform } from './support/cdk-platform';

/**
 * Runs the synthesized taxi-medallion definition (the ASL cdk deploy ships) with aws-local-stepfunctions: the plan
 * runs for real, the ingest Lambda and the Spark steps are fake handlers. The Map state must invoke the ingest
 * Lambda once per month of the plan, at most INGEST_MAX_CONCURRENCY at a time, retrying transient errors.
 */
const { template } = synthPlatform('dev');
const taxi = definitions(template)['taxi-medallion'];
const env = planEnvironmentFor(parseStageConfig('dev', {}), { lakeBucket: 'lake-bucket', modelsBucket: 'models-bucket' });

const context = {
  Execution: { Id: 'arn:aws:states:us-east-1:123456789012:execution:emr-ml-dev-taxi-medallion:run-1', Name: 'run-1', StartTime: '2026-12-01T06:00:00Z', RedriveCount: 0 },
  StateMachine: { Id: 'arn:aws:states:us-east-1:123456789012:stateMachine:emr-ml-dev-taxi-medallion', Name: 'emr-ml-dev-taxi-medallion' },
};

const uri = (month: string) => `s3://lake-bucket/bronze/taxi/yellow/year=${month.slice(0, 4)}/month=${month.slice(5)}/yellow_tripdata_${month}.parquet`;

/** `ingest(input)` answers one invocation of the ingest Lambda (throw to fail it). */
function runTaxi(input: unknown, ingest: (i: any) => unknown = (i) => ({ objects: [{ month: i.months[0], uri: uri(i.months[0]), bytes: 100, skipped: false }], bytes: 100, downloadedBytes: 100 })) {
  const visited: string[] = [];
  const ingestInputs: any[] = [];
  const alerts: any[] = [];
  const jobArgs: Record<string, any> = {};
  let running = 0;
  let maxRunning = 0;
  const record = (name: string, fn: (i: any) => unknown) => async (i: any) => {
    visited.push(name);
    return fn(i) as any;
  };
  const spark = (step: string) => ({
    [`Build ${step} request`]: record(`Build ${step} request`, (i) => {
      jobArgs[step] = i.args;
      return { ApplicationId: 'app', Name: i.step, ClientToken: 't', ExecutionRoleArn: 'r', ExecutionTimeoutMinutes: 120, Mode: 'BATCH', RetryPolicy: { MaxAttempts: 2 }, JobDriver: {}, ConfigurationOverrides: {}, Tags: {} };
    }),
    [`Run ${step}`]: record(`Run ${step}`, () => ({ applicationId: 'app', jobRunId: `${step}-run`, state: 'SUCCESS' })),
    [`Record ${step} cost`]: record(`Record ${step} cost`, (i) => ({ step: i.step, jobRunId: i.jobRun.jobRunId, costUsd: 0.1 })),
    [`Read ${step} result`]: record(`Read ${step} result`, () => ({ job: step, status: 'SUCCEEDED', counts: { valid: 1 }, outputs: { dataset: 's3://x' } })),
  });
  const handlers = {
    'Validate input': record('Validate input', (i) => planFor(i.pipeline, i.input, env, i.execution)),
    'Ingest taxi month': async (i: any) => {
      visited.push('Ingest taxi month');
      ingestInputs.push(i);
      running += 1;
      maxRunning = Math.max(maxRunning, running);
      try {
        await new Promise((resolve) => setTimeout(resolve, 20));
        return (await ingest(i)) as any;
      } finally {
        running -= 1;
      }
    },
    ...spark('taxi-preprocess'),
    ...spark('taxi-features'),
    'Notify failure': record('Notify failure', (i) => {
      alerts.push(i);
      return {};
    }),
  };
  const machine = new StateMachine(taxi as any, { validationOptions: { noValidate: false } } as any);
  const execution = machine.run(input as any, {
    overrides: { taskResourceLocalHandlers: handlers as any, retryIntervalOverrides: { 'Ingest taxi month': 0 } },
    context: context as any,
  });
  return { visited, ingestInputs, alerts, jobArgs, result: execution.result, maxRunning: () => maxRunning };
}

const MONTHS = ['2024-01', '2024-02', '2024-03', '2024-04', '2024-05'];

describe('taxi-medallion definition, executed', () => {
  test('the Map invokes the ingest Lambda once per month of the plan, at most 2 at a time, then runs the jobs', async () => {
    const { visited, ingestInputs, jobArgs, result, maxRunning } = runTaxi({ months: [...MONTHS].reverse(), sourceUrlTemplate: 'https://example.org/t_{month}.parquet' });
    const output: any = await result;
    expect(ingestInputs.map((i) => i.months)).toHaveLength(MONTHS.length);
    expect(ingestInputs.map((i) => i.months[0]).sort()).toEqual(MONTHS);
    for (const i of ingestInputs) expect(i).toEqual({ months: [expect.any(String)], sourceUrlTemplate: 'https://example.org/t_{month}.parquet' });
    expect(maxRunning()).toBeLessThanOrEqual(INGEST_MAX_CONCURRENCY);
    expect(maxRunning()).toBeGreaterThan(1);
    // the iterations' results flattened into one list, in the plan's (sorted) month order
    expect(output.ingest).toEqual({ objects: MONTHS.map((m) => ({ month: m, uri: uri(m), bytes: 100, skipped: false })) });
    expect(jobArgs['taxi-preprocess'].months).toEqual(MONTHS);
    expect(visited.slice(-8)).toEqual([
      'Build taxi-preprocess request', 'Run taxi-preprocess', 'Record taxi-preprocess cost', 'Read taxi-preprocess result',
      'Build taxi-features request', 'Run taxi-features', 'Record taxi-features cost', 'Read taxi-features result',
    ]);
  });

  test('the default month is the newest the source publishes: the start month (2026-12) minus taxi.publishLagMonths (2)', async () => {
    const { ingestInputs, result } = runTaxi({});
    await result;
    expect(ingestInputs.map((i) => i.months)).toEqual([['2026-10']]);
  });

  test('a transient ingest error is retried in its own iteration; the other months are invoked once', async () => {
    const failures: Record<string, number> = { '2024-02': 2 };
    const { ingestInputs, result } = runTaxi({ months: MONTHS.slice(0, 3) }, (i) => {
      const month = i.months[0];
      if ((failures[month] ?? 0) > 0) {
        failures[month] -= 1;
        throw Object.assign(new Error(`month ${month}: GET … answered HTTP 503`), { name: 'IngestTransientError' });
      }
      return { objects: [{ month, uri: uri(month), bytes: 1, skipped: true }], bytes: 1, downloadedBytes: 0 };
    });
    const output: any = await result;
    const calls = ingestInputs.map((i) => i.months[0]);
    expect(calls.filter((m) => m === '2024-02')).toHaveLength(3);
    expect(calls.filter((m) => m === '2024-01')).toHaveLength(1);
    expect(calls.filter((m) => m === '2024-03')).toHaveLength(1);
    expect(output.ingest.objects.map((o: any) => o.month)).toEqual(MONTHS.slice(0, 3));
  });

  test('a month that keeps failing fails the execution through the failure path, naming the error', async () => {
    const { visited, alerts, result } = runTaxi({ months: MONTHS.slice(0, 2) }, (i) => {
      if (i.months[0] === '2024-02') throw Object.assign(new Error('month 2024-02: GET … answered HTTP 404'), { name: 'IngestError' });
      return { objects: [{ month: i.months[0], uri: uri(i.months[0]), bytes: 1, skipped: false }], bytes: 1, downloadedBytes: 1 };
    });
    await expect(result).rejects.toBeInstanceOf(ExecutionError);
    await expect(result).rejects.toThrow(/month 2024-02: GET … answered HTTP 404/);
    expect(alerts).toHaveLength(1);
    expect(alerts[0].Message).toMatch(/Error: IngestError\nCause: .*month 2024-02/);
    expect(visited.filter((s) => s === 'Ingest taxi month')).toHaveLength(2); // IngestError is not retried
    expect(visited).not.toContain('Build taxi-preprocess request');
  });

  test('skipIngest goes straight to the jobs', async () => {
    const { visited, ingestInputs, result } = runTaxi({ months: ['2024-01'], skipIngest: true });
    await result;
    expect(ingestInputs).toHaveLength(0);
    expect(visited[1]).toBe('Build taxi-preprocess request');
  });
});

describe('taxi-medallion plan(): default month = newest published (R5)', () => {
  const envWithLag = (publishLagMonths?: number) =>
    planEnvironmentFor(parseStageConfig('dev', publishLagMonths === undefined ? {} : { taxi: { publishLagMonths } }), { lakeBucket: 'lake-bucket', modelsBucket: 'models-bucket' });
  const exec = (startTime?: string) => ({ name: 'run-1', stateMachine: 'emr-ml-dev-taxi-medallion', ...(startTime ? { startTime } : {}) });
  const months = (startTime: string, lag?: number) => (plan({}, envWithLag(lag), exec(startTime)) as any).months;

  test.each([
    ['2026-12-01T00:00:00Z', undefined, '2026-10'], // stage default lag 2
    ['2026-12-01T00:00:00Z', 2, '2026-10'],
    ['2026-12-01T00:00:00Z', 1, '2026-11'],
    ['2026-12-01T00:00:00Z', 0, '2026-12'],
    ['2026-12-31T23:59:59Z', 2, '2026-10'],
    ['2026-02-15T10:00:00Z', 2, '2025-12'], // across the year
    ['2026-01-01T00:00:00Z', 13, '2024-12'],
    ['2026-11-30T23:30:00-02:00', 2, '2026-10'], // 2026-12-01T01:30Z: the UTC month counts
  ])('start %s, lag %s → %s', (startTime, lag, expected) => {
    expect(months(startTime, lag)).toEqual([expected]);
    expect(newestPublishedMonth(startTime, lag ?? 2)).toBe(expected);
  });

  test('explicit months ignore the lag; the ingest payload and both jobs take the same months', () => {
    const p: any = plan({ months: ['2024-02', '2024-01', '2024-02'] }, envWithLag(0), exec('2026-12-01T00:00:00Z'));
    expect(p.months).toEqual(['2024-01', '2024-02']);
    expect(p.ingest.months).toEqual(['2024-01', '2024-02']);
    expect(p.steps.taxiPreprocess.args.months).toEqual(['2024-01', '2024-02']);
  });

  test('without a start time the months must be given', () => {
    expect(() => plan({}, envWithLag(2), exec())).toThrow(/input\.months: required when execution\.startTime is unknown/);
  });

  test('taxi.publishLagMonths is validated, naming the field', () => {
    for (const bad of [-1, 1.5, 25, '2']) {
      expect(() => parseStageConfig('prod', { taxi: { publishLagMonths: bad } } as any)).toThrow(
        'stages.prod.taxi.publishLagMonths: must be a whole number of months from 0 to 24',
      );
    }
    expect(parseStageConfig('prod', {}).taxi.publishLagMonths).toBe(2);
  });
});
