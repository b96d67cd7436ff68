import * as S3 from '@aws-sdk/client-s3';
import * as SecretsManager from '@aws-sdk/client-secrets-manager';
import * as Emr from '@aws-sdk/client-emr-serverless';
import * as Sns from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { AwsCall, CallAuthorizer } from './aws-endpoint';
import { LocalCredentials } from './credentials';

/**
 * The in-process twin of the local endpoint, for the handlers and the operator CLI running in this process: every
 * `S3Client` / `SecretsManagerClient` / `EMRServerlessClient` / `SNSClient` command is routed by aws-sdk-client-mock to
 *
 * 1. identification — the credentials the calling client resolved (a Lambda's role session from its
 *    environment, as the Lambda runtime provides them; the operator's), looked up like the endpoint does;
 * 2. authorization of the operation against the synthesized IAM policies (TLS: the SDK's endpoints are HTTPS);
 * 3. the service: S3 commands are sent, unchanged, to the S3 store (S3Proxy over `.local/s3`) by a client of the
 *    store; GetSecretValue answers from the runner's secrets; GetJobRun / ListJobRunAttempts from the local EMR
 *    Serverless job runs; SNS Publish to the app's topics goes to the alerts file.
 *
 * Denied → the SDK's own AccessDenied error (403), raised in the handler's error path. A missing S3 key is a 404
 * only when the caller may list it, else 403, as S3 answers.
 */
export interface SdkRoutingOptions {
  readonly credentials: LocalCredentials;
  readonly authorizer: CallAuthorizer;
  /** The S3 store (plain HTTP on loopback). */
  readonly s3Store: string;
  readonly region: string;
  readonly secrets?: Readonly<Record<string, string>>;
  /** GetJobRun of the local job runs (SDK camelCase shape) or undefined. */
  readonly getJobRun?: (applicationId: string, jobRunId: string) => Record<string, unknown> | undefined;
  /** ListJobRunAttempts of the local job runs, or undefined for an unknown run. */
  readonly listJobRunAttempts?: (applicationId: string, jobRunId: string) => Array<Record<string, unknown>> | undefined;
  /** SNS Publish to a topic of the app (the alerts file); throws NotFound for another topic. */
  readonly publish?: (message: { TopicArn: string; Subject?: string; Message: string; publisher: string }) => string;
}

export interface SdkRouting {
  restore(): void;
}

type Command = new (input: never) => { input: unknown };
type ClientLike = { config: { credentials: () => Promise<{ accessKeyId: string }> } };

export function routeSdkClients(options: SdkRoutingOptions): SdkRouting {
  const store = new S3.S3Client({
    endpoint: options.s3Store,
    region: options.region,
    forcePathStyle: true,
    credentials: { accessKeyId: 'store', secretAccessKey: 'store' },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 1,
  });
  // the stub replaces S3Client.prototype.send; the store's client uses the SDK's own send underneath it
  const sendToStore = Object.getPrototypeOf(S3.S3Client.prototype).send as (this: S3.S3Client, command: unknown) => Promise<unknown>;

  const s3 = mockClient(S3.S3Client);
  const sm = mockClient(SecretsManager.SecretsManagerClient);
  const emr = mockClient(Emr.EMRServerlessClient);
  const sns = mockClient(Sns.SNSClient);

  const caller = async (getClient: () => unknown, service: string, operation: string, params: Record<string, unknown>): Promise<AwsCall> => {
    const resolved = await (getClient() as ClientLike).config.credentials();
    const credential = options.credentials.lookup(resolved.accessKeyId);
    if (!credential) {
      throw serviceError(service, 'InvalidAccessKeyId', 403, `The AWS Access Key Id you provided does not exist in our records: ${resolved.accessKeyId}`);
    }
    const call: AwsCall = { credential, service, operation, params, secureTransport: true };
    const denial = await options.authorizer.deny(call);
    if (denial) throw serviceError(service, service === 's3' ? (operation === 'HeadObject' ? 'Forbidden' : 'AccessDenied') : 'AccessDeniedException', service === 's3' ? 403 : 400, denial.message);
    return call;
  };

  for (const [name, command] of commands(S3)) {
    const operation = name.replace(/Command$/, '');
    s3.on(command as never).callsFake(async (input: Record<string, unknown>, getClient: () => unknown) => {
      const params: Record<string, unknown> = { ...input };
      const call = await caller(getClient, 's3', operation, params);
      try {
        return await sendToStore.call(store, new command(input as never));
      } catch (error) {
        const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
        const missingObject = status === 404 && (operation === 'GetObject' || operation === 'HeadObject');
        if (missingObject && !(await options.authorizer.mayList(call, String(input.Bucket), String(input.Key)))) {
          throw serviceError('s3', operation === 'HeadObject' ? 'Forbidden' : 'AccessDenied', 403,
            `User: ${call.credential.callerArn} is not authorized to perform: s3:ListBucket on resource: "arn:aws:s3:::${input.Bucket}" (the key does not exist, and without s3:ListBucket S3 answers 403)`);
        }
        throw error;
      }
    });
  }

  for (const [name, command] of commands(SecretsManager)) {
    const operation = name.replace(/Command$/, '');
    sm.on(command as never).callsFake(async (input: { SecretId?: string }, getClient: () => unknown) => {
      await caller(getClient, 'secretsmanager', operation, { ...input });
      if (operation !== 'GetSecretValue') throw serviceError('secretsmanager', 'InvalidRequestException', 400, `${operation} is not served by the local runner`);
      const value = input.SecretId ? options.secrets?.[input.SecretId] : undefined;
      if (value === undefined) throw new SecretsManager.ResourceNotFoundException({ message: "Secrets Manager can't find the specified secret.", $metadata: { httpStatusCode: 400 } });
      return { ARN: input.SecretId, Name: input.SecretId!.split(':').pop(), SecretString: value, VersionId: 'local', VersionStages: ['AWSCURRENT'], $metadata: { httpStatusCode: 200 } };
    });
  }

  for (const [name, command] of commands(Emr)) {
    const operation = name.replace(/Command$/, '');
    emr.on(command as never).callsFake(async (input: { applicationId?: string; jobRunId?: string }, getClient: () => unknown) => {
      await caller(getClient, 'emr-serverless', operation, { ...input });
      const notFound = () => new Emr.ResourceNotFoundException({ message: `Job run ${input.jobRunId} of application ${input.applicationId} does not exist`, $metadata: { httpStatusCode: 404 } });
      if (operation === 'GetJobRun') {
        const jobRun = options.getJobRun?.(String(input.applicationId), String(input.jobRunId));
        if (!jobRun) throw notFound();
        return { jobRun, $metadata: { httpStatusCode: 200 } };
      }
      if (operation === 'ListJobRunAttempts') {
        const jobRunAttempts = options.listJobRunAttempts?.(String(input.applicationId), String(input.jobRunId));
        if (!jobRunAttempts) throw notFound();
        return { jobRunAttempts, $metadata: { httpStatusCode: 200 } };
      }
      throw serviceError('emr-serverless', 'ValidationException', 400, `${operation} is not served by the local runner`);
    });
  }

  for (const [name, command] of commands(Sns)) {
    const operation = name.replace(/Command$/, '');
    sns.on(command as never).callsFake(async (input: { TopicArn?: string; Subject?: string; Message?: string }, getClient: () => unknown) => {
      const call = await caller(getClient, 'sns', operation, { ...input });
      if (operation !== 'Publish' || !options.publish) throw serviceError('sns', 'InvalidParameter', 400, `${operation} is not served by the local runner`);
      const MessageId = options.publish({ TopicArn: String(input.TopicArn), Subject: input.Subject, Message: String(input.Message ?? ''), publisher: call.credential.callerArn });
      return { MessageId, $metadata: { httpStatusCode: 200 } };
    });
  }

  return {
    restore() {
      s3.restore();
      sm.restore();
      emr.restore();
      sns.restore();
      store.destroy();
    },
  };
}

function commands(module: Record<string, unknown>): Array<[string, Command]> {
  return Object.entries(module).filter(([name, value]) => name.endsWith('Command') && typeof value === 'function') as Array<[string, Command]>;
}

/** An error as the service's SDK raises it (name = error code, `$metadata.httpStatusCode`, `$fault`). */
function serviceError(service: string, code: string, status: number, message: string): Error {
  const base =
    service === 's3' ? S3.S3ServiceException
    : service === 'secretsmanager' ? SecretsManager.SecretsManagerServiceException
    : service === 'sns' ? Sns.SNSServiceException
    : Emr.EMRServerlessServiceException;
  return new base({ name: code, $fault: 'client', message, $metadata: { httpStatusCode: status, attempts: 1, totalRetryDelay: 0 } });
}
