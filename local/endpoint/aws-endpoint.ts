import * as http from 'node:http';
import * as https from 'node:https';
import { AddressInfo } from 'node:net';
import { AwsChunkedDecoder, decodedHeaders, isAwsChunked } from '../s3/aws-chunked';
import { classifyS3Request, deleteObjectsKeys, escapeXml } from '../s3/rest-operations';
import { LocalCredential, LocalCredentials, signingAccessKey } from './credentials';
import { LoopbackCertificate } from './tls';

/**
 * The local AWS endpoint (HTTPS on loopback) for the processes the runner starts — Spark jobs (S3A, boto3):
 * it authenticates the caller by the access key it signed with, classifies the request as an API operation,
 * authorizes it against the synthesized IAM policies, and only then serves it:
 *
 * - S3 (`/<bucket>/<key>`, path-style): forwarded unchanged to the S3 store (S3Proxy over `.local/s3`). A missing
 *   key is 404 only when the caller may `s3:ListBucket` it, else 403 AccessDenied, as S3 answers.
 * - Secrets Manager (`X-Amz-Target: secretsmanager.GetSecretValue`): the secret values the runner was given.
 *
 * Denied → 403 with the service's AccessDenied body naming principal, action and resource; the caller's SDK
 * raises it in the caller's own error path. An operation the endpoint cannot classify is denied.
 */
export interface AwsCall {
  readonly credential: LocalCredential;
  /** IAM service prefix: `s3`, `secretsmanager`, … */
  readonly service: string;
  /** API operation, e.g. `GetObject`. */
  readonly operation: string;
  readonly params: Record<string, unknown>;
  readonly secureTransport: boolean;
}

export interface Denial {
  readonly action: string;
  readonly resource: string;
  /** AWS's message: `User: <caller> is not authorized to perform: <action> on resource: <resource> because …`. */
  readonly message: string;
}

export interface CallAuthorizer {
  /** The first denied check of the call, or undefined when every action it needs is allowed. */
  deny(call: AwsCall): Promise<Denial | undefined>;
  /** Whether the caller may `s3:ListBucket` the bucket with `s3:prefix` = key (S3's 403-vs-404 rule). */
  mayList(call: AwsCall, bucket: string, key: string): Promise<boolean>;
}

export interface AwsEndpointOptions {
  readonly certificate: LoopbackCertificate;
  readonly credentials: LocalCredentials;
  readonly authorizer: CallAuthorizer;
  /** The S3 store to forward allowed S3 requests to (plain HTTP on loopback). */
  readonly s3Store: string;
  /** Secret string by ARN or name. */
  readonly secrets?: Readonly<Record<string, string>>;
  /**
   * What `<bucket>/<key>` (a key ending in `/`) is in the store's tree. On S3 such a key is an ordinary
   * (directory marker) object; in the store's filesystem it is the directory itself, which S3Proxy neither lists
   * when empty (S3 lists the marker) nor deletes when populated (it retries for 10 s, then gives up; S3 deletes
   * the marker and leaves the keys under it alone).
   */
  readonly directory?: (bucket: string, key: string) => 'absent' | 'empty' | 'populated';
  /**
   * After deletes: removes the directories the deleted keys leave empty. S3 has no directories, and S3Proxy would
   * otherwise keep them — to be listed as markers nobody wrote (a recursive delete never sees them in a listing).
   */
  readonly pruneEmptyDirectories?: (bucket: string, keys: readonly string[]) => void;
}

export class AwsEndpoint {
  readonly requests: Array<{ principal: string; operation: string; status: number; ms?: number }> = [];

  private constructor(
    private readonly server: https.Server,
    readonly url: string,
  ) {}

  static async start(options: AwsEndpointOptions): Promise<AwsEndpoint> {
    let endpoint: AwsEndpoint | undefined;
    const server = https.createServer({ pfx: options.certificate.pfx, passphrase: options.certificate.passphrase }, (req, res) => {
      const t0 = Date.now();
      handle(options, req, res)
        .then((status) => endpoint?.requests.push({ ...status, ms: Date.now() - t0 }))
        .catch((error: Error) => {
          if (!res.headersSent) sendError(res, 500, 'InternalError', error.message, 's3');
          else res.destroy(error);
        });
    });
    server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    server.unref();
    endpoint = new AwsEndpoint(server, `https://127.0.0.1:${(server.address() as AddressInfo).port}`);
    return endpoint;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.closeAllConnections();
      this.server.close(() => resolve());
    });
  }
}

async function handle(options: AwsEndpointOptions, req: http.IncomingMessage, res: http.ServerResponse) {
  const url = req.url ?? '/';
  const { accessKeyId, service } = signingAccessKey(req.headers.authorization, url);
  const credential = options.credentials.lookup(accessKeyId);
  const target = String(req.headers['x-amz-target'] ?? '');
  const wire = target ? 'json' : 's3';
  if (!credential) {
    await drain(req);
    sendError(res, 403, 'InvalidAccessKeyId', `The AWS Access Key Id you provided does not exist in our records: ${accessKeyId ?? '(unsigned request)'}`, wire);
    return { principal: '(unknown)', operation: target || url, status: 403 };
  }
  if (service === 'secretsmanager' || target.startsWith('secretsmanager.')) return secretsManager(options, credential, req, res);
  return s3(options, credential, req, res);
}

async function s3(options: AwsEndpointOptions, credential: LocalCredential, req: http.IncomingMessage, res: http.ServerResponse) {
  const url = req.url ?? '/';
  const classified = classifyS3Request(req.method ?? 'GET', url, req.headers);
  const record = (operation: string, status: number) => ({ principal: credential.principalArn, operation: `s3:${operation}`, status });
  if (!classified) {
    await drain(req);
    sendError(res, 403, 'AccessDenied', `${req.method} ${url}: operation not mapped (the local endpoint denies what it cannot authorize)`, 's3');
    return record(`${req.method} ${url}`, 403);
  }
  let body: Buffer | undefined;
  const params: Record<string, unknown> = { ...classified.params };
  if (classified.operation === 'DeleteObjects') {
    body = await readBody(req);
    params.Delete = { Objects: deleteObjectsKeys(body.toString('utf8')).map((Key) => ({ Key })) };
  }
  const call: AwsCall = { credential, service: 's3', operation: classified.operation, params, secureTransport: true };
  const denial = await options.authorizer.deny(call);
  if (denial) {
    if (!body) await drain(req);
    sendError(res, 403, 'AccessDenied', denial.message, 's3');
    return record(classified.operation, 403);
  }
  const deletedKeys = classified.operation === 'DeleteObjects' && body ? deleteObjectsKeys(body.toString('utf8')) : classified.operation === 'DeleteObject' ? [classified.params.Key!] : [];
  const populated = (key: string) => key.endsWith('/') && options.directory?.(classified.params.Bucket!, key) === 'populated';
  const prefix = String(classified.params.Prefix ?? '');
  if (classified.operation === 'ListObjectsV2' && prefix.endsWith('/') && options.directory?.(classified.params.Bucket!, prefix) === 'empty') {
    await drain(req);
    res.writeHead(200, { 'content-type': 'application/xml', 'x-amz-request-id': 'local' });
    res.end(emptyMarkerListing(classified.params.Bucket!, prefix, req.url ?? '/'));
    return record(classified.operation, 200);
  }
  if (classified.operation === 'DeleteObject' && populated(classified.params.Key!)) {
    await drain(req);
    options.pruneEmptyDirectories?.(classified.params.Bucket!, deletedKeys);
    res.writeHead(204, { 'x-amz-request-id': 'local' }).end();
    return record(classified.operation, 204);
  }
  if (classified.operation === 'DeleteObjects' && body) {
    const keys = deleteObjectsKeys(body.toString('utf8'));
    const markers = keys.filter(populated);
    if (markers.length) {
      const rest = keys.filter((k) => !markers.includes(k));
      const quiet = /<Quiet>\s*true\s*<\/Quiet>/i.test(body.toString('utf8'));
      if (rest.length === 0) {
        options.pruneEmptyDirectories?.(classified.params.Bucket!, deletedKeys);
        const deleted = quiet ? '' : markers.map((k) => `<Deleted><Key>${escapeXml(k)}</Key></Deleted>`).join('');
        res.writeHead(200, { 'content-type': 'application/xml', 'x-amz-request-id': 'local' });
        res.end(`<?xml version="1.0" encoding="UTF-8"?>\n<DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${deleted}</DeleteResult>`);
        return record(classified.operation, 200);
      }
      body = Buffer.from(`<?xml version="1.0" encoding="UTF-8"?><Delete>${quiet ? '<Quiet>true</Quiet>' : ''}${rest.map((k) => `<Object><Key>${escapeXml(k)}</Key></Object>`).join('')}</Delete>`);
      for (const h of ['content-md5', 'x-amz-checksum-crc32', 'x-amz-checksum-crc32c', 'x-amz-checksum-sha256', 'x-amz-checksum-sha1', 'x-amz-sdk-checksum-algorithm']) delete req.headers[h];
      req.headers['content-length'] = String(body.length);
    }
  }
  const status = await forward(options.s3Store, req, res, body, async (upstream) => {
    const missingObject = upstream === 404 && (classified.operation === 'GetObject' || classified.operation === 'HeadObject');
    if (missingObject && !(await options.authorizer.mayList(call, classified.params.Bucket!, classified.params.Key!))) {
      return `User: ${credential.callerArn} is not authorized to perform: s3:ListBucket on resource: "arn:aws:s3:::${classified.params.Bucket}" (the key does not exist, and without s3:ListBucket S3 answers 403)`;
    }
    return undefined;
  }, classified.operation === 'HeadObject');
  if (deletedKeys.length && status < 300) options.pruneEmptyDirectories?.(classified.params.Bucket!, deletedKeys);
  return record(classified.operation, status);
}

/** Pipes the request to the store; `rewrite404` may turn a 404 into a 403 with the returned message. */
function forward(
  store: string,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  body: Buffer | undefined,
  rewrite404: (status: number) => Promise<string | undefined>,
  head: boolean,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const target = new URL(req.url ?? '/', store);
    const chunked = isAwsChunked(req.headers);
    const headers = { ...(chunked ? decodedHeaders(req.headers) : req.headers), host: target.host };
    const upstream = http.request(target, { method: req.method, headers, agent: storeAgent }, (response) => {
      const status = response.statusCode ?? 502;
      (status === 404 ? rewrite404(status) : Promise.resolve(undefined)).then((denied) => {
        if (denied) {
          response.resume();
          sendError(res, 403, 'AccessDenied', denied, 's3', head);
          resolve(403);
          return;
        }
        res.writeHead(status, response.headers);
        response.pipe(res);
        response.on('end', () => resolve(status));
        response.on('error', reject);
      }, reject);
    });
    upstream.on('error', reject);
    if (body) upstream.end(body);
    else if (chunked) req.pipe(new AwsChunkedDecoder()).on('error', reject).pipe(upstream);
    else req.pipe(upstream);
  });
}

const storeAgent = new http.Agent({ keepAlive: true, maxSockets: 64 });

/** ListObjectsV2 of `prefix` when it is an empty directory: S3 lists its directory marker, a 0-byte object. */
function emptyMarkerListing(bucket: string, prefix: string, url: string): string {
  const maxKeys = new URL(url, 'https://local').searchParams.get('max-keys') ?? '1000';
  const marker = `<Contents><Key>${escapeXml(prefix)}</Key><LastModified>${new Date().toISOString()}</LastModified><ETag>"d41d8cd98f00b204e9800998ecf8427e"</ETag><Size>0</Size><StorageClass>STANDARD</StorageClass></Contents>`;
  return `<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>${escapeXml(bucket)}</Name><Prefix>${escapeXml(prefix)}</Prefix><KeyCount>1</KeyCount><MaxKeys>${escapeXml(maxKeys)}</MaxKeys><IsTruncated>false</IsTruncated>${marker}</ListBucketResult>`;
}

async function secretsManager(options: AwsEndpointOptions, credential: LocalCredential, req: http.IncomingMessage, res: http.ServerResponse) {
  const target = String(req.headers['x-amz-target'] ?? '');
  const operation = target.replace(/^secretsmanager\./, '');
  const input = JSON.parse((await readBody(req)).toString('utf8') || '{}') as { SecretId?: string };
  const record = (status: number) => ({ principal: credential.principalArn, operation: `secretsmanager:${operation}`, status });
  const call: AwsCall = { credential, service: 'secretsmanager', operation, params: { SecretId: input.SecretId }, secureTransport: true };
  const denial = await options.authorizer.deny(call);
  if (denial) {
    sendError(res, 400, 'AccessDeniedException', denial.message, 'json');
    return record(400);
  }
  if (operation !== 'GetSecretValue') {
    sendError(res, 400, 'InvalidRequestException', `${operation} is not served by the local endpoint`, 'json');
    return record(400);
  }
  const value = input.SecretId ? options.secrets?.[input.SecretId] : undefined;
  if (value === undefined) {
    sendError(res, 400, 'ResourceNotFoundException', "Secrets Manager can't find the specified secret.", 'json');
    return record(400);
  }
  const arn = String(input.SecretId);
  res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
  res.end(JSON.stringify({ ARN: arn, Name: arn.split(':').pop(), SecretString: value, VersionId: 'local', VersionStages: ['AWSCURRENT'], CreatedDate: 0 }));
  return record(200);
}

function sendError(res: http.ServerResponse, status: number, code: string, message: string, wire: 's3' | 'json', head = false): void {
  if (wire === 'json') {
    res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-errortype': code });
    res.end(JSON.stringify({ __type: code, message }));
    return;
  }
  const xml = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${escapeXml(message)}</Message><RequestId>local</RequestId></Error>`;
  res.writeHead(status, { 'content-type': 'application/xml', 'x-amz-request-id': 'local' });
  res.end(head ? undefined : xml);
}

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function drain(req: http.IncomingMessage): Promise<void> {
  return readBody(req).then(() => undefined);
}
