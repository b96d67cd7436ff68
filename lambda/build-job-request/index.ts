import { S3Client } from '@aws-sdk/client-s3';
import { Logger } from '@aws-lambda-powertools/logger';
import { buildJobRequest, StartJobRunRequest } from '../../lib/jobs/job-request-builder';
import { ManifestCache, readJobRunEnvironment } from '../shared/job-run-context';

/**
 * Called by the pipeline state machines before each `emr-serverless:startJobRun.sync` task:
 * `{job, step, args, overrides?, execution}` → the StartJobRun request (PascalCase) the task passes on.
 * Invalid input fails with error name `ValidationError` and a message naming the field.
 */
export interface BuildJobRequestEvent {
  job: string;
  step: string;
  args?: Record<string, unknown>;
  overrides?: unknown;
  execution: { id: string; name: string; stateMachine?: string };
}

const logger = new Logger({ serviceName: 'build-job-request' });

/** A handler with its own manifest cache (one per container in Lambda; one per test). */
export function createHandler(s3: S3Client = new S3Client({})) {
  const manifests = new ManifestCache(s3);
  return (event: BuildJobRequestEvent) => buildRequest(event, manifests);
}

export const handler = createHandler();

async function buildRequest(event: BuildJobRequestEvent, manifests: ManifestCache): Promise<StartJobRunRequest> {
  const { env, manifestKey } = readJobRunEnvironment();
  if (!event || typeof event !== 'object') {
    throw Object.assign(new Error('Invalid job request: event must be an object {job, step, args, execution}'), { name: 'ValidationError' });
  }
  const manifest = await manifests.get(env.artifactsBucket, manifestKey);
  const request = buildJobRequest({
    job: event.job,
    step: event.step,
    args: event.args,
    overrides: event.overrides,
    execution: event.execution,
    manifest,
    env,
  });
  // Arguments are URIs and tuning values only (secrets travel as Secrets Manager ARNs), so logging them is safe.
  logger.info('job request built', { job: event.job, step: event.step, name: request.Name, clientToken: request.ClientToken });
  return request;
}
