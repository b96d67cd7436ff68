/**
 * The IAM policy store of a local deployment, read from the synthesized CloudFormation templates: every
 * `AWS::IAM::Role` as a principal (identity policies — inline, `AWS::IAM::Policy` / `AWS::IAM::ManagedPolicy`
 * attached through `Roles`, `ManagedPolicyArns` incl. AWS managed ones from aws-managed-policies.json — trust
 * policy, permissions boundary), the resource policies (bucket, KMS key, topic, Lambda permission, secret), which
 * role each function / state machine / schedule / EMR job / custom resource runs as, and the operator principal.
 * Intrinsics are resolved by the deployment itself (`LocalDeployment.resolve`), so ARNs match the local names.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { CfnResource, LocalDeployment, StackTemplate } from '../deployment';
import type { Json } from '../intrinsics';
import { type Bindings, type NamedPolicy, type PolicyDocument, type PolicyStatement, PolicyStore, type Principal, type ResourcePolicy } from './policy-store';

export type { Binding, NamedPolicy, PolicyDocument, Principal, ResourcePolicy } from './policy-store';
export { PolicyStore } from './policy-store';

export const AWS_MANAGED_POLICIES_FILE = path.join(__dirname, 'aws-managed-policies.json');

export interface OperatorOptions {
  /** @default arn:aws:iam::<account>:user/local-operator */
  readonly arn?: string;
  /** @default one admin-like policy: Allow * on * */
  readonly policies?: NamedPolicy[];
}

export interface PolicyStoreOptions {
  readonly operator?: OperatorOptions;
  readonly awsManagedPoliciesFile?: string;
}

/** A template attaches a policy this store cannot know (an AWS managed policy not in the data file, or an ARN not in the templates). */
export class UnknownManagedPolicyError extends Error {
  override readonly name = 'UnknownManagedPolicyError';
}

const ADMIN_POLICY: PolicyDocument = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] };

interface Located {
  readonly stack: StackTemplate;
  readonly logicalId: string;
  readonly resource: CfnResource;
}

export function buildPolicyStore(deployment: LocalDeployment, options: PolicyStoreOptions = {}): PolicyStore {
  const account = deployment.accountId;
  const awsManaged = (JSON.parse(readFileSync(options.awsManagedPoliciesFile ?? AWS_MANAGED_POLICIES_FILE, 'utf8')) as {
    policies: Record<string, { document: PolicyDocument }>;
  }).policies;
  const resources: Located[] = [];
  for (const stack of deployment.stacks) {
    for (const [logicalId, resource] of Object.entries(stack.template.Resources ?? {})) {
      if (resource.Condition && !deployment.resolve(stack, { 'Fn::If': [resource.Condition, true, false] })) continue;
      resources.push({ stack, logicalId, resource });
    }
  }
  const resolve = (r: Located, value: Json | undefined): Json => (value === undefined ? null : deployment.resolve(r.stack, refsAsCloudFormation(r.stack, value)));
  const props = (r: Located) => r.resource.Properties ?? {};
  const ofType = (...types: string[]) => resources.filter((r) => types.includes(r.resource.Type));
  const find = (stack: StackTemplate, logicalId: string) => resources.find((r) => r.stack === stack && r.logicalId === logicalId);
  const refTarget = (r: Located, value: Json | undefined): Located | undefined => {
    const ref = value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, Json>).Ref : undefined;
    return typeof ref === 'string' ? find(r.stack, ref) : undefined;
  };
  const source = (r: Located) => `${r.stack.stackName}/${r.logicalId}`;

  // principals: every role, plus the operator
  const principals = new Map<string, Principal>();
  const roleByName = new Map<string, Principal>();
  const roleByLogical = new Map<Located, Principal>();
  for (const r of ofType('AWS::IAM::Role')) {
    const p = props(r);
    const principal: Principal = {
      arn: String(resolve(r, { 'Fn::GetAtt': [r.logicalId, 'Arn'] })),
      kind: 'role',
      name: String(resolve(r, { Ref: r.logicalId })),
      source: source(r),
      identityPolicies: [],
      trustPolicy: p.AssumeRolePolicyDocument ? (normalizeDocument(resolve(r, p.AssumeRolePolicyDocument)) as PolicyDocument) : undefined,
    };
    for (const inline of (p.Policies as Array<{ PolicyName: Json; PolicyDocument: Json }> | undefined) ?? []) {
      principal.identityPolicies.push({ name: String(resolve(r, inline.PolicyName)), document: normalizeDocument(resolve(r, inline.PolicyDocument)), source: source(r) });
    }
    principals.set(principal.arn, principal);
    roleByName.set(principal.name, principal);
    roleByLogical.set(r, principal);
  }
  const managedPolicy = (r: Located, arnValue: Json): NamedPolicy => {
    const inTemplate = refTarget(r, arnValue);
    if (inTemplate && inTemplate.resource.Type === 'AWS::IAM::ManagedPolicy') return customerManaged(inTemplate);
    const arn = String(resolve(r, arnValue));
    const match = /^arn:aws[a-z-]*:iam::aws:policy\/(.+)$/.exec(arn);
    if (match) {
      const known = awsManaged[match[1]];
      if (!known) throw new UnknownManagedPolicyError(`${source(r)} attaches the AWS managed policy ${arn}, which local/iam/aws-managed-policies.json does not have: add its document`);
      return { name: match[1], document: known.document, source: arn };
    }
    const local = ofType('AWS::IAM::ManagedPolicy').find((m) => managedPolicyArn(m) === arn);
    if (local) return customerManaged(local);
    throw new UnknownManagedPolicyError(`${source(r)} attaches the managed policy ${arn}, which is not in the synthesized templates`);
  };
  const managedPolicyArn = (m: Located) => `arn:aws:iam::${account}:policy/${String(resolve(m, props(m).ManagedPolicyName ?? m.logicalId))}`;
  const customerManaged = (m: Located): NamedPolicy => ({
    name: String(resolve(m, props(m).ManagedPolicyName ?? m.logicalId)),
    document: normalizeDocument(resolve(m, props(m).PolicyDocument)),
    source: source(m),
  });
  const attach = (r: Located, roles: Json | undefined, policy: NamedPolicy) => {
    for (const role of (roles as Json[] | undefined) ?? []) {
      const target = roleByLogical.get(refTarget(r, role) as Located) ?? roleByName.get(String(resolve(r, role)));
      if (target && !target.identityPolicies.some((x) => x.source === policy.source && x.name === policy.name)) target.identityPolicies.push(policy);
    }
  };
  for (const r of ofType('AWS::IAM::Policy')) {
    attach(r, props(r).Roles, { name: String(resolve(r, props(r).PolicyName)), document: normalizeDocument(resolve(r, props(r).PolicyDocument)), source: source(r) });
  }
  for (const r of ofType('AWS::IAM::ManagedPolicy')) attach(r, props(r).Roles, customerManaged(r));
  for (const [r, principal] of roleByLogical) {
    for (const arn of (props(r).ManagedPolicyArns as Json[] | undefined) ?? []) {
      const policy = managedPolicy(r, arn);
      if (!principal.identityPolicies.some((x) => x.source === policy.source)) principal.identityPolicies.push(policy);
    }
    if (props(r).PermissionsBoundary !== undefined) principal.permissionsBoundary = managedPolicy(r, props(r).PermissionsBoundary as Json);
  }
  const operatorArn = options.operator?.arn ?? `arn:aws:iam::${account}:user/local-operator`;
  principals.set(operatorArn, {
    arn: operatorArn,
    kind: operatorArn.includes(':role/') ? 'role' : 'user',
    name: operatorArn.split('/').pop()!,
    source: 'operator',
    identityPolicies: options.operator?.policies ?? [{ name: 'local-operator-admin', document: ADMIN_POLICY, source: 'operator' }],
  });

  // resource policies
  const resourcePolicies: ResourcePolicy[] = [];
  const addResourcePolicy = (kind: ResourcePolicy['kind'], resourceArn: string, document: PolicyDocument, from: string) => {
    const existing = resourcePolicies.find((p) => p.resourceArn === resourceArn);
    if (existing) {
      existing.document.Statement.push(...document.Statement);
      existing.sources.push(from);
    } else resourcePolicies.push({ kind, resourceArn, document: { Version: '2012-10-17', Statement: [...document.Statement] }, sources: [from] });
  };
  for (const r of ofType('AWS::S3::BucketPolicy')) {
    addResourcePolicy('bucket', `arn:aws:s3:::${String(resolve(r, props(r).Bucket))}`, normalizeDocument(resolve(r, props(r).PolicyDocument)), source(r));
  }
  for (const r of ofType('AWS::KMS::Key')) {
    if (props(r).KeyPolicy) addResourcePolicy('key', String(resolve(r, { 'Fn::GetAtt': [r.logicalId, 'Arn'] })), normalizeDocument(resolve(r, props(r).KeyPolicy)), source(r));
  }
  for (const r of ofType('AWS::SNS::TopicPolicy')) {
    for (const topic of (props(r).Topics as Json[] | undefined) ?? []) addResourcePolicy('topic', String(resolve(r, topic)), normalizeDocument(resolve(r, props(r).PolicyDocument)), source(r));
  }
  for (const r of ofType('AWS::Lambda::Permission')) {
    const fn = refTarget(r, props(r).FunctionName);
    const arn = fn ? String(resolve(fn, { 'Fn::GetAtt': [fn.logicalId, 'Arn'] })) : lambdaArn(String(resolve(r, props(r).FunctionName)), deployment);
    addResourcePolicy('function', arn.replace(/^(arn:[^:]+:lambda:[^:]+:\d+:function:[^:]+):.+$/, '$1'), { Statement: [lambdaPermissionStatement(r.logicalId, props(r), (v) => resolve(r, v), arn)] }, source(r));
  }
  const secretArnOf = (r: Located, value: Json | undefined): string => {
    const target = refTarget(r, value);
    if (target?.resource.Type === 'AWS::SecretsManager::SecretTargetAttachment') return secretArnOf(target, props(target).SecretId);
    return String(resolve(r, value ?? null));
  };
  for (const r of ofType('AWS::SecretsManager::ResourcePolicy')) {
    addResourcePolicy('secret', secretArnOf(r, props(r).SecretId), normalizeDocument(resolve(r, props(r).ResourcePolicy)), source(r));
  }

  // encryption keys, secrets, and who runs as whom
  const keyArnOf = (r: Located, value: Json | undefined): string | undefined => {
    if (value === undefined) return undefined;
    const target = refTarget(r, value);
    if (target?.resource.Type === 'AWS::KMS::Key') return String(resolve(target, { 'Fn::GetAtt': [target.logicalId, 'Arn'] }));
    const id = String(resolve(r, value));
    const alias = ofType('AWS::KMS::Alias').find((a) => String(resolve(a, props(a).AliasName)) === id.replace(/^arn:[^:]+:kms:[^:]+:\d+:/, ''));
    if (alias) return keyArnOf(alias, props(alias).TargetKeyId);
    if (/^alias\/aws\//.test(id)) return undefined; // AWS managed key: its policy admits the account's principals via the service
    return id.startsWith('arn:') ? id : `arn:aws:kms:${deployment.region}:${account}:key/${id}`;
  };
  const bindings: Bindings = { functions: [], stateMachines: [], schedules: [], jobRoles: [], customResources: [] };
  const topicKeys = new Map<string, string>();
  const bucketKeys = new Map<string, string>();
  const secrets: Array<{ arn: string; name: string; kmsKeyArn?: string }> = [];
  for (const r of resources) {
    const p = props(r);
    switch (r.resource.Type) {
      case 'AWS::SNS::Topic': {
        const key = keyArnOf(r, p.KmsMasterKeyId);
        if (key) topicKeys.set(String(resolve(r, { Ref: r.logicalId })), key);
        break;
      }
      case 'AWS::S3::Bucket': {
        const rule = ((p.BucketEncryption as { ServerSideEncryptionConfiguration?: Array<{ ServerSideEncryptionByDefault?: Record<string, Json> }> } | undefined)
          ?.ServerSideEncryptionConfiguration ?? [])[0]?.ServerSideEncryptionByDefault;
        const key = rule && String(rule.SSEAlgorithm).startsWith('aws:kms') ? keyArnOf(r, rule.KMSMasterKeyID) : undefined;
        if (key) bucketKeys.set(String(resolve(r, { Ref: r.logicalId })), key);
        break;
      }
      case 'AWS::SecretsManager::Secret': {
        const arn = String(resolve(r, { Ref: r.logicalId }));
        secrets.push({ arn, name: String(resolve(r, p.Name ?? null) ?? ''), kmsKeyArn: keyArnOf(r, p.KmsKeyId) });
        break;
      }
      case 'AWS::Lambda::Function':
        bindings.functions.push({ id: String(resolve(r, { 'Fn::GetAtt': [r.logicalId, 'Arn'] })), logicalId: source(r), roleArn: String(resolve(r, p.Role)) });
        break;
      case 'AWS::StepFunctions::StateMachine':
        bindings.stateMachines.push({ id: String(resolve(r, { Ref: r.logicalId })), logicalId: source(r), roleArn: String(resolve(r, p.RoleArn)) });
        break;
      case 'AWS::Scheduler::Schedule': {
        const target = (p.Target ?? {}) as Record<string, Json>;
        bindings.schedules.push({ id: String(resolve(r, p.Name ?? r.logicalId)), logicalId: source(r), roleArn: String(resolve(r, target.RoleArn)), targetArn: String(resolve(r, target.Arn)) });
        break;
      }
      default:
        if (r.resource.Type.startsWith('Custom::') || r.resource.Type === 'AWS::CloudFormation::CustomResource') {
          bindings.customResources.push({ id: source(r), logicalId: source(r), roleArn: '', targetArn: String(resolve(r, p.ServiceToken)) });
        }
    }
  }
  for (const custom of bindings.customResources) {
    custom.roleArn = bindings.functions.find((f) => f.id === custom.targetArn)?.roleArn ?? '';
  }
  for (const principal of principals.values()) {
    if (trustsService(principal.trustPolicy, 'emr-serverless.amazonaws.com')) bindings.jobRoles.push({ id: principal.arn, logicalId: principal.source, roleArn: principal.arn });
  }
  return new PolicyStore({ accountId: account, region: deployment.region, operatorArn, principals, resourcePolicies, bindings, topicKeys, bucketKeys, secrets });
}

/**
 * `Ref` of an `AWS::SecretsManager::SecretTargetAttachment` is the secret's ARN in CloudFormation (the local
 * deployment has no case for it): replaced by the attachment's SecretId before resolving.
 */
function refsAsCloudFormation(stack: StackTemplate, value: Json): Json {
  if (Array.isArray(value)) return value.map((v) => refsAsCloudFormation(stack, v));
  if (value === null || typeof value !== 'object') return value;
  const ref = (value as Record<string, Json>).Ref;
  const target = typeof ref === 'string' ? stack.template.Resources?.[ref] : undefined;
  if (target?.Type === 'AWS::SecretsManager::SecretTargetAttachment' && target.Properties?.SecretId !== undefined) {
    return refsAsCloudFormation(stack, target.Properties.SecretId);
  }
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, refsAsCloudFormation(stack, v)]));
}

function lambdaArn(name: string, deployment: LocalDeployment): string {
  if (name.startsWith('arn:')) return name;
  return `arn:aws:lambda:${deployment.region}:${deployment.accountId}:function:${name}`;
}

/** An `AWS::Lambda::Permission` as the statement Lambda adds to the function's resource policy. */
function lambdaPermissionStatement(sid: string, p: Record<string, Json>, resolve: (v: Json) => Json, resource: string): PolicyStatement {
  const principal = String(resolve(p.Principal));
  const Principal =
    principal === '*' ? '*' : /^\d{12}$/.test(principal) ? { AWS: `arn:aws:iam::${principal}:root` } : principal.startsWith('arn:') ? { AWS: principal } : { Service: principal };
  const condition: Record<string, Record<string, string>> = {};
  const add = (op: string, key: string, value: Json | undefined) => {
    if (value !== undefined && value !== null) (condition[op] ??= {})[key] = String(resolve(value));
  };
  add('ArnLike', 'aws:SourceArn', p.SourceArn);
  add('StringEquals', 'aws:SourceAccount', p.SourceAccount);
  add('StringEquals', 'aws:PrincipalOrgID', p.PrincipalOrgID);
  add('StringEquals', 'lambda:FunctionUrlAuthType', p.FunctionUrlAuthType);
  return { Sid: sid, Effect: 'Allow', Principal, Action: String(resolve(p.Action)), Resource: resource, ...(Object.keys(condition).length ? { Condition: condition } : {}) };
}

function trustsService(trust: PolicyDocument | undefined, service: string): boolean {
  return (trust?.Statement ?? []).some((s) => {
    const services = (s.Principal as { Service?: string | string[] } | undefined)?.Service;
    return s.Effect === 'Allow' && [services ?? []].flat().includes(service);
  });
}

/** A resolved policy document with `Statement` as a list and condition values as strings (CFN allows numbers and booleans). */
export function normalizeDocument(doc: Json): PolicyDocument {
  const d = (doc ?? {}) as Record<string, Json>;
  const statements = [d.Statement ?? []].flat() as Array<Record<string, Json>>;
  return {
    ...(d.Version ? { Version: String(d.Version) } : { Version: '2012-10-17' }),
    ...(d.Id ? { Id: String(d.Id) } : {}),
    Statement: statements.map((s) => {
      if (!s.Condition || typeof s.Condition !== 'object') return s;
      const condition = Object.fromEntries(
        Object.entries(s.Condition as Record<string, Record<string, Json>>).map(([op, keys]) => [
          op,
          Object.fromEntries(Object.entries(keys).map(([k, v]) => [k, Array.isArray(v) ? v.map((x) => String(x)) : String(v)])),
        ]),
      );
      return { ...s, Condition: condition };
    }),
  } as unknown as PolicyDocument;
}
