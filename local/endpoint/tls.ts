import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';

/**
 * The loopback certificate of the local AWS endpoint. S3 bucket policies deny requests with
 * `aws:SecureTransport` = false, so the endpoint speaks HTTPS like AWS does: a self-signed certificate for
 * `127.0.0.1`/`localhost` made once with the JDK's `keytool`, kept in `<dir>`:
 *
 * | file | for |
 * |---|---|
 * | `endpoint.p12` + `endpoint.pass` | the endpoint's key pair (Node `https` `pfx`) |
 * | `truststore.p12` | the Spark JVM (`javax.net.ssl.trustStore`) |
 * | `ca.pem` | Python clients in jobs (`AWS_CA_BUNDLE`) and Node clients (`ca`) |
 */
export interface LoopbackCertificate {
  readonly pfx: Buffer;
  readonly passphrase: string;
  readonly trustStore: string;
  readonly trustStorePassword: string;
  readonly caFile: string;
  readonly caPem: string;
}

export function loopbackCertificate(dir: string): LoopbackCertificate {
  const keyStore = path.join(dir, 'endpoint.p12');
  const passFile = path.join(dir, 'endpoint.pass');
  const trustStore = path.join(dir, 'truststore.p12');
  const caFile = path.join(dir, 'ca.pem');
  if (![keyStore, passFile, trustStore, caFile].every((f) => existsSync(f))) {
    // built in a scratch directory and renamed into place, so concurrent runners never see half a set
    const scratch = `${dir}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    mkdirSync(scratch, { recursive: true });
    const pass = randomBytes(12).toString('hex');
    const keytool = (...args: string[]) => execFileSync('keytool', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    keytool('-genkeypair', '-alias', 'endpoint', '-keyalg', 'EC', '-groupname', 'secp256r1', '-validity', '3650',
      '-dname', 'CN=localhost, O=emrpipe local runner', '-ext', 'SAN=ip:127.0.0.1,dns:localhost',
      '-storetype', 'PKCS12', '-keystore', path.join(scratch, 'endpoint.p12'), '-storepass', pass, '-keypass', pass);
    const pem = keytool('-exportcert', '-rfc', '-alias', 'endpoint', '-keystore', path.join(scratch, 'endpoint.p12'), '-storepass', pass);
    writeFileSync(path.join(scratch, 'ca.pem'), pem);
    keytool('-importcert', '-noprompt', '-alias', 'endpoint', '-file', path.join(scratch, 'ca.pem'),
      '-storetype', 'PKCS12', '-keystore', path.join(scratch, 'truststore.p12'), '-storepass', pass);
    writeFileSync(path.join(scratch, 'endpoint.pass'), pass);
    mkdirSync(path.dirname(dir), { recursive: true });
    try {
      renameSync(scratch, dir);
    } catch {
      rmSync(scratch, { recursive: true, force: true }); // another runner made it first
    }
  }
  const passphrase = readFileSync(passFile, 'utf8').trim();
  return {
    pfx: readFileSync(keyStore),
    passphrase,
    trustStore,
    trustStorePassword: passphrase,
    caFile,
    caPem: readFileSync(caFile, 'utf8'),
  };
}
