import { existsSync, readdirSync, rmdirSync, statSync } from 'node:fs';
import * as https from 'node:https';
import * as tls from 'node:tls';
import * as path from 'node:path';
import { LocalDeployment } from '../deployment';
import { JobRunAccess, JobRunFailedError } from '../emr-adapter';
import { AuthorizationRequest, Authorizer, AuthorizerOptions } from '../iam/authorizer';
import { accessDeniedMessage } from '../iam/errors';
import { LocalLayout, parseS3Uri } from '../layout';
import { S3ProxyServer } from '../s3/s3proxy-server';
import { AwsCall, AwsEndpoint, CallAuthorizer, Denial } from './aws-endpoint';
import { LocalCredential, LocalCredentials } from './credentials';
import { routeSdkClients, SdkRouting } from './sdk-routing';
import { loopbackCertificate, LoopbackCertificate } from './tls';

/**
 * The AWS a local deployment talks to, with IAM enforced: the S3 store over `.local/s3`, the HTTPS endpoint for
 * the processes the runner starts (Spark jobs), the in-process SDK routing for the handlers and the operator,
 * the principals' credentials, and the one {@link Authorizer} built from the synthesized templates that every
 * call of all of them goes through.
 */
export interface LocalAwsOptions {
  readonly projectRoot: string;
  readonly layout: LocalLayout;
  readonly deployment: LocalDeployment;
  /** Secret string by ARN (Secrets Manager). */
  readonly secrets?: Readonly<Record<string, string>>;
  /** GetJobRun of the local job runs. */
  readonly getJobRun?: (applicationId: string, jobRunId: string) => Record<string, unknown> | undefined;
  readonly listJobRunAttempts?: (applicationId: string, jobRunId: string) => Array<Record<string, unknown>> | undefined;
  readonly publish?: (message: { TopicArn: string; Subject?: string; Message: string; publisher: string }) => string;
  /** The operator identity (`emrpipe --local`, the runner's own uploads). @default an admin-like local user */
  readonly operator?: AuthorizerOptions['operator'];
}

/** IAM service prefix → the SDK client name the operation table uses (`S3.GetObject`). */
const CLIENT_NAMES: Record<string, string> = { s3: 'S3', secretsmanager: 'SecretsManager', 'emr-serverless': 'EMRServerless', sns: 'SNS' };

export class LocalAws implements CallAuthorizer {
  private constructor(
    readonly credentials: LocalCredentials,
    readonly authorizer: Authorizer,
    readonly certificate: LoopbackCertificate,
    readonly store: S3ProxyServer,
    readonly endpoint: AwsEndpoint,
    private readonly routing: SdkRouting,
    private readonly s3aJars: string[],
  ) {}

  static async start(options: LocalAwsOptions): Promise<LocalAws> {
    const authorizer = Authorizer.fromDeployment(options.deployment, { operator: options.operator });
    const certificate = loopbackCertificate(path.join(options.projectRoot, '.cache', 'local-tls'));
    // the runner's own HTTPS clients (a custom resource's response PUT) trust the loopback certificate too
    const ca = https.globalAgent.options.ca;
    if (!(Array.isArray(ca) && ca.includes(certificate.caPem))) https.globalAgent.options.ca = [...tls.rootCertificates, certificate.caPem];
    const store = await S3ProxyServer.start({ s3Root: options.layout.s3Root, projectRoot: options.projectRoot, stateDir: path.join(options.layout.root, 's3proxy') });
    const jarsDir = path.join(options.projectRoot, '.cache', 'local-jars', 's3a');
    const s3aJars = existsSync(jarsDir) ? readdirSync(jarsDir).filter((f) => f.endsWith('.jar')).sort().map((f) => path.join(jarsDir, f)) : [];
    if (s3aJars.length === 0) throw new Error(`Hadoop S3A jars missing in ${jarsDir}: run "bash scripts/setup.sh"`);
    const holder: { aws?: LocalAws } = {};
    const lazy: CallAuthorizer = { deny: (call) => holder.aws!.deny(call), mayList: (call, bucket, key) => holder.aws!.mayList(call, bucket, key) };
    const credentials = new LocalCredentials();
    const endpoint = await AwsEndpoint.start({
      certificate,
      credentials,
      authorizer: lazy,
      s3Store: store.endpoint,
      secrets: options.secrets,
      directory: directoryOf(options.layout),
      pruneEmptyDirectories: pruneEmptyDirectories(options.layout),
    });
    const routing = routeSdkClients({ credentials, authorizer: lazy, s3Store: store.endpoint, region: options.deployment.region, secrets: options.secrets, getJobRun: options.getJobRun, listJobRunAttempts: options.listJobRunAttempts, publish: options.publish });
    const aws = new LocalAws(credentials, authorizer, certificate, store, endpoint, routing, s3aJars);
    holder.aws = aws;
    return aws;
  }

  /** The credential a principal's callers sign with (a Lambda's environment, a job's container). */
  credentialOf(principalArn: string, session?: string): LocalCredential {
    return this.credentials.for(principalArn, session);
  }

  /** The operator's credential (the identity of `emrpipe --local` and of the runner's own uploads). */
  get operator(): LocalCredential {
    return this.credentials.for(this.authorizer.operatorArn, 'local-operator');
  }

  async deny(call: AwsCall): Promise<Denial | undefined> {
    const clientName = CLIENT_NAMES[call.service] ?? call.service;
    const result = await this.authorizer.authorize({
      principalArn: call.credential.principalArn,
      operation: `${clientName}.${call.operation}`,
      params: call.params,
      secureTransport: call.secureTransport,
    });
    if (result.allowed || !result.denied) return undefined;
    const { action, resource, reason } = result.denied;
    return { action, resource, message: accessDeniedMessage(call.credential.callerArn, action, resource, reason) };
  }

  mayList(call: AwsCall, bucket: string, key: string): Promise<boolean> {
    return this.authorizer.mayListBucket(call.credential.principalArn, bucket, key, { secureTransport: call.secureTransport });
  }

  /** Authorizes a call the runner makes on a principal's behalf (a state machine's task, a service fetching for a role). */
  async assertAuthorized(request: AuthorizationRequest): Promise<void> {
    await this.authorizer.assertAuthorized(request);
  }

  /** How job runs reach AWS (for the EMR Serverless adapter). */
  jobRunAccess(): JobRunAccess {
    return {
      endpointUrl: this.endpoint.url,
      certificate: this.certificate,
      s3aJars: this.s3aJars,
      credential: (roleArn) => this.credentials.for(roleArn, 'emr-serverless-job'),
      assertMayAssume: async (roleArn, applicationArn) => {
        const result = await this.authorizer.authorize({
          principalArn: 'emr-serverless.amazonaws.com',
          operation: 'STS.AssumeRole',
          params: { RoleArn: roleArn },
          sourceArn: applicationArn,
          sourceAccount: applicationArn.split(':')[4],
        });
        if (!result.allowed) {
          throw new JobRunFailedError(`Job failed before start: EMR Serverless could not assume the execution role ${roleArn} for ${applicationArn}: ${result.denied?.reason ?? 'denied'} (its trust policy must allow emr-serverless.amazonaws.com, with aws:SourceArn/aws:SourceAccount of the application)`);
        }
      },
      assertMayRead: async (roleArn, uri) => {
        const { bucket, key } = parseS3Uri(uri);
        const credential = this.credentials.for(roleArn, 'emr-serverless-job');
        const denial = await this.deny({ credential, service: 's3', operation: 'GetObject', params: { Bucket: bucket, Key: key }, secureTransport: true });
        if (denial) throw new JobRunFailedError(`Job failed before start: could not fetch ${uri} with the execution role: AccessDenied: ${denial.message}`);
      },
      mayWrite: async (roleArn, uri) => {
        const { bucket, key } = parseS3Uri(uri);
        const credential = this.credentials.for(roleArn, 'emr-serverless-job');
        return !(await this.deny({ credential, service: 's3', operation: 'PutObject', params: { Bucket: bucket, Key: key }, secureTransport: true }));
      },
    };
  }

  async close(): Promise<void> {
    this.routing.restore();
    await this.endpoint.close();
    this.store.stop();
  }
}

/** What a key ending in `/` is in the store's tree (see AwsEndpointOptions.directory). */
export function directoryOf(layout: LocalLayout): (bucket: string, key: string) => 'absent' | 'empty' | 'populated' {
  return (bucket, key) => {
    const dir = layout.objectPath(bucket, key);
    if (!existsSync(dir) || !statSync(dir).isDirectory()) return 'absent';
    return readdirSync(dir).some((name) => !name.startsWith('.')) ? 'populated' : 'empty';
  };
}

/** Removes the directories deleted keys leave empty, up to the bucket (see AwsEndpointOptions.pruneEmptyDirectories). */
export function pruneEmptyDirectories(layout: LocalLayout): (bucket: string, keys: readonly string[]) => void {
  return (bucket, keys) => {
    const root = layout.bucketDir(bucket);
    for (const key of keys) {
      // a marker `a/b/` is the directory a/b itself; a key `a/b/c` lives in a/b
      for (let dir = path.dirname(layout.objectPath(bucket, key.replace(/\/+$/, '/.marker'))); dir.startsWith(root + path.sep); dir = path.dirname(dir)) {
        try {
          rmdirSync(dir); // succeeds only on an empty directory
        } catch {
          break;
        }
      }
    }
  };
}
