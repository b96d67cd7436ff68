import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { LocalLayout, parseS3Uri } from '../layout';

/**
 * The runner's own access to the browseable S3 tree (`.local/s3/<bucket>/<key>`, the S3 store's filesystem
 * backend): reading what a run produced for summaries and reports, and placing files atomically (temporary file +
 * rename) where the store serves them. Callers that act as an AWS principal go through the local endpoint instead.
 */
export function readLocalObject(layout: LocalLayout, uri: string): Buffer {
  const { bucket, key } = parseS3Uri(uri);
  return readFileSync(layout.objectPath(bucket, key));
}

export function writeLocalObject(layout: LocalLayout, uri: string, data: string | Buffer): void {
  const { bucket, key } = parseS3Uri(uri);
  writeAtomic(layout.objectPath(bucket, key), Buffer.isBuffer(data) ? data : Buffer.from(data));
}

export function writeAtomic(file: string, data: Buffer): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = path.join(path.dirname(file), `.tmp-${path.basename(file)}-${process.pid}-${randomUUID().slice(0, 8)}`);
  writeFileSync(tmp, data);
  renameSync(tmp, file);
}
