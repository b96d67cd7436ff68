/**
 * The local AWS endpoint over the S3 store (S3Proxy, filesystem backend), as an SDK client sees it over HTTPS:
 * callers identified by their access key, every request authorized first, a missing key 404 only for a caller
 * that may list it (else 403), directory markers as S3 keeps them, uploads in the SDK's aws-chunked encoding.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as https from 'node:https';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { DeleteObjectsCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { AwsCall, AwsEndpoint, Denial } from '../local/endpoint/aws-endpoint';
import { LocalCredentials } from '../local/endpoint/credentials';
import { directoryOf, pruneEmptyDirectories } from '../local/endpoint/local-aws';
import { loopbackCertificate } from '../local/endpoint/tls';
import { LocalLayout } from '../local/layout';
import { S3ProxyServer } from '../local/s3/s3proxy-server';

const projectRoot = path.resolve(__dirname, '..');
jest.setTimeout(120_000);

let root: string;
let layout: LocalLayout;
let store: S3ProxyServer;
let endpoint: AwsEndpoint;
let s3: S3Client;
let anonymous: S3Client;
const calls: AwsCall[] = [];
const policy = { deniedKeys: new Set<string>(), mayList: true };

beforeAll(async () => {
  root = mkdtempSync(path.join(tmpdir(), 'endpoint-test-'));
  layout = new LocalLayout(root).ensure();
  store = await S3ProxyServer.start({ s3Root: layout.s3Root, projectRoot, stateDir: path.join(root, 's3proxy') });
  const certificate = loopbackCertificate(path.join(projectRoot, '.cache', 'local-tls'));
  const credentials = new LocalCredentials();
  const me = credentials.for('arn:aws:iam::000000000000:role/test-role');
  const deny = async (call: AwsCall): Promise<Denial | undefined> => {
    calls.push(call);
    const key = String(call.params.Key ?? '');
    if (!policy.deniedKeys.has(key)) return undefined;
    return { action: 's3:GetObject', resource: `arn:aws:s3:::bkt/${key}`, message: `User: ${call.credential.callerArn} is not authorized to perform: s3:GetObject on resource: "arn:aws:s3:::bkt/${key}"` };
  };
  endpoint = await AwsEndpoint.start({
    certificate,
    credentials,
    s3Store: store.endpoint,
    authorizer: { deny, mayList: async () => policy.mayList },
    directory: directoryOf(layout),
    pruneEmptyDirectories: pruneEmptyDirectories(layout),
  });
  const requestHandler = { httpsAgent: new https.Agent({ ca: certificate.caPem }) };
  s3 = new S3Client({ region: 'us-east-1', endpoint: endpoint.url, forcePathStyle: true, credentials: me, requestHandler });
  anonymous = new S3Client({ region: 'us-east-1', endpoint: endpoint.url, forcePathStyle: true, credentials: { accessKeyId: 'AKIAUNKNOWN', secretAccessKey: 'x' }, requestHandler });
  mkdirSync(layout.bucketDir('bkt'), { recursive: true });
});

afterAll(async () => {
  s3?.destroy();
  anonymous?.destroy();
  await endpoint?.close();
  store?.stop();
  rmSync(root, { recursive: true, force: true });
});

beforeEach(() => {
  policy.deniedKeys.clear();
  policy.mayList = true;
  calls.length = 0;
});

it('stores an upload (aws-chunked with a checksum trailer, the SDK default over TLS) as the plain file of the tree', async () => {
  await s3.send(new PutObjectCommand({ Bucket: 'bkt', Key: 'a/b.json', Body: '{"ok":true}' }));
  expect(readFileSync(layout.objectPath('bkt', 'a/b.json'), 'utf8')).toBe('{"ok":true}');
  const got = await s3.send(new GetObjectCommand({ Bucket: 'bkt', Key: 'a/b.json' }));
  expect(await got.Body!.transformToString()).toBe('{"ok":true}');
  expect(calls.map((c) => [c.operation, c.credential.principalArn, c.secureTransport])).toEqual([
    ['PutObject', 'arn:aws:iam::000000000000:role/test-role', true],
    ['GetObject', 'arn:aws:iam::000000000000:role/test-role', true],
  ]);
});

it('a denied request is 403 AccessDenied with the message naming caller, action and resource', async () => {
  policy.deniedKeys.add('a/b.json');
  await expect(s3.send(new GetObjectCommand({ Bucket: 'bkt', Key: 'a/b.json' }))).rejects.toMatchObject({
    name: 'AccessDenied',
    $metadata: { httpStatusCode: 403 },
    message: 'User: arn:aws:sts::000000000000:assumed-role/test-role/local is not authorized to perform: s3:GetObject on resource: "arn:aws:s3:::bkt/a/b.json"',
  });
});

it('an unknown access key is 403 InvalidAccessKeyId, before any authorization', async () => {
  await expect(anonymous.send(new GetObjectCommand({ Bucket: 'bkt', Key: 'a/b.json' }))).rejects.toMatchObject({ name: 'InvalidAccessKeyId', $metadata: { httpStatusCode: 403 } });
  expect(calls).toHaveLength(0);
});

it('a missing key is 404 to a caller that may list the bucket, 403 to one that may not', async () => {
  await expect(s3.send(new GetObjectCommand({ Bucket: 'bkt', Key: 'nope' }))).rejects.toMatchObject({ name: 'NoSuchKey', $metadata: { httpStatusCode: 404 } });
  await expect(s3.send(new HeadObjectCommand({ Bucket: 'bkt', Key: 'nope' }))).rejects.toMatchObject({ $metadata: { httpStatusCode: 404 } });
  policy.mayList = false;
  await expect(s3.send(new GetObjectCommand({ Bucket: 'bkt', Key: 'nope' }))).rejects.toMatchObject({ name: 'AccessDenied', $metadata: { httpStatusCode: 403 } });
  await expect(s3.send(new HeadObjectCommand({ Bucket: 'bkt', Key: 'nope' }))).rejects.toMatchObject({ $metadata: { httpStatusCode: 403 } });
});

it('an empty directory marker is listed as S3 lists it; deleting a populated marker leaves its keys and takes no retries', async () => {
  await s3.send(new PutObjectCommand({ Bucket: 'bkt', Key: 'ck/run/', Body: '' }));
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: 'bkt', Prefix: 'ck/run/', MaxKeys: 2 }));
  expect(listed.Contents?.map((c) => [c.Key, c.Size])).toEqual([['ck/run/', 0]]);

  await s3.send(new PutObjectCommand({ Bucket: 'bkt', Key: 'q/', Body: '' }));
  await s3.send(new PutObjectCommand({ Bucket: 'bkt', Key: 'q/a.txt', Body: 'a' }));
  const started = Date.now();
  await s3.send(new DeleteObjectsCommand({ Bucket: 'bkt', Delete: { Objects: [{ Key: 'q/' }], Quiet: true } }));
  expect(Date.now() - started).toBeLessThan(2000); // S3Proxy alone retries for 10 s
  expect(readFileSync(layout.objectPath('bkt', 'q/a.txt'), 'utf8')).toBe('a');
  await s3.send(new DeleteObjectsCommand({ Bucket: 'bkt', Delete: { Objects: [{ Key: 'q/a.txt' }, { Key: 'q/' }] } }));
  expect(existsSync(layout.objectPath('bkt', 'q'))).toBe(false); // no directory left to be listed as a marker
  expect((await s3.send(new ListObjectsV2Command({ Bucket: 'bkt', Prefix: 'q/' }))).KeyCount).toBe(0);
});
