import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import * as z from 'zod';
import { isPromotablePointerKey, PROMOTABLE_POINTER_KEYS } from '../../lib/pipelines/common';
import { createLogger, parseEvent, parseS3Uri, requireEnv, ValidationError } from '../shared/handler-kit';

/**
 * Promotes a model: `{modelUri, pointerUri, metrics, execution}` → writes the pointer JSON
 * `{version, modelUri, path, metrics, promotedAt, promotedBy}` with one PUT (atomic replace) and returns it.
 * The pointer must be one the role may write (`PROMOTABLE_POINTER_KEYS`: `recommender|topic/current.json`, or
 * `smoke/<id>/recommender/current.json` of a namespaced smoke run) in the models bucket, and the model a version
 * of that family (`<family>/versions/<version>`, e.g. `smoke/<id>/recommender/versions/<v>`), so a bad input cannot
 * point production at an arbitrary object nor a smoke run at the stage's model.
 *
 * Environment: `MODELS_BUCKET`.
 */
const logger = createLogger('promote-model');
const s3 = new S3Client({});

const EventSchema = z.object({
  modelUri: z.string(),
  pointerUri: z.string(),
  metrics: z.record(z.string(), z.unknown()),
  execution: z
    .object({ id: z.string().optional(), name: z.string().optional(), stateMachine: z.string().optional() })
    .passthrough()
    .optional(),
});

export interface ModelPointer {
  readonly version: string;
  readonly modelUri: string;
  readonly path: string;
  readonly metrics: Record<string, unknown>;
  readonly promotedAt: string;
  readonly promotedBy: { readonly executionId?: string; readonly executionName?: string; readonly stateMachine?: string };
}

/** The promotion, with an injectable clock (the Lambda runtime passes a context as the 2nd handler argument). */
export async function promote(event: unknown, now: () => Date): Promise<ModelPointer> {
  const input = parseEvent(EventSchema, event);
  const modelsBucket = requireEnv('MODELS_BUCKET');
  const pointer = parseS3Uri(input.pointerUri, 'event.pointerUri');
  const model = parseS3Uri(input.modelUri.replace(/\/+$/, ''), 'event.modelUri');
  const family = /^(.+)\/current\.json$/.exec(pointer.key)?.[1];
  if (pointer.bucket !== modelsBucket || !family || !isPromotablePointerKey(pointer.key)) {
    throw new ValidationError(
      `Invalid event.pointerUri: must be s3://${modelsBucket}/<pointer> with <pointer> one of ${PROMOTABLE_POINTER_KEYS.join(', ')} (* = a namespace id), got ${input.pointerUri}`,
    );
  }
  const version = new RegExp(`^${family.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/versions/([^/]+)$`).exec(model.key)?.[1];
  if (model.bucket !== modelsBucket || !version) {
    throw new ValidationError(`Invalid event.modelUri: must be s3://${modelsBucket}/${family}/versions/<version>, got ${input.modelUri}`);
  }
  const modelUri = `s3://${model.bucket}/${model.key}`;
  const body: ModelPointer = {
    version,
    modelUri,
    path: modelUri,
    metrics: input.metrics,
    promotedAt: now().toISOString(),
    promotedBy: {
      executionId: input.execution?.id,
      executionName: input.execution?.name,
      stateMachine: input.execution?.stateMachine,
    },
  };
  await s3.send(
    new PutObjectCommand({
      Bucket: pointer.bucket,
      Key: pointer.key,
      Body: JSON.stringify(body),
      ContentType: 'application/json',
    }),
  );
  logger.info('model promoted', { pointerUri: input.pointerUri, version, modelUri });
  return body;
}

export async function handler(event: unknown): Promise<ModelPointer> {
  return promote(event, () => new Date());
}
