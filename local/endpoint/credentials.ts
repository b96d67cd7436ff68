import { createHash } from 'node:crypto';

/**
 * Local credentials: every principal of the deployment (a role its functions, state machines, schedules and job
 * runs assume; the local operator) gets a deterministic access key. A caller signs with its principal's key as on
 * AWS (Lambda's `AWS_ACCESS_KEY_ID`, Spark's S3A credentials, boto3's environment); the local endpoint and the
 * in-process SDK routing look the key up to know who is calling. The keys grant nothing outside this machine.
 */
export interface LocalCredential {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken: string;
  /** The identity as IAM evaluates it: the role ARN (or the operator's user ARN). */
  readonly principalArn: string;
  /** The caller as AWS names it in errors: `arn:aws:sts::<acct>:assumed-role/<role>/<session>` for a role. */
  readonly callerArn: string;
}

export class LocalCredentials {
  private readonly byKey = new Map<string, LocalCredential>();
  private readonly byPrincipal = new Map<string, LocalCredential>();

  /** The credential of a principal (created on first use), with `session` as the assumed-role session name. */
  for(principalArn: string, session = 'local'): LocalCredential {
    const known = this.byPrincipal.get(principalArn);
    if (known) return known;
    const digest = createHash('sha256').update(principalArn).digest('hex').toUpperCase();
    const role = /^arn:(aws[a-z-]*):iam::(\d{12}):role\/(?:.*\/)?([^/]+)$/.exec(principalArn);
    const credential: LocalCredential = {
      accessKeyId: `ASIALOCAL${digest.slice(0, 11)}`,
      secretAccessKey: `local-${digest.slice(11, 51).toLowerCase()}`,
      sessionToken: `local-session-${digest.slice(51, 63).toLowerCase()}`,
      principalArn,
      callerArn: role ? `arn:${role[1]}:sts::${role[2]}:assumed-role/${role[3]}/${session}` : principalArn,
    };
    this.byKey.set(credential.accessKeyId, credential);
    this.byPrincipal.set(principalArn, credential);
    return credential;
  }

  lookup(accessKeyId: string | undefined): LocalCredential | undefined {
    return accessKeyId ? this.byKey.get(accessKeyId) : undefined;
  }
}

/** The access key id of a SigV4-signed request (Authorization header or presigned query). */
export function signingAccessKey(authorization: string | undefined, url: string): { accessKeyId?: string; service?: string } {
  const fromScope = (scope: string) => {
    const [accessKeyId, , , service] = scope.split('/');
    return { accessKeyId, service };
  };
  const header = /Credential=([^,\s]+)/.exec(authorization ?? '');
  if (header) return fromScope(header[1]);
  const query = new URL(url, 'https://local').searchParams.get('X-Amz-Credential');
  return query ? fromScope(query) : {};
}
