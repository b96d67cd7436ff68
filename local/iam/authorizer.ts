/**
 * The local runner's IAM: authorizes one AWS call — principal, operation, parameters — the way AWS would for the
 * deployed stack. The operation is expanded through operations.json into the actions IAM checks (with resource
 * ARNs and request context keys), each is decided by iam-simulate against the policies of the synthesized
 * templates (policies.ts), every check goes to the access log, and a denial can be thrown as AWS's AccessDenied.
 *
 * Operation names: `<SDK v3 client>.<API operation>` — `S3.HeadObject`, `SecretsManager.GetSecretValue`,
 * `EMRServerless.StartJobRun`, `SFN.StartExecution`, `CloudFormation.DescribeStacks`, `CloudWatchLogs.PutLogEvents`,
 * `SNS.Publish`, `Lambda.Invoke`, `STS.AssumeRole` — or a Step Functions Task Resource
 * (`arn:aws:states:::emr-serverless:startJobRun.sync`, `arn:aws:states:::sns:publish`,
 * `arn:aws:states:::lambda:invoke`). Params use the API's (or the ASL Parameters') names, matched case-insensitively.
 */
import type { LocalDeployment } from '../deployment';
import { AccessLog, type AccessReport, type StatementRef } from './access-log';
import { AccessDeniedError, type AccessDeniedName } from './errors';
import { type DecisionResult, PolicyEvaluator } from './evaluate';
import { type ContextValue, MissingParameterError, OperationTable, type RequiredCheck, UnmappedOperationError } from './operations';
import { buildPolicyStore, type PolicyStoreOptions } from './policies';
import { type PolicyStore, roleArnOf } from './policy-store';

export interface AuthorizationRequest {
  /** Role ARN (`arn:aws:iam::<acct>:role/<name>`), its assumed-role session ARN, a user ARN, or a service principal (`events.amazonaws.com`). */
  readonly principalArn: string;
  readonly operation: string;
  readonly params?: Record<string, unknown>;
  /** aws:SecureTransport. @default true */
  readonly secureTransport?: boolean;
  /** s3:TlsVersion when over TLS. @default '1.3' */
  readonly tlsVersion?: string;
  /** aws:SourceArn / aws:SourceAccount (a service acting for a resource, e.g. EMR Serverless assuming the job role). */
  readonly sourceArn?: string;
  readonly sourceAccount?: string;
  /** Session name of an assumed role. @default the authorizer's `sessionName` option ('local') */
  readonly sessionName?: string;
}

export interface CheckResult {
  readonly action: string;
  readonly resource: string;
  readonly context: Record<string, ContextValue>;
  readonly allowed: boolean;
  readonly result: DecisionResult;
  readonly reason?: string;
  readonly grantedBy: StatementRef[];
  readonly deniedBy: StatementRef[];
}

export interface AuthorizationResult {
  readonly allowed: boolean;
  readonly operation: string;
  readonly principalArn: string;
  /** The ARN AWS would name in the message (assumed-role session for a role). */
  readonly callerArn: string;
  /** The first denied check. */
  readonly denied?: { readonly action: string; readonly resource: string; readonly reason: string };
  readonly checks: CheckResult[];
}

export interface AuthorizerOptions extends PolicyStoreOptions {
  readonly operationsFile?: string;
  /** Session name of assumed roles when a request names none. @default 'local' */
  readonly sessionName?: string;
  /** Raw access-log entries kept (the report's aggregates count all). @default 100000 */
  readonly maxLogEntries?: number;
  /** Share decisions between resources no policy pattern tells apart (resource-classes.ts). @default true */
  readonly resourceClasses?: boolean;
}

export class Authorizer {
  readonly log: AccessLog;
  private readonly evaluator: PolicyEvaluator;
  private readonly sessionName: string;

  /** Reads the deployment's policies and validates them all (a bad template policy fails here, named). */
  static fromDeployment(deployment: LocalDeployment, options: AuthorizerOptions = {}): Authorizer {
    return new Authorizer(buildPolicyStore(deployment, options), OperationTable.load(options.operationsFile), options);
  }

  constructor(
    readonly store: PolicyStore,
    readonly table: OperationTable,
    options: Pick<AuthorizerOptions, 'sessionName' | 'maxLogEntries' | 'resourceClasses'> = {},
  ) {
    this.evaluator = new PolicyEvaluator(store, options.resourceClasses ?? true);
    this.evaluator.validateAll();
    this.sessionName = options.sessionName ?? 'local';
    this.log = new AccessLog(options.maxLogEntries);
  }

  /** The operator principal (admin-like unless configured). */
  get operatorArn(): string {
    return this.store.operatorArn;
  }

  async authorize(request: AuthorizationRequest): Promise<AuthorizationResult> {
    const callerArn = this.callerArn(request);
    const base = { operation: request.operation, principalArn: request.principalArn, callerArn };
    let required: RequiredCheck[];
    try {
      required = this.table.expand(request.operation, request.params ?? {}, this.env(), this.lookups());
    } catch (error) {
      if (!(error instanceof UnmappedOperationError || error instanceof MissingParameterError)) throw error;
      const reason = error instanceof UnmappedOperationError ? 'operation not mapped' : error.message;
      const denied = { action: request.operation, resource: '*', reason };
      this.log.record({ principalArn: this.logArn(request), operation: request.operation, action: request.operation, resource: '*', allowed: false, grantedBy: [] });
      return { ...base, allowed: false, denied, checks: [] };
    }
    const principalArn = this.store.principal(request.principalArn) ? roleArnOf(request.principalArn) : undefined;
    const common = this.commonContext(request);
    const checks: CheckResult[] = [];
    for (const check of required) {
      const context = { ...common, ...check.context };
      if (check.action.startsWith('s3:') && request.secureTransport !== false) context['s3:TlsVersion'] = request.tlsVersion ?? '1.3';
      if (check.action.startsWith('kms:')) context['kms:CallerAccount'] = this.callerAccount(request);
      const decision = await this.evaluator.evaluate({
        callerArn,
        principalArn,
        action: check.action,
        resource: check.resource,
        resourceAccount: resourceAccount(check.resource, this.store.accountId),
        context,
      });
      const reason = decision.allowed ? undefined : unknownPrincipalNote(decision.reason ?? 'denied', principalArn, request.principalArn);
      checks.push({ action: check.action, resource: check.resource, context, allowed: decision.allowed, result: decision.result, reason, grantedBy: decision.grantedBy, deniedBy: decision.deniedBy });
      this.log.record({ principalArn: this.logArn(request), operation: request.operation, action: check.action, resource: check.resource, allowed: decision.allowed, grantedBy: decision.grantedBy });
    }
    const first = checks.find((c) => !c.allowed);
    return { ...base, allowed: !first, ...(first ? { denied: { action: first.action, resource: first.resource, reason: first.reason ?? 'denied' } } : {}), checks };
  }

  /** As `authorize`, throwing AccessDeniedError (name `AccessDenied` for S3.*, else `AccessDeniedException`, or `errorName`) when denied. */
  async assertAuthorized(request: AuthorizationRequest & { readonly errorName?: AccessDeniedName }): Promise<AuthorizationResult> {
    const result = await this.authorize(request);
    if (!result.allowed && result.denied) {
      const { action, resource, reason } = result.denied;
      throw new AccessDeniedError(request.principalArn, action, resource, reason, request.operation, { name: request.errorName, callerArn: result.callerArn });
    }
    return result;
  }

  /**
   * S3's 403-vs-404 rule: a missing object is reported as 404 only to a caller allowed s3:ListBucket on the
   * bucket (here with `s3:prefix` = the key); otherwise 403.
   */
  async mayListBucket(principalArn: string, bucket: string, key: string, options: Pick<AuthorizationRequest, 'secureTransport' | 'sessionName'> = {}): Promise<boolean> {
    const result = await this.authorize({ principalArn, operation: 'S3.ListObjectsV2', params: { Bucket: bucket, Prefix: key }, ...options });
    return result.allowed;
  }

  /** Per principal: actions and resources used, and granted identity statements no check exercised. */
  report(options: { readonly includeIdle?: boolean } = {}): AccessReport {
    return this.log.report(this.store.principals(), options);
  }

  /** Evaluations run by iam-simulate vs answered from the decision cache (same request / equivalent resource). */
  stats(): { evaluations: number; cacheHits: number; classHits: number; logged: number } {
    const e = this.evaluator;
    return { evaluations: e.evaluations, cacheHits: e.cacheHits, classHits: e.classHits, logged: this.log.size };
  }

  private env() {
    return { partition: 'aws', region: this.store.region, accountId: this.store.accountId };
  }

  private lookups() {
    const s = this.store;
    return {
      secretArn: (id: string) => s.secretArn(id),
      topicKmsKeyArn: (arn: string) => s.topicKmsKeyArn(arn),
      secretKmsKeyArn: (arn: string) => s.secretKmsKeyArn(arn),
      bucketKmsKeyArn: (bucket: string) => s.bucketKmsKeyArn(bucket),
    };
  }

  /** The ARN the request is evaluated as: a role acts through an assumed-role session. */
  private callerArn(request: AuthorizationRequest): string {
    const m = /^arn:([^:]+):iam::(\d+):role\/(?:.*\/)?([^/]+)$/.exec(request.principalArn);
    if (!m) return request.principalArn;
    return `arn:${m[1]}:sts::${m[2]}:assumed-role/${m[3]}/${request.sessionName ?? this.sessionName}`;
  }

  private logArn(request: AuthorizationRequest): string {
    return roleArnOf(request.principalArn);
  }

  private callerAccount(request: AuthorizationRequest): string {
    return /^arn:[^:]+:(?:iam|sts)::(\d+):/.exec(request.principalArn)?.[1] ?? this.store.accountId;
  }

  /** Global context keys of the request (aws:SecureTransport, aws:PrincipalArn, aws:PrincipalAccount, aws:SourceArn, …). */
  private commonContext(request: AuthorizationRequest): Record<string, ContextValue> {
    const context: Record<string, ContextValue> = {
      'aws:SecureTransport': String(request.secureTransport ?? true),
      'aws:RequestedRegion': this.store.region,
    };
    if (isServicePrincipal(request.principalArn)) {
      context['aws:PrincipalServiceName'] = request.principalArn;
    } else {
      const arn = roleArnOf(request.principalArn);
      context['aws:PrincipalArn'] = arn;
      context['aws:PrincipalAccount'] = this.callerAccount(request);
      context['aws:PrincipalType'] = arn.includes(':role/') ? 'AssumedRole' : arn.includes(':user/') ? 'User' : 'Account';
    }
    if (request.sourceArn) context['aws:SourceArn'] = request.sourceArn;
    if (request.sourceAccount) context['aws:SourceAccount'] = request.sourceAccount;
    return context;
  }
}

function isServicePrincipal(arn: string): boolean {
  return !arn.startsWith('arn:') && arn.endsWith('.amazonaws.com');
}

/** The account that owns a resource: the ARN's account field, else (S3, `*`) the deployment's. */
function resourceAccount(resource: string, fallback: string): string {
  const account = resource.split(':')[4];
  return account && /^\d{12}$/.test(account) ? account : fallback;
}

function unknownPrincipalNote(reason: string, storeArn: string | undefined, requested: string): string {
  if (storeArn || isServicePrincipal(requested)) return reason;
  return `${reason} (${requested} is not a principal of the deployment: it has no identity policies)`;
}
