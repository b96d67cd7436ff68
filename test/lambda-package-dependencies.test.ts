import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  CopyObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  NoSuchKey,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { sdkStreamMixin } from '@smithy/core/serde';
import { mockClient } from 'aws-sdk-client-mock';
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { createHandler, PackageDependenciesProperties } from '../lambda/package-dependencies/index';
import { Manifest, serializeManifest } from '../lib/jobs/manifest';
import { fixtureManifest } from './fixtures/job-manifest';

const s3 = mockClient(S3Client);
const handler = createHandler(new S3Client({ region: 'eu-west-1' }));
// As S3 answers the role the template gives this function (s3:GetObject + s3:ListBucket on artifacts/ and
// manifests/): a missing key is 404 — HeadObject `NotFound` (no body), GetObject `NoSuchKey`. Without ListBucket (or
// on a real denial) it is 403 — HeadObject `Forbidden`, GetObject `AccessDenied`. test/jobs-artifacts-construct.test.ts
// runs the handler under the synthesized role against an S3 that applies this rule.
const notFound = () => new S3ServiceException({ name: 'NotFound', $fault: 'client', $metadata: { httpStatusCode: 404 }, message: 'Not Found' });
const forbidden = () => new S3ServiceException({ name: 'Forbidden', $fault: 'client', $metadata: { httpStatusCode: 403 }, message: 'Forbidden' });
const accessDenied = () => new S3ServiceException({ name: 'AccessDenied', $fault: 'client', $metadata: { httpStatusCode: 403 }, message: 'Access Denied' });
const b64 = (hex: string) => Buffer.from(hex, 'hex').toString('base64');

function props(manifest: Manifest, removalPolicy: 'retain' | 'destroy' = 'destroy'): PackageDependenciesProperties {
  const text = serializeManifest(manifest);
  return {
    ArtifactsBucket: 'dev-artifacts-bucket',
    Manifest: text,
    ManifestSha256: createHash('sha256').update(text).digest('hex'),
    Sources: manifest.artifacts.map((a) => ({ File: a.file, SourceBucket: 'cdk-assets-bucket', SourceKey: `${a.sha256}.${a.file.split('.').pop()}` })),
    RemovalPolicy: removalPolicy,
  };
}

function event(type: 'Create' | 'Update' | 'Delete', p: PackageDependenciesProperties, old?: PackageDependenciesProperties): CloudFormationCustomResourceEvent {
  const base = {
    ServiceToken: 'arn:aws:lambda:eu-west-1:123456789012:function:provider',
    ResponseURL: 'https://example.invalid/response',
    StackId: 'arn:aws:cloudformation:eu-west-1:123456789012:stack/dev/1',
    RequestId: 'r1',
    LogicalResourceId: 'JobArtifacts',
    ResourceType: 'Custom::JobArtifacts',
    ResourceProperties: { ServiceToken: 'x', ...p },
  };
  if (type === 'Create') return { ...base, RequestType: 'Create' };
  if (type === 'Update') return { ...base, RequestType: 'Update', PhysicalResourceId: 'dev-artifacts-bucket/manifests', OldResourceProperties: { ServiceToken: 'x', ...old } as never };
  return { ...base, RequestType: 'Delete', PhysicalResourceId: 'dev-artifacts-bucket/manifests' };
}

/** The fixture manifest with a new python-deps archive (what a requirements change produces). */
const updatedManifest: Manifest = {
  ...fixtureManifest,
  artifacts: fixtureManifest.artifacts.map((a) =>
    a.kind === 'python-deps' ? { ...a, sha256: 'e'.repeat(64), key: `artifacts/${'e'.repeat(64)}/python-deps.tar.gz` } : a,
  ),
};

describe('package-dependencies custom resource', () => {
  beforeEach(() => {
    s3.reset();
    s3.on(CopyObjectCommand).callsFake((input: { Key: string }) => ({ CopyObjectResult: { ChecksumSHA256: b64(input.Key.split('/')[1]) } }));
    s3.on(PutObjectCommand).resolves({});
  });

  it('Create copies every artifact to its content-addressed key, then writes the manifest and the pointer last', async () => {
    s3.on(HeadObjectCommand).rejects(notFound());
    const p = props(fixtureManifest);
    const result = await handler(event('Create', p));
    expect(result).toEqual({
      PhysicalResourceId: 'dev-artifacts-bucket/manifests',
      Data: { ManifestKey: `manifests/${p.ManifestSha256}.json`, ManifestSha256: p.ManifestSha256, CurrentManifestKey: 'manifests/current.json' },
    });
    const copies = s3.commandCalls(CopyObjectCommand).map((c) => c.args[0].input);
    expect(copies.map((c) => c.Key).sort()).toEqual(fixtureManifest.artifacts.map((a) => a.key).sort());
    const deps = copies.find((c) => c.Key!.endsWith('python-deps.tar.gz'))!;
    expect(deps).toMatchObject({
      Bucket: 'dev-artifacts-bucket',
      CopySource: `cdk-assets-bucket/${'a'.repeat(64)}.gz`,
      Metadata: { sha256: 'a'.repeat(64) },
      ChecksumAlgorithm: 'SHA256',
    });
    const puts = s3.commandCalls(PutObjectCommand).map((c) => c.args[0].input);
    expect(puts.map((x) => x.Key)).toEqual([`manifests/${p.ManifestSha256}.json`, 'manifests/current.json']);
    expect(puts[1].Body).toBe(p.Manifest);
    expect(s3.commandCalls(DeleteObjectsCommand)).toHaveLength(0);
  });

  it('skips artifacts already published with the same hash (re-deploys copy nothing)', async () => {
    s3.on(HeadObjectCommand).callsFake((input: { Key: string }) => ({ Metadata: { sha256: input.Key.split('/')[1] } }));
    await handler(event('Create', props(fixtureManifest)));
    expect(s3.commandCalls(CopyObjectCommand)).toHaveLength(0);
    expect(s3.commandCalls(PutObjectCommand)).toHaveLength(2);
  });

  it('Update publishes only the changed artifact, moves the pointer, keeps the same physical id and deletes nothing', async () => {
    s3.on(HeadObjectCommand).callsFake((input: { Key: string }) => {
      if (input.Key.includes('e'.repeat(64))) throw notFound();
      return { Metadata: { sha256: input.Key.split('/')[1] } };
    });
    const oldProps = props(fixtureManifest);
    const newProps = props(updatedManifest);
    const result = await handler(event('Update', newProps, oldProps));
    expect(result.PhysicalResourceId).toBe('dev-artifacts-bucket/manifests');
    expect(s3.commandCalls(CopyObjectCommand).map((c) => c.args[0].input.Key)).toEqual([`artifacts/${'e'.repeat(64)}/python-deps.tar.gz`]);
    expect(s3.commandCalls(PutObjectCommand).map((c) => c.args[0].input.Key)).toEqual([`manifests/${newProps.ManifestSha256}.json`, 'manifests/current.json']);
    // The previous archive (artifacts/aaaa…/python-deps.tar.gz) stays for jobs that started from the old manifest.
    expect(s3.commandCalls(DeleteObjectsCommand)).toHaveLength(0);
  });

  it('fails the deployment when a copied object does not have the manifest hash (and removes it)', async () => {
    s3.on(HeadObjectCommand).rejects(notFound());
    s3.on(CopyObjectCommand).resolves({ CopyObjectResult: { ChecksumSHA256: b64('0'.repeat(64)) } });
    s3.on(DeleteObjectsCommand).resolves({});
    await expect(handler(event('Create', props(fixtureManifest)))).rejects.toThrow(/uploaded content has SHA-256 0{64}, manifest says/);
    expect(s3.commandCalls(PutObjectCommand)).toHaveLength(0); // the pointer never moves to a broken manifest
  });

  it('rejects a manifest that does not match its declared hash', async () => {
    const p = { ...props(fixtureManifest), ManifestSha256: 'f'.repeat(64) };
    await expect(handler(event('Create', p))).rejects.toThrow(/ResourceProperties\.Manifest: SHA-256 [0-9a-f]{64} does not match ManifestSha256/);
  });

  it('fails Create/Update with the synth-time message when artifacts were not built, but lets Delete succeed', async () => {
    const missing: PackageDependenciesProperties = {
      ArtifactsBucket: 'dev-artifacts-bucket',
      RemovalPolicy: 'destroy',
      MissingArtifacts: 'artifacts/manifest.json not found: run `npm run package` before `cdk deploy`',
    };
    await expect(handler(event('Create', missing))).rejects.toThrow('run `npm run package` before `cdk deploy`');
    await expect(handler(event('Delete', missing))).resolves.toEqual({ PhysicalResourceId: 'dev-artifacts-bucket/manifests' });
    expect(s3.calls()).toHaveLength(0);
  });

  it('Delete with removal policy retain keeps everything', async () => {
    await handler(event('Delete', props(fixtureManifest, 'retain')));
    expect(s3.calls()).toHaveLength(0);
  });

  it('Delete with removal policy destroy removes this manifest and its artifacts when the pointer is still ours', async () => {
    const p = props(fixtureManifest);
    s3.on(GetObjectCommand, { Key: 'manifests/current.json' }).resolves({ Body: sdkStreamMixin(Readable.from([Buffer.from(p.Manifest!)])) });
    s3.on(DeleteObjectsCommand).resolves({});
    await handler(event('Delete', p));
    const deleted = s3.commandCalls(DeleteObjectsCommand).flatMap((c) => c.args[0].input.Delete!.Objects!.map((o) => o.Key));
    expect(deleted.sort()).toEqual([...fixtureManifest.artifacts.map((a) => a.key), `manifests/${p.ManifestSha256}.json`, 'manifests/current.json'].sort());
  });

  it('Delete with destroy touches nothing when a newer deployment owns the pointer', async () => {
    const newer = props(updatedManifest);
    s3.on(GetObjectCommand, { Key: 'manifests/current.json' }).resolves({ Body: sdkStreamMixin(Readable.from([Buffer.from(newer.Manifest!)])) });
    await handler(event('Delete', props(fixtureManifest)));
    expect(s3.commandCalls(DeleteObjectsCommand)).toHaveLength(0);
  });

  it('Delete with destroy succeeds when nothing was ever published', async () => {
    s3.on(GetObjectCommand).rejects(new NoSuchKey({ $metadata: { httpStatusCode: 404 }, message: 'no key' }));
    await expect(handler(event('Delete', props(fixtureManifest)))).resolves.toEqual({ PhysicalResourceId: 'dev-artifacts-bucket/manifests' });
    expect(s3.commandCalls(DeleteObjectsCommand)).toHaveLength(0);
  });

  it('the rollback Delete of a failed first deploy (physical id <logical id>-failed-create, nothing published) succeeds', async () => {
    s3.on(GetObjectCommand).rejects(new NoSuchKey({ $metadata: { httpStatusCode: 404 }, message: 'no key' }));
    const rollback = { ...event('Delete', props(fixtureManifest)), PhysicalResourceId: 'JobArtifacts-failed-create' } as CloudFormationCustomResourceEvent;
    await expect(handler(rollback)).resolves.toEqual({ PhysicalResourceId: 'JobArtifacts-failed-create' });
    expect(s3.commandCalls(DeleteObjectsCommand)).toHaveLength(0);
  });

  it('a 403 on HeadObject is an error naming the key and s3:ListBucket, never "not published yet"', async () => {
    s3.on(HeadObjectCommand).rejects(forbidden());
    await expect(handler(event('Create', props(fixtureManifest)))).rejects.toThrow(
      /^HeadObject s3:\/\/dev-artifacts-bucket\/artifacts\/[0-9a-f]{64}\/[^ ]+: AccessDenied \(HTTP 403\)\. .*s3:ListBucket/,
    );
    expect(s3.commandCalls(CopyObjectCommand)).toHaveLength(0);
    expect(s3.commandCalls(PutObjectCommand)).toHaveLength(0); // the pointer never moves
  });

  it('a 403 on manifests/current.json fails Delete instead of skipping the clean-up', async () => {
    s3.on(GetObjectCommand).rejects(accessDenied());
    await expect(handler(event('Delete', props(fixtureManifest)))).rejects.toThrow(
      /^GetObject s3:\/\/dev-artifacts-bucket\/manifests\/current\.json: AccessDenied \(HTTP 403\)/,
    );
    expect(s3.commandCalls(DeleteObjectsCommand)).toHaveLength(0);
  });

  it('other S3 errors pass through unchanged', async () => {
    s3.on(HeadObjectCommand).rejects(new S3ServiceException({ name: 'SlowDown', $fault: 'server', $metadata: { httpStatusCode: 503 }, message: 'Please reduce your request rate.' }));
    await expect(handler(event('Create', props(fixtureManifest)))).rejects.toMatchObject({ name: 'SlowDown' });
  });
});

describe('CloudFormation response', () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { cfnResponder } = require('../lambda/shared/cfn-response') as typeof import('../lambda/shared/cfn-response');

  it('reports SUCCESS with the physical id and data, and FAILED with the error message', async () => {
    const sent: Array<{ url: string; body: Record<string, unknown> }> = [];
    const put = async (url: string, body: string) => {
      sent.push({ url, body: JSON.parse(body) });
    };
    const ok = cfnResponder(async () => ({ PhysicalResourceId: 'pid', Data: { ManifestKey: 'manifests/x.json' } }), put);
    const failing = cfnResponder(async () => {
      throw new Error('Job artifacts are not built: run `npm run package` before `cdk deploy`.');
    }, put);
    const created = event('Create', props(fixtureManifest));
    await ok(created, { logStreamName: 'stream-1' });
    await failing(created, { logStreamName: 'stream-1' });
    expect(sent[0]).toEqual({
      url: 'https://example.invalid/response',
      body: { Status: 'SUCCESS', PhysicalResourceId: 'pid', Data: { ManifestKey: 'manifests/x.json' }, StackId: created.StackId, RequestId: 'r1', LogicalResourceId: 'JobArtifacts' },
    });
    expect(sent[1].body).toMatchObject({
      Status: 'FAILED',
      Reason: 'Job artifacts are not built: run `npm run package` before `cdk deploy`. (log stream stream-1)',
      PhysicalResourceId: 'JobArtifacts-failed-create',
    });
  });
});
