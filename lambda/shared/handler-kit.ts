import { Logger } from '@aws-lambda-powertools/logger';
import type * as z from 'zod';
import { ValidationError, parseOrThrow } from '../../lib/pipelines/common';

/**
 * Small shared pieces of the pipeline handlers: a Powertools logger, zod event validation that raises
 * `ValidationError` naming the field, and S3 URI parsing.
 */

export { ValidationError };

export function createLogger(serviceName: string): Logger {
  return new Logger({ serviceName, logLevel: (process.env.POWERTOOLS_LOG_LEVEL as 'INFO' | undefined) ?? 'INFO' });
}

/** Validate a handler event; errors name the field as `event.<path>`. */
export function parseEvent<S extends z.ZodType>(schema: S, event: unknown): z.output<S> {
  return parseOrThrow(schema, event, 'event');
}

export interface S3Location {
  readonly bucket: string;
  readonly key: string;
}

/** `s3://bucket/key` → `{bucket, key}`; throws ValidationError naming `field` otherwise. */
export function parseS3Uri(uri: string, field: string): S3Location {
  const match = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])\/(.+)$/.exec(uri);
  if (!match) throw new ValidationError(`Invalid ${field}: "${uri}" is not an s3://bucket/key URI`);
  return { bucket: match[1]!, key: match[2]! };
}

/** Read a required environment variable; a missing one is a deployment error, named. */
export function requireEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`Missing environment variable ${name}`);
  return value;
}
