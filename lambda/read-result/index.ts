import { GetObjectCommand, NoSuchKey, S3Client } from '@aws-sdk/client-s3';
import * as z from 'zod';
import { createLogger, parseEvent, parseS3Uri, ValidationError } from '../shared/handler-kit';

/**
 * Reads a job's result JSON where the state machine decides on it.
 * Input `{resultUri, require?: ["decision.retrain", …]}` → the parsed result.
 * Missing result, unparsable JSON, `status` FAILED, or a missing required key → `JobResultError`.
 *
 * Environment: `LAKE_BUCKET` (results must live under `s3://<LAKE_BUCKET>/runs/`).
 */
const logger = createLogger('read-result');
const s3 = new S3Client({});

export class JobResultError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JobResultError';
  }
}

const EventSchema = z.object({
  resultUri: z.string(),
  require: z.array(z.string().regex(/^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$/, 'must be a dotted key path')).optional(),
});

const ResultSchema = z
  .object({
    job: z.string(),
    status: z.enum(['SUCCEEDED', 'FAILED']),
    error: z.unknown().optional(),
  })
  .passthrough();

function lookup(value: unknown, dotted: string): unknown {
  return dotted.split('.').reduce<unknown>((v, k) => (v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined), value);
}

export async function handler(event: unknown): Promise<Record<string, unknown>> {
  const { resultUri, require = [] } = parseEvent(EventSchema, event);
  const { bucket, key } = parseS3Uri(resultUri, 'event.resultUri');
  const lake = process.env.LAKE_BUCKET;
  if (lake && (bucket !== lake || !key.startsWith('runs/'))) {
    throw new ValidationError(`Invalid event.resultUri: results live under s3://${lake}/runs/, got ${resultUri}`);
  }

  let body: string;
  try {
    const response = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    body = (await response.Body?.transformToString('utf-8')) ?? '';
  } catch (error) {
    if (error instanceof NoSuchKey || (error as { name?: string }).name === 'NoSuchKey') {
      throw new JobResultError(`No job result at ${resultUri}: the job ended without writing its result`);
    }
    throw error;
  }

  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new JobResultError(`Job result at ${resultUri} is not valid JSON`);
  }
  const parsed = ResultSchema.safeParse(json);
  if (!parsed.success) {
    throw new JobResultError(`Job result at ${resultUri} is malformed: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  const result = parsed.data;
  if (result.status === 'FAILED') {
    const detail = typeof result.error === 'string' ? result.error : JSON.stringify(result.error ?? null);
    throw new JobResultError(`Job ${result.job} FAILED (${resultUri}): ${detail}`);
  }
  const missing = require.filter((path) => lookup(result, path) === undefined || lookup(result, path) === null);
  if (missing.length > 0) {
    throw new JobResultError(`Job result at ${resultUri} lacks ${missing.join(', ')}`);
  }
  logger.info('job result read', { resultUri, job: result.job, status: result.status });
  return result;
}
