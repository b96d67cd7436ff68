import { mkdirSync } from 'node:fs';
import * as path from 'node:path';

/**
 * Where the local runner keeps everything it produces. One root (default `<repo>/.local`):
 *
 * | path | what |
 * |---|---|
 * | `s3/<bucket>/<key>` | the object `s3://<bucket>/<key>` (every bucket of the synthesized app) |
 * | `logs/<execution>/<NN>-<state>.log` | Spark driver output / Lambda logs of one task state |
 * | `alerts.jsonl` | one JSON line per SNS publish (the alerts topic) |
 * | `cdk.out/` | the cloud assembly the runner synthesized |
 * | `executions/<state machine>/<execution>.json` | execution record (input, output, every state's status and duration) |
 * | `report.html` | the demo report |
 */
export class LocalLayout {
  readonly root: string;
  readonly s3Root: string;
  readonly logsRoot: string;
  readonly alertsFile: string;
  readonly cloudAssemblyDir: string;
  readonly executionsRoot: string;
  readonly reportFile: string;

  constructor(root: string = path.resolve('.local')) {
    this.root = path.resolve(root);
    this.s3Root = path.join(this.root, 's3');
    this.logsRoot = path.join(this.root, 'logs');
    this.alertsFile = path.join(this.root, 'alerts.jsonl');
    this.cloudAssemblyDir = path.join(this.root, 'cdk.out');
    this.executionsRoot = path.join(this.root, 'executions');
    this.reportFile = path.join(this.root, 'report.html');
  }

  ensure(): this {
    for (const dir of [this.root, this.s3Root, this.logsRoot, this.executionsRoot]) mkdirSync(dir, { recursive: true });
    return this;
  }

  /** Local directory of a bucket. */
  bucketDir(bucket: string): string {
    assertBucketName(bucket);
    return path.join(this.s3Root, bucket);
  }

  /** Local path of `s3://<bucket>/<key>` (the key may be empty for the bucket root, or a prefix). */
  objectPath(bucket: string, key: string): string {
    const dir = this.bucketDir(bucket);
    const target = path.resolve(dir, key);
    if (target !== dir && !target.startsWith(dir + path.sep)) {
      throw new Error(`S3 key "${key}" escapes bucket "${bucket}"`);
    }
    return target;
  }

  /** `s3://bucket/key` (also `s3a://`) → local absolute path. */
  uriToPath(uri: string): string {
    const { bucket, key } = parseS3Uri(uri);
    return this.objectPath(bucket, key);
  }

  /** Local path under the S3 root → `s3://bucket/key`; undefined when the path is not in the tree. */
  pathToUri(localPath: string): string | undefined {
    const abs = path.resolve(localPath);
    if (!abs.startsWith(this.s3Root + path.sep)) return undefined;
    const rel = abs.slice(this.s3Root.length + 1).split(path.sep);
    const [bucket, ...key] = rel;
    return `s3://${bucket}/${key.join('/')}`;
  }
}

export function parseS3Uri(uri: string): { bucket: string; key: string } {
  const match = /^s3a?:\/\/([^/]+)\/?(.*)$/.exec(uri);
  if (!match) throw new Error(`Not an S3 URI: "${uri}" (expected s3://bucket/key)`);
  return { bucket: match[1], key: match[2] };
}

function assertBucketName(bucket: string): void {
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) throw new Error(`Invalid bucket name "${bucket}"`);
}
