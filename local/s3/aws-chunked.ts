import { Transform, TransformCallback } from 'node:stream';

/**
 * S3's `aws-chunked` upload encoding, decoded on the way to the S3 store (which does not read the trailer
 * variants current SDKs send over TLS: `STREAMING-UNSIGNED-PAYLOAD-TRAILER`, flexible checksums). Each chunk is
 * `<hex size>[;chunk-signature=…]\r\n<bytes>\r\n`, the last one has size 0 and is followed by trailing headers
 * and an empty line. The request headers are rewritten to a plain body of `x-amz-decoded-content-length` bytes.
 * @see https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html
 */
export function isAwsChunked(headers: Record<string, string | string[] | undefined>): boolean {
  const sha = String(headers['x-amz-content-sha256'] ?? '');
  const encoding = String(headers['content-encoding'] ?? '');
  return sha.startsWith('STREAMING-') || encoding.split(',').map((e) => e.trim()).includes('aws-chunked');
}

export function decodedHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string | string[] | undefined> {
  const out = { ...headers };
  const encodings = String(out['content-encoding'] ?? '').split(',').map((e) => e.trim()).filter((e) => e && e !== 'aws-chunked');
  if (encodings.length) out['content-encoding'] = encodings.join(', ');
  else delete out['content-encoding'];
  out['content-length'] = String(out['x-amz-decoded-content-length'] ?? '');
  out['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
  delete out['x-amz-decoded-content-length'];
  delete out['x-amz-trailer'];
  delete out['transfer-encoding'];
  return out;
}

export class AwsChunkedDecoder extends Transform {
  private buffer: Buffer = Buffer.alloc(0);
  private remaining = -1; // bytes left in the current chunk; -1 = expecting a chunk header
  private done = false;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    try {
      this.drain();
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    callback(this.done ? null : new Error('aws-chunked body ended before its final chunk'));
  }

  private drain(): void {
    while (!this.done) {
      if (this.remaining < 0) {
        const eol = this.buffer.indexOf('\r\n');
        if (eol < 0) return;
        const size = parseInt(this.buffer.subarray(0, eol).toString('latin1').split(';')[0], 16);
        if (!Number.isFinite(size)) throw new Error('aws-chunked: malformed chunk header');
        this.buffer = this.buffer.subarray(eol + 2);
        if (size === 0) {
          this.done = true; // trailing headers (checksums) follow; the store does not need them
          return;
        }
        this.remaining = size;
      }
      if (this.remaining > 0) {
        if (this.buffer.length === 0) return;
        const take = Math.min(this.remaining, this.buffer.length);
        this.push(this.buffer.subarray(0, take));
        this.buffer = this.buffer.subarray(take);
        this.remaining -= take;
      }
      if (this.remaining === 0) {
        if (this.buffer.length < 2) return;
        this.buffer = this.buffer.subarray(2); // CRLF after the chunk data
        this.remaining = -1;
      }
    }
  }
}
