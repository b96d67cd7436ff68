import { ExecutionError, StateMachine } from 'aws-local-stepfunctions';
import { planFor } from '../lib/pipelines';
import { planEnvironmentFor } from '../lib/pipelines/common';
import { parseStageConfig } from '../lib/config/stage-config';
import { decide } from '../lambda/evaluation-gate';
import { definitions, synthPlatform } from './support/cdk-platform';

/**
 * Runs the synthesized drift-retrain definition (the ASL cdk deploy ships) with aws-local-stepfunctions; Lambda
 * and EMR tasks are replaced by local handlers: the plan and the gate run for real, Spark steps return results.
 */
const { template } = synthPlatform('dev');
const drift = definitions(template)['drift-retrain'];
const env = planEnvironmentFor(parseStageConfig('dev', {}), { lakeBucket: 'lake-bucket', modelsBucket: 'models-bucket' });

function runDrift(input: unknown, retrain: boolean, candidateRmse = 0.9) {
  const visited: string[] = [];
  const record = (name: string, fn: (i: any) => unknown) => (i: any) => {
    visited.push(name);
    return fn(i) as any;
  };
  const spark = (step: string, result: Record<string, unknown>) => ({
    [`Build ${step} request`]: record(`Build ${step} request`, (i) => ({ ApplicationId: 'app', Name: i.step, ClientToken: 't', ExecutionRoleArn: 'r', ExecutionTimeoutMinutes: 120, JobDriver: {}, ConfigurationOverrides: {}, Tags: {} })),
    [`Run ${step}`]: record(`Run ${step}`, () => ({ jobRunId: `${step}-run`, state: 'SUCCESS' })),
    [`Read ${step} result`]: record(`Read ${step} result`, () => ({ job: step, status: 'SUCCEEDED', ...result })),
  });
  const handlers = {
    'Validate input': record('Validate input', (i) => planFor(i.pipeline, i.input, env, i.execution)),
    ...spark('drift-process', { outputs: { staging: 's3://lake-bucket/silver/netflix/stream/staging/' } }),
    ...spark('drift-detect', { decision: { retrain, score: retrain ? 1.7 : 0.2, reasons: retrain ? ['kl'] : [], metrics: {} } }),
    ...spark('drift-merge', { outputs: {} }),
    ...spark('train', { outputs: { model: 's3://models-bucket/recommender/versions/v2' } }),
    ...spark('evaluate', { metrics: { rmse: candidateRmse }, currentModelMetrics: { rmse: 0.95 } }),
    'Evaluation gate': record('Evaluation gate', (i) => decide(i.evaluation.metrics.rmse, i.evaluation.currentModelMetrics?.rmse ?? null, i.rmseMargin)),
    'Promote model': record('Promote model', (i) => ({ version: 'v2', modelUri: i.modelUri })),
    'Notify failure': record('Notify failure', () => ({})),
  };
  const machine = new StateMachine(drift as any, { validationOptions: { noValidate: false } } as any);
  const context = {
    Execution: { Id: 'arn:aws:states:us-east-1:123456789012:execution:emr-ml-dev-drift-retrain:run-1', Name: 'run-1', StartTime: '2026-11-21T06:00:00Z' },
    StateMachine: { Id: 'arn:aws:states:us-east-1:123456789012:stateMachine:emr-ml-dev-drift-retrain', Name: 'emr-ml-dev-drift-retrain' },
  };
  const execution = machine.run(input as any, { overrides: { taskResourceLocalHandlers: handlers as any }, context: context as any });
  return { visited, result: execution.result };
}

describe('drift-retrain executes as synthesized', () => {
  test('drift detected → merge, train, evaluate, gate, promote the new model', async () => {
    const { visited, result } = runDrift({ klThreshold: 0.05 }, true);
    const output: any = await result;
    expect(visited).toEqual(
      expect.arrayContaining(['Run drift-merge', 'Run train', 'Run evaluate', 'Evaluation gate', 'Promote model']),
    );
    expect(output.gate.promote).toBe(true);
    expect(output.promotion).toEqual({ version: 'v2', modelUri: 's3://models-bucket/recommender/versions/v2' });
    expect(output.plan.steps.driftDetect.args.klThreshold).toBe(0.05);
  });

  test('no drift → no merge/train; ends with the no-drift report', async () => {
    const { visited, result } = runDrift({}, false);
    const output: any = await result;
    expect(visited).not.toContain('Run drift-merge');
    expect(visited).not.toContain('Run train');
    expect(output).toEqual({
      status: 'NO_DRIFT',
      decision: { retrain: false, score: 0.2, reasons: [], metrics: {} },
      detectResultUri: expect.stringMatching(/^s3:\/\/lake-bucket\/runs\/emr-ml-dev-drift-retrain\/run-1\/drift-detect\.json$/),
    });
  });

  test('gate rejects a worse model → not promoted', async () => {
    const { visited, result } = runDrift({}, true, 1.2);
    const output: any = await result;
    expect(visited).not.toContain('Promote model');
    expect(output.gate).toMatchObject({ promote: false, candidateRmse: 1.2, currentRmse: 0.95 });
  });

  test('invalid execution input → ValidationError naming the field, via the failure path', async () => {
    const { visited, result } = runDrift({ testFraction: 2 }, true);
    await expect(result).rejects.toBeInstanceOf(ExecutionError);
    await expect(result).rejects.toThrow(/input\.testFraction/);
    expect(visited).toEqual(['Validate input', 'Notify failure']);
  });
});
