import { parseStageConfig } from '../lib/config/stage-config';
import { getJobDefinition } from '../lib/jobs/catalog';
import {
  type AslGraph,
  CapacityError,
  checkStageCapacity,
  concurrentGroups,
  jobRunVcpu,
  parseVcpu,
  stageCapacityUnits,
} from '../lib/pipelines/capacity';
import { PIPELINE_NAMES } from '../lib/pipelines/common';
import { definitions, synthPlatform } from './support/cdk-platform';

/** R1: the account quota "Max concurrent vCPUs per account" (16 on a new account) and the application's cap. */
describe('concurrent vCPU of the pipelines (synth-time capacity check)', () => {
  const { template } = synthPlatform('dev');
  const defs = definitions(template) as unknown as Record<(typeof PIPELINE_NAMES)[number], AslGraph>;
  const dev = parseStageConfig('dev', {});

  test('vcpuQuota defaults to 16 and must be a positive whole number', () => {
    expect(dev.vcpuQuota).toBe(16);
    expect(() => parseStageConfig('prod', { vcpuQuota: 0 })).toThrow(/stages\.prod\.vcpuQuota/);
    expect(() => parseStageConfig('prod', { vcpuQuota: 2.5 })).toThrow(/stages\.prod\.vcpuQuota/);
    expect(parseStageConfig('prod', { vcpuQuota: 64 }).vcpuQuota).toBe(64);
  });

  test('with the default sizing every group of every pipeline fits 16 vCPU', () => {
    const units = stageCapacityUnits(dev, defs);
    expect(units.map((u) => u.label)).toEqual(PIPELINE_NAMES.map((p) => `pipeline ${p}`));
    const widest = Object.fromEntries(units.map((u) => [u.label.replace('pipeline ', ''), Math.max(...u.groups.map((g) => g.vcpu))]));
    expect(widest).toEqual({ 'recommender-training': 16, 'drift-retrain': 10, 'news-enrichment': 14, 'taxi-medallion': 8 });
    for (const unit of units) for (const group of unit.groups) expect(group.vcpu).toBeLessThanOrEqual(16);
    // the parallel groups: both branches count, each at driver + maxExecutors × executor cores
    const recommender = units.find((u) => u.label === 'pipeline recommender-training')!;
    expect(recommender.groups.map((g) => [g.kind, g.name, g.runs.map((r) => `${r.step}:${r.vcpu}`), g.vcpu])).toEqual([
      ['parallel', 'ETL', ['etl-train:8', 'etl-test:8'], 16],
      ['parallel', 'Futures and training', ['create-futures:5', 'train:10'], 15],
      ['step', 'evaluate', ['evaluate:10'], 10],
      ['step', 'recommend', ['recommend:10'], 10],
    ]);
    // taxi-medallion's Map runs the ingest Lambda (2 at a time), no job run: only its two Spark steps count
    expect(units.find((u) => u.label === 'pipeline taxi-medallion')!.groups.map((g) => g.name)).toEqual(['taxi-preprocess', 'taxi-features']);
    expect(() => checkStageCapacity(dev, defs)).not.toThrow();
  });

  test('a stage with vcpuQuota 8 fails synth naming the pipeline, the group and the numbers', () => {
    expect(() => synthPlatform('dev', { vcpuQuota: 8 })).toThrow(CapacityError);
    let message = '';
    try {
      checkStageCapacity(parseStageConfig('dev', { vcpuQuota: 8 }), defs);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain(
      'pipeline recommender-training: Parallel "ETL": etl-train (etl: 2 + 3×2 = 8 vCPU) ‖ etl-test (etl: 2 + 3×2 = 8 vCPU) = 16 vCPU exceeds stages.dev.vcpuQuota 8',
    );
    expect(message).toContain('pipeline news-enrichment: step "ml-processing": ml-processing (ml_processing: 2 + 6×2 = 14 vCPU) = 14 vCPU exceeds stages.dev.vcpuQuota 8');
    expect(message).not.toContain('taxi-medallion'); // 8 vCPU fits 8
    expect(message).not.toContain('drift-process'); // 5 vCPU fits
  });

  test('a maximumCapacity below a group fails synth naming it', () => {
    expect(() => synthPlatform('dev', { maximumCapacity: { cpu: '12 vCPU' } })).toThrow(
      /pipeline recommender-training: Parallel "Futures and training": .* = 15 vCPU exceeds stages\.dev\.maximumCapacity\.cpu 12 vCPU/,
    );
    expect(() => checkStageCapacity(parseStageConfig('dev', { maximumCapacity: { cpu: '15 vCPU' } }), defs)).toThrow(
      /Parallel "ETL": .* = 16 vCPU exceeds stages\.dev\.maximumCapacity\.cpu 15 vCPU/,
    );
    expect(() => checkStageCapacity(parseStageConfig('dev', { vcpuQuota: 8, maximumCapacity: { cpu: '8 vCPU' } }), defs)).toThrow(
      /= 16 vCPU exceeds stages\.dev\.vcpuQuota 8 and stages\.dev\.maximumCapacity\.cpu 8 vCPU/,
    );
  });

  test('a job schedule sized bigger (overrides.sizing) fails naming the schedule', () => {
    const schedule = (maxExecutors: number) =>
      parseStageConfig('dev', {
        schedules: {
          jobs: {
            'nightly-etl': {
              job: 'etl',
              expression: 'cron(0 2 * * ? *)',
              args: { input: 's3://{lakeBucket}/bronze/x/', output: 's3://{lakeBucket}/silver/x/', rejects: 's3://{lakeBucket}/silver/r/' },
              overrides: { sizing: { maxExecutors } },
            },
          },
        },
      });
    expect(() => checkStageCapacity(schedule(7), defs)).not.toThrow(); // 2 + 7×2 = 16
    expect(() => checkStageCapacity(schedule(8), defs)).toThrow('job schedule "nightly-etl": step "nightly-etl": nightly-etl (etl: 2 + 8×2 = 18 vCPU) = 18 vCPU exceeds stages.dev.vcpuQuota 16');
  });

  test('a raised quota with bigger jobs passes', () => {
    expect(() => checkStageCapacity(parseStageConfig('prod', { vcpuQuota: 64, maximumCapacity: { cpu: '200 vCPU' } }), defs)).not.toThrow();
  });
});

describe('concurrentGroups (pure)', () => {
  const sized = (step: string, job: string) => ({ step, job, sizing: getJobDefinition(job).sizing });
  const run = () => ({ Type: 'Task', Resource: 'arn:aws:states:::emr-serverless:startJobRun.sync', Next: 'x' });
  const steps = [sized('a', 'etl'), sized('b', 'train'), sized('c', 'drift')];

  test('a Parallel counts its branches at their widest state, nested Parallels included', () => {
    const asl: AslGraph = {
      States: {
        Group: {
          Type: 'Parallel',
          Branches: [
            { StartAt: 'Run a', States: { 'Run a': run(), 'Run c': run() } },
            { StartAt: 'Inner', States: { Inner: { Type: 'Parallel', Branches: [{ States: { 'Run b': run() } }, { States: { 'Run c': run() } }] } } },
          ],
        },
        'Run b': run(),
        Choice: { Type: 'Choice' },
      },
    };
    const groups = concurrentGroups(asl, steps);
    expect(groups.map((g) => [g.name, g.vcpu])).toEqual([
      ['Group', 8 + 10 + 5],
      ['b', 10],
    ]);
  });

  test('a Map counts MaxConcurrency copies; spark.maxConcurrentRuns caps what runs at once', () => {
    const map = (max?: number): AslGraph => ({
      States: { Each: { Type: 'Map', ...(max === undefined ? {} : { MaxConcurrency: max }), ItemProcessor: { StartAt: 'Run a', States: { 'Run a': run() } } } },
    });
    expect(concurrentGroups(map(3), steps)[0]).toMatchObject({ kind: 'map', vcpu: 24, jobRuns: 3, countedRuns: 3 });
    expect(concurrentGroups(map(3), steps, { maxConcurrentRuns: 2 })[0]).toMatchObject({ vcpu: 16, jobRuns: 3, countedRuns: 2 });
    expect(concurrentGroups(map(0), steps)[0]!.vcpu).toBe(Number.POSITIVE_INFINITY);
    expect(concurrentGroups(map(), steps, { maxConcurrentRuns: 5 })[0]).toMatchObject({ vcpu: 40, countedRuns: 5 });
    // a Map of Lambda tasks (taxi ingest) runs no job
    expect(concurrentGroups({ States: { M: { Type: 'Map', MaxConcurrency: 2, ItemProcessor: { States: { L: { Type: 'Task', Resource: 'arn:aws:states:::lambda:invoke' } } } } } }, steps)).toEqual([]);
  });

  test('a job-run state without a plan step fails instead of being skipped', () => {
    expect(() => concurrentGroups({ States: { 'Run zz': run() } }, steps)).toThrow(/state "Run zz" starts an EMR Serverless job run, but no plan step matches it/);
  });

  test('worst case per job run = driver + maxExecutors × executor cores; maximumCapacity.cpu must be vCPU', () => {
    expect(jobRunVcpu({ driverCores: 4, executorCores: 4, maxExecutors: 20 })).toBe(84);
    expect(parseVcpu('32 vCPU')).toBe(32);
    expect(parseVcpu('200vCPU')).toBe(200);
    expect(() => parseVcpu('100 GB')).toThrow(/maximumCapacity\.cpu: "100 GB" is not a vCPU amount/);
  });
});
