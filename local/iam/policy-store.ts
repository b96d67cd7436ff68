/**
 * The policy store's data and its lookups: principals with their identity policies, trust policy and boundary;
 * resource policies by the resource they protect; which role each function / state machine / schedule / EMR
 * job / custom resource runs as; and the KMS keys of topics, buckets and secrets. Built by policies.ts.
 */

export interface PolicyStatement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Principal?: unknown;
  NotPrincipal?: unknown;
  Action?: string | string[];
  NotAction?: string | string[];
  Resource?: string | string[];
  NotResource?: string | string[];
  Condition?: Record<string, Record<string, string | string[]>>;
}

export interface PolicyDocument {
  Version?: string;
  Id?: string;
  Statement: PolicyStatement[];
}

export interface NamedPolicy {
  /** Policy name (inline / AWS::IAM::Policy PolicyName, managed policy name, or the AWS managed policy path). */
  readonly name: string;
  readonly document: PolicyDocument;
  /** Where it comes from: `<stack>/<logicalId>`, the AWS managed policy ARN, or `operator`. */
  readonly source: string;
}

export interface Principal {
  /** `arn:aws:iam::<account>:role/<name>` (as the deployment names the role) or the operator's ARN. */
  readonly arn: string;
  readonly kind: 'role' | 'user';
  readonly name: string;
  readonly source: string;
  readonly identityPolicies: NamedPolicy[];
  permissionsBoundary?: NamedPolicy;
  readonly trustPolicy?: PolicyDocument;
}

export interface ResourcePolicy {
  readonly kind: 'bucket' | 'key' | 'topic' | 'function' | 'secret' | 'role-trust';
  /** The bucket ARN (covers its objects), key ARN, topic ARN, unqualified function ARN, secret ARN or role ARN. */
  readonly resourceArn: string;
  readonly document: PolicyDocument;
  readonly sources: string[];
}

export interface Binding {
  /** Function ARN, state machine ARN, schedule name, job role ARN, or `<stack>/<logicalId>` of a custom resource. */
  readonly id: string;
  readonly logicalId: string;
  roleArn: string;
  /** Schedules: the target; custom resources: the ServiceToken (function ARN). */
  readonly targetArn?: string;
}

export interface Bindings {
  readonly functions: Binding[];
  readonly stateMachines: Binding[];
  readonly schedules: Binding[];
  /** Roles that trust emr-serverless.amazonaws.com (what job runs may run as). */
  readonly jobRoles: Binding[];
  readonly customResources: Binding[];
}

export interface PolicyStoreData {
  readonly accountId: string;
  readonly region: string;
  readonly operatorArn: string;
  readonly principals: Map<string, Principal>;
  readonly resourcePolicies: ResourcePolicy[];
  readonly bindings: Bindings;
  readonly topicKeys: Map<string, string>;
  readonly bucketKeys: Map<string, string>;
  readonly secrets: Array<{ arn: string; name: string; kmsKeyArn?: string }>;
}

export class PolicyStore {
  readonly accountId: string;
  readonly region: string;
  readonly operatorArn: string;
  readonly bindings: Bindings;
  private readonly data: PolicyStoreData;
  private readonly byResource = new Map<string, ResourcePolicy>();

  constructor(data: PolicyStoreData) {
    this.data = data;
    this.accountId = data.accountId;
    this.region = data.region;
    this.operatorArn = data.operatorArn;
    this.bindings = data.bindings;
    for (const policy of data.resourcePolicies) this.byResource.set(policy.resourceArn, policy);
  }

  principals(): Principal[] {
    return [...this.data.principals.values()];
  }

  /** A principal by its ARN; an assumed-role session ARN (`arn:aws:sts::<acct>:assumed-role/<role>/<session>`) finds its role. */
  principal(arn: string): Principal | undefined {
    return this.data.principals.get(roleArnOf(arn));
  }

  resourcePolicies(): ResourcePolicy[] {
    return [...this.byResource.values()];
  }

  /**
   * The resource-based policy that applies to `action` on `resourceArn`: the bucket policy for a bucket or an
   * object in it, the key policy, the topic policy, the function's policy (any qualifier), the secret's policy,
   * or — for sts:AssumeRole* on a role — its trust policy. iam:PassRole has none.
   */
  resourcePolicyFor(action: string, resourceArn: string): ResourcePolicy | undefined {
    const service = action.split(':')[0].toLowerCase();
    if (service === 's3') {
      const bucket = /^arn:[^:]+:s3:::([^/]+)/.exec(resourceArn)?.[1];
      return bucket ? this.byResource.get(`arn:aws:s3:::${bucket}`) : undefined;
    }
    if (service === 'lambda') return this.byResource.get(resourceArn.replace(/^(arn:[^:]+:lambda:[^:]+:\d+:function:[^:]+):.+$/, '$1'));
    if (service === 'secretsmanager') {
      return this.byResource.get(resourceArn) ?? this.resourcePolicies().find((p) => p.kind === 'secret' && p.resourceArn.startsWith(`${resourceArn}-`));
    }
    if (service === 'sts' && action.toLowerCase().startsWith('sts:assumerole')) {
      const trust = this.principal(resourceArn)?.trustPolicy;
      return trust ? { kind: 'role-trust', resourceArn, document: trust, sources: [this.principal(resourceArn)!.source] } : undefined;
    }
    if (service === 'iam') return undefined;
    return this.byResource.get(resourceArn);
  }

  /** The role a Lambda function runs as (function ARN, qualified or not, or its name). */
  functionRole(functionArnOrName: string): string | undefined {
    const unqualified = functionArnOrName.replace(/^(arn:[^:]+:lambda:[^:]+:\d+:function:[^:]+):.+$/, '$1');
    return this.bindings.functions.find((f) => f.id === unqualified || f.id.endsWith(`:function:${functionArnOrName}`))?.roleArn;
  }

  stateMachineRole(stateMachineArn: string): string | undefined {
    return this.bindings.stateMachines.find((s) => s.id === stateMachineArn)?.roleArn;
  }

  scheduleRole(scheduleName: string): string | undefined {
    return this.bindings.schedules.find((s) => s.id === scheduleName || s.logicalId.endsWith(`/${scheduleName}`))?.roleArn;
  }

  /** The role the custom resource's provider function runs as (`<stack>/<logicalId>` or the logical id). */
  customResourceRole(id: string): string | undefined {
    return this.bindings.customResources.find((c) => c.id === id || c.id.endsWith(`/${id}`))?.roleArn;
  }

  topicKmsKeyArn(topicArn: string): string | undefined {
    return this.data.topicKeys.get(topicArn);
  }

  bucketKmsKeyArn(bucket: string): string | undefined {
    return this.data.bucketKeys.get(bucket);
  }

  /** A secret of the templates by ARN (full or without the random suffix) or name → its ARN. */
  secretArn(idOrName: string): string | undefined {
    return this.data.secrets.find((s) => s.arn === idOrName || s.name === idOrName || s.arn.startsWith(`${idOrName}-`))?.arn;
  }

  /** The customer managed key of a secret, if it has one (none = the AWS managed aws/secretsmanager key). */
  secretKmsKeyArn(secretArn: string): string | undefined {
    return this.data.secrets.find((s) => s.arn === secretArn)?.kmsKeyArn;
  }
}

/** `arn:aws:sts::<acct>:assumed-role/<role>/<session>` → `arn:aws:iam::<acct>:role/<role>`; other ARNs unchanged. */
export function roleArnOf(arn: string): string {
  const m = /^arn:([^:]+):sts::(\d+):assumed-role\/([^/]+)\/.+$/.exec(arn);
  return m ? `arn:${m[1]}:iam::${m[2]}:role/${m[3]}` : arn;
}
