/**
 * Which S3 API operation an HTTP request is, per the S3 REST API (path-style addressing: `/<bucket>/<key>`),
 * with the request parameters IAM authorization needs (bucket, key, prefix, copy source, the keys of a
 * DeleteObjects body). The local endpoint classifies every request with this before it authorizes it; a request
 * it cannot classify is `undefined` and is denied.
 * @see https://docs.aws.amazon.com/AmazonS3/latest/API/API_Operations_Amazon_Simple_Storage_Service.html
 */
export interface S3RestOperation {
  /** S3 API operation name, e.g. `GetObject`. */
  readonly operation: string;
  readonly params: {
    readonly Bucket?: string;
    readonly Key?: string;
    readonly Prefix?: string;
    readonly CopySource?: string;
    readonly UploadId?: string;
  };
}

export function classifyS3Request(method: string, rawUrl: string, headers: Record<string, string | string[] | undefined>): S3RestOperation | undefined {
  const url = new URL(rawUrl, 'https://local');
  const q = url.searchParams;
  const segments = url.pathname.split('/').slice(1);
  const bucket = segments[0] ? decodeURIComponent(segments[0]) : undefined;
  const key = segments.length > 1 ? segments.slice(1).map(decodeURIComponent).join('/') : '';
  const header = (name: string) => {
    const value = headers[name];
    return Array.isArray(value) ? value[0] : value;
  };
  const m = method.toUpperCase();
  if (!bucket) return m === 'GET' ? { operation: 'ListBuckets', params: {} } : undefined;
  if (!key) {
    const params = { Bucket: bucket };
    switch (m) {
      case 'HEAD':
        return { operation: 'HeadBucket', params };
      case 'GET':
        if (q.has('location')) return { operation: 'GetBucketLocation', params };
        if (q.has('uploads')) return { operation: 'ListMultipartUploads', params: { ...params, Prefix: q.get('prefix') ?? '' } };
        if (q.has('versions')) return { operation: 'ListObjectVersions', params: { ...params, Prefix: q.get('prefix') ?? '' } };
        if (q.get('list-type') === '2') return { operation: 'ListObjectsV2', params: { ...params, Prefix: q.get('prefix') ?? '' } };
        if ([...q.keys()].every((k) => ['prefix', 'delimiter', 'marker', 'max-keys', 'encoding-type'].includes(k))) {
          return { operation: 'ListObjects', params: { ...params, Prefix: q.get('prefix') ?? '' } };
        }
        return undefined;
      case 'POST':
        return q.has('delete') ? { operation: 'DeleteObjects', params } : undefined;
      case 'PUT':
        return [...q.keys()].length === 0 ? { operation: 'CreateBucket', params } : undefined;
      case 'DELETE':
        return [...q.keys()].length === 0 ? { operation: 'DeleteBucket', params } : undefined;
      default:
        return undefined;
    }
  }
  const params = { Bucket: bucket, Key: key };
  const uploadId = q.get('uploadId') ?? undefined;
  switch (m) {
    case 'HEAD':
      return { operation: 'HeadObject', params };
    case 'GET':
      if (uploadId) return { operation: 'ListParts', params: { ...params, UploadId: uploadId } };
      if (q.has('tagging')) return { operation: 'GetObjectTagging', params };
      if (q.has('acl')) return { operation: 'GetObjectAcl', params };
      return { operation: 'GetObject', params };
    case 'PUT': {
      const copySource = header('x-amz-copy-source');
      if (uploadId && q.has('partNumber')) {
        return copySource
          ? { operation: 'UploadPartCopy', params: { ...params, UploadId: uploadId, CopySource: copySource } }
          : { operation: 'UploadPart', params: { ...params, UploadId: uploadId } };
      }
      if (q.has('tagging')) return { operation: 'PutObjectTagging', params };
      if (q.has('acl')) return { operation: 'PutObjectAcl', params };
      return copySource ? { operation: 'CopyObject', params: { ...params, CopySource: copySource } } : { operation: 'PutObject', params };
    }
    case 'POST':
      if (q.has('uploads')) return { operation: 'CreateMultipartUpload', params };
      if (uploadId) return { operation: 'CompleteMultipartUpload', params: { ...params, UploadId: uploadId } };
      return undefined;
    case 'DELETE':
      if (uploadId) return { operation: 'AbortMultipartUpload', params: { ...params, UploadId: uploadId } };
      if (q.has('tagging')) return { operation: 'DeleteObjectTagging', params };
      return { operation: 'DeleteObject', params };
    default:
      return undefined;
  }
}

/** The keys named by a DeleteObjects request body (`<Delete><Object><Key>…</Key>…`). */
export function deleteObjectsKeys(body: string): string[] {
  const keys: string[] = [];
  for (const match of body.matchAll(/<Key>([\s\S]*?)<\/Key>/g)) keys.push(unescapeXml(match[1]));
  return keys;
}

/** `bucket/key` of an `x-amz-copy-source` header (URL-encoded, optional leading `/`, optional `?versionId=`). */
export function parseCopySource(copySource: string): { bucket: string; key: string } {
  const source = decodeURIComponent(copySource.replace(/^\//, '').split('?')[0]);
  const slash = source.indexOf('/');
  return { bucket: source.slice(0, slash), key: source.slice(slash + 1) };
}

export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

function unescapeXml(text: string): string {
  return text
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&#(\d+);/g, (_, n: string) => String.fromCodePoint(Number(n)))
    .replace(/&#x([0-9a-fA-F]+);/g, (_, n: string) => String.fromCodePoint(parseInt(n, 16)))
    .replace(/&amp;/g, '&');
}
