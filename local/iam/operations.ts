/**
 * The operation → IAM action table (`operations.json`, taken from the AWS Service Authorization Reference and the
 * Step Functions integration pages): loads it and expands one request — an operation name such as `S3.HeadObject`
 * or a Step Functions Task Resource such as `arn:aws:states:::sns:publish`, plus the request's parameters — into
 * the checks IAM makes for it: each an action, the resource ARN it is authorized on, and the request context keys.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';

export type ContextValue = string | string[];

/** One authorization IAM performs for a request. */
export interface RequiredCheck {
  readonly action: string;
  readonly resource: string;
  readonly context: Record<string, ContextValue>;
}

export interface CheckSpec {
  readonly action: string;
  readonly resource: string;
  readonly context?: Record<string, string>;
  readonly when?: string;
  readonly unless?: string;
  readonly forEach?: string;
  readonly tags?: string;
}

export interface OperationSpec {
  readonly note?: string;
  readonly source?: string;
  readonly checks: CheckSpec[];
}

export interface ServiceSource {
  readonly name: string;
  readonly source: string;
  readonly retrieved: string;
}

interface OperationsFile {
  readonly services: Record<string, ServiceSource>;
  readonly operations: Record<string, OperationSpec>;
}

/** Where the ARNs are: partition, region and account of the local deployment. */
export interface ArnEnvironment {
  readonly partition: string;
  readonly region: string;
  readonly accountId: string;
}

/** What the deployment knows that a request does not say (a topic's KMS key, a secret's full ARN, …). */
export interface DerivationLookups {
  secretArn?(secretId: string): string | undefined;
  topicKmsKeyArn?(topicArn: string): string | undefined;
  secretKmsKeyArn?(secretArn: string): string | undefined;
  bucketKmsKeyArn?(bucket: string): string | undefined;
}

export class UnmappedOperationError extends Error {
  override readonly name = 'UnmappedOperationError';
}

export class MissingParameterError extends Error {
  override readonly name = 'MissingParameterError';
}

export const OPERATIONS_FILE = path.join(__dirname, 'operations.json');

/** `arn:aws-cn:states:::sns:publish` → `arn:aws:states:::sns:publish` (the table is partition-neutral). */
export function normalizeOperation(operation: string): string {
  return operation.replace(/^arn:aws[a-z-]*:states:::/, 'arn:aws:states:::');
}

export class OperationTable {
  private readonly operationsByKey: Map<string, OperationSpec>;

  static load(file: string = OPERATIONS_FILE): OperationTable {
    return new OperationTable(JSON.parse(readFileSync(file, 'utf8')) as OperationsFile);
  }

  constructor(private readonly data: OperationsFile) {
    this.operationsByKey = new Map(Object.entries(data.operations));
    for (const [key, spec] of this.operationsByKey) {
      for (const check of spec.checks) {
        const service = check.action.split(':')[0];
        if (!data.services[service]) throw new Error(`operations.json: ${key} uses ${check.action}, but no source is listed for service "${service}"`);
      }
    }
  }

  operations(): string[] {
    return [...this.operationsByKey.keys()];
  }

  has(operation: string): boolean {
    return this.operationsByKey.has(normalizeOperation(operation));
  }

  spec(operation: string): OperationSpec | undefined {
    return this.operationsByKey.get(normalizeOperation(operation));
  }

  /** The documentation the mapping of `operation` was taken from (one entry per service it touches). */
  sources(operation: string): ServiceSource[] {
    const spec = this.spec(operation);
    if (!spec) return [];
    const services = [...new Set(spec.checks.map((c) => c.action.split(':')[0]))];
    const out = services.map((s) => this.data.services[s]);
    if (spec.source) out.unshift({ name: operation, source: spec.source, retrieved: this.data.services['states-integrations']?.retrieved ?? '' });
    return out;
  }

  /** The checks `operation` needs with these parameters. Throws UnmappedOperationError / MissingParameterError. */
  expand(operation: string, params: Record<string, unknown>, env: ArnEnvironment, lookups: DerivationLookups = {}): RequiredCheck[] {
    const spec = this.spec(operation);
    if (!spec) throw new UnmappedOperationError(`operation not mapped: ${operation}`);
    const scope = deriveParams(params, env, lookups);
    const checks: RequiredCheck[] = [];
    for (const check of spec.checks) {
      if (check.when !== undefined && !present(lookup(scope, check.when))) continue;
      if (check.unless !== undefined && present(lookup(scope, check.unless))) continue;
      const items = check.forEach !== undefined ? lookup(scope, check.forEach) : [undefined];
      if (!Array.isArray(items)) throw new MissingParameterError(`${operation}: request parameter "${check.forEach}" must be a list`);
      for (const item of items) {
        const itemScope = item === undefined ? scope : { ...scope, item };
        const resource = render(check.resource, itemScope, env, operation);
        if (resource === undefined) continue;
        if (Array.isArray(resource)) throw new MissingParameterError(`${operation}: the resource of ${check.action} must be one ARN, got a list`);
        const context: Record<string, ContextValue> = {};
        for (const [key, template] of Object.entries(check.context ?? {})) {
          const value = render(template, itemScope, env, operation);
          if (value !== undefined) context[key] = value;
        }
        if (check.tags !== undefined) Object.assign(context, tagContext(lookup(itemScope, check.tags)));
        checks.push({ action: check.action, resource, context });
      }
    }
    return checks;
  }
}

/** Request parameters plus the derived ones the table refers to (see operations.json "description"). */
function deriveParams(params: Record<string, unknown>, env: ArnEnvironment, lookups: DerivationLookups): Record<string, unknown> {
  const { partition: p, region: r, accountId: a } = env;
  const get = (name: string) => lookup(params, name);
  const derived: Record<string, unknown> = { ...params };
  const copySource = get('CopySource');
  if (typeof copySource === 'string') derived.CopySource = parseCopySource(copySource);
  const functionName = get('FunctionName');
  if (typeof functionName === 'string') derived.FunctionArn = functionArn(functionName, env);
  const secretId = get('SecretId');
  if (typeof secretId === 'string') {
    const secretArn = lookups.secretArn?.(secretId) ?? (secretId.startsWith('arn:') ? secretId : `arn:${p}:secretsmanager:${r}:${a}:secret:${secretId}`);
    derived.SecretArn = secretArn;
    const key = lookups.secretKmsKeyArn?.(secretArn);
    if (key) derived.SecretKmsKeyArn = key;
  }
  const topicArn = get('TopicArn');
  if (typeof topicArn === 'string') {
    const key = lookups.topicKmsKeyArn?.(topicArn);
    if (key) derived.TopicKmsKeyArn = key;
  }
  const bucket = get('Bucket');
  if (typeof bucket === 'string') {
    const key = lookups.bucketKmsKeyArn?.(bucket);
    if (key) derived.BucketKmsKeyArn = key;
  }
  const stackName = get('StackName');
  if (typeof stackName === 'string') derived.StackArn = stackName.startsWith('arn:') ? stackName : `arn:${p}:cloudformation:${r}:${a}:stack/${stackName}/local`;
  return derived;
}

/** `bucket/key`, `/bucket/key?versionId=…`, URL-encoded (the CopySource header) → its parts. */
export function parseCopySource(raw: string): { Bucket: string; Key: string; VersionId?: string; Raw: string } {
  const [pathPart, query] = raw.replace(/^\//, '').split('?', 2);
  const slash = pathPart.indexOf('/');
  if (slash <= 0) throw new MissingParameterError(`CopySource "${raw}" is not "bucket/key"`);
  const versionId = query ? new URLSearchParams(query).get('versionId') ?? undefined : undefined;
  return {
    Bucket: decodeURIComponent(pathPart.slice(0, slash)),
    Key: decodeURIComponent(pathPart.slice(slash + 1)),
    ...(versionId ? { VersionId: versionId } : {}),
    Raw: raw,
  };
}

/** A Lambda FunctionName (name, `name:qualifier`, partial ARN `acct:function:name`, or ARN) → the function ARN. */
export function functionArn(name: string, env: ArnEnvironment): string {
  if (name.startsWith('arn:')) return name;
  if (/^\d{12}:function:/.test(name)) return `arn:${env.partition}:lambda:${env.region}:${name}`;
  return `arn:${env.partition}:lambda:${env.region}:${env.accountId}:function:${name}`;
}

/** Tags as `{k: v}` or `[{Key, Value}]` → aws:RequestTag/<k> and aws:TagKeys. */
function tagContext(tags: unknown): Record<string, ContextValue> {
  const entries: Array<[string, string]> = Array.isArray(tags)
    ? tags.map((t) => [String((t as { Key?: unknown }).Key), String((t as { Value?: unknown }).Value ?? '')])
    : tags && typeof tags === 'object'
      ? Object.entries(tags as Record<string, unknown>).map(([k, v]) => [k, String(v)])
      : [];
  if (entries.length === 0) return {};
  const context: Record<string, ContextValue> = Object.fromEntries(entries.map(([k, v]) => [`aws:RequestTag/${k}`, v]));
  context['aws:TagKeys'] = entries.map(([k]) => k);
  return context;
}

const VARIABLE = /\$\{([^}?=]+)(\?|=([^}]*))?\}/g;

/** Fills a template; undefined when an optional (`?`) variable is missing. */
function render(template: string, scope: Record<string, unknown>, env: ArnEnvironment, operation: string): ContextValue | undefined {
  let missingOptional = false;
  const whole = /^\$\{([^}?=]+)(\?|=([^}]*))?\}$/.exec(template);
  const valueOf = (name: string, modifier: string | undefined, fallback: string | undefined): unknown => {
    const builtin = name === 'Partition' ? env.partition : name === 'Region' ? env.region : name === 'Account' ? env.accountId : undefined;
    const value = builtin ?? lookup(scope, name);
    if (present(value)) return value;
    if (modifier === '?') {
      missingOptional = true;
      return '';
    }
    if (fallback !== undefined) return fallback;
    throw new MissingParameterError(`${operation}: missing request parameter "${name}"`);
  };
  if (whole) {
    const value = valueOf(whole[1], whole[2], whole[3]);
    if (missingOptional) return undefined;
    if (Array.isArray(value)) return value.map(String);
    return String(value);
  }
  const out = template.replace(VARIABLE, (_m, name: string, modifier: string | undefined, fallback: string | undefined) =>
    String(valueOf(name, modifier, fallback)),
  );
  return missingOptional ? undefined : out;
}

/** A parameter by dotted path, each segment matched case-insensitively (`applicationId` ≡ `ApplicationId`). */
function lookup(scope: unknown, dotted: string): unknown {
  let node: unknown = scope;
  for (const segment of dotted.split('.')) {
    if (node === null || typeof node !== 'object') return undefined;
    const record = node as Record<string, unknown>;
    if (segment in record) {
      node = record[segment];
      continue;
    }
    const lower = segment.toLowerCase();
    const key = Object.keys(record).find((k) => k.toLowerCase() === lower);
    node = key === undefined ? undefined : record[key];
  }
  return node;
}

function present(value: unknown): boolean {
  if (value === undefined || value === null || value === '') return false;
  if (Array.isArray(value)) return value.length > 0;
  if (typeof value === 'object') return Object.keys(value as object).length > 0;
  return true;
}
