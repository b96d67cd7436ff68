import type { Template } from 'aws-cdk-lib/assertions';

/**
 * Just enough IAM policy evaluation to ask a synthesized template the questions AWS asks at run time: "may this
 * role do <action> on <resource> with <request context>?" — explicit Deny wins, otherwise any matching Allow.
 * Supports what this project's policies use (wildcards in actions/resources; StringEquals/StringLike/ArnLike/
 * ArnEquals/Null and their ForAllValues:/ForAnyValue: forms); an unknown condition operator throws, so a policy
 * this evaluator cannot judge never passes silently.
 */

export interface PolicyStatement {
  readonly Sid?: string;
  readonly Effect: 'Allow' | 'Deny';
  readonly Action: string | string[];
  readonly Resource: string | string[];
  readonly Condition?: Record<string, Record<string, string | string[]>>;
}

/** Request context keys (`s3:prefix`, `aws:TagKeys`, `iam:PassedToService`, …): one value or a set. */
export type RequestContext = Record<string, string | readonly string[]>;

const glob = (pattern: string, flags = ''): RegExp =>
  new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, flags);
const list = <T>(x: T | T[] | readonly T[]): T[] => (Array.isArray(x) ? [...x] : [x as T]);

function conditionHolds(operator: string, key: string, expected: string[], context: RequestContext): boolean {
  const [qualifier, base] = operator.includes(':') ? (operator.split(':') as [string, string]) : [undefined, operator];
  const actual = context[key];
  if (base === 'Null') return (actual === undefined) === (expected[0] === 'true');
  const compare: Record<string, (value: string, pattern: string) => boolean> = {
    StringEquals: (v, p) => v === p,
    StringLike: (v, p) => glob(p).test(v),
    ArnEquals: (v, p) => v === p,
    ArnLike: (v, p) => glob(p).test(v),
  };
  const test = compare[base];
  if (!test) throw new Error(`iam-policy: condition operator ${operator} is not supported`);
  const matches = (value: string) => expected.some((p) => test(value, p));
  if (qualifier === 'ForAllValues') return actual === undefined || list(actual).every(matches);
  if (qualifier === 'ForAnyValue') return actual !== undefined && list(actual).some(matches);
  if (qualifier !== undefined) throw new Error(`iam-policy: condition qualifier ${qualifier} is not supported`);
  if (actual === undefined || Array.isArray(actual)) return false;
  return matches(actual as string);
}

function statementMatches(statement: PolicyStatement, action: string, resource: string, context: RequestContext): boolean {
  if (!list(statement.Action).some((a) => glob(a, 'i').test(action))) return false;
  if (!list(statement.Resource).some((r) => glob(r).test(resource))) return false;
  return Object.entries(statement.Condition ?? {}).every(([operator, keys]) =>
    Object.entries(keys).every(([key, expected]) => conditionHolds(operator, key, list(expected), context)),
  );
}

/** Whether the statements allow `action` on `resource` in `context` (explicit Deny wins). */
export function allows(statements: readonly PolicyStatement[], action: string, resource: string, context: RequestContext = {}): boolean {
  const matching = statements.filter((s) => statementMatches(s, action, resource, context));
  return matching.some((s) => s.Effect === 'Allow') && !matching.some((s) => s.Effect === 'Deny');
}

export const ACCOUNT = '123456789012';
export const REGION = 'eu-west-1';

/**
 * Resolves the CloudFormation intrinsics of a template to the strings AWS would see: bucket `Ref`s become names
 * (`<logical id>` lower-cased), `Fn::GetAtt … Arn` becomes the resource's ARN, pseudo parameters the test
 * account/region. `ref`/`arn` give the same values to the assertions.
 */
export class TemplateResolver {
  private readonly resources: Record<string, { Type: string }>;

  constructor(template: Template | Record<string, unknown>) {
    const json = 'toJSON' in template && typeof template.toJSON === 'function' ? template.toJSON() : template;
    this.resources = ((json as { Resources?: Record<string, { Type: string }> }).Resources ?? {}) as Record<string, { Type: string }>;
  }

  /** The logical id of the one resource whose id starts with `prefix` (and has `type`, when given). */
  public id(prefix: string, type?: string): string {
    const ids = Object.keys(this.resources).filter((id) => id.startsWith(prefix) && (!type || this.resources[id]!.Type === type));
    if (ids.length !== 1) throw new Error(`TemplateResolver: ${ids.length} resources match ${prefix}${type ? ` (${type})` : ''}: ${ids.join(', ')}`);
    return ids[0]!;
  }

  public ref(logicalId: string): string {
    const pseudo: Record<string, string> = { 'AWS::Partition': 'aws', 'AWS::Region': REGION, 'AWS::AccountId': ACCOUNT, 'AWS::URLSuffix': 'amazonaws.com', 'AWS::StackName': 'stack' };
    if (pseudo[logicalId]) return pseudo[logicalId]!;
    const type = this.resources[logicalId]?.Type;
    if (type === 'AWS::S3::Bucket') return logicalId.toLowerCase();
    return `${logicalId}-ref`;
  }

  public arn(logicalId: string): string {
    const type = this.resources[logicalId]?.Type;
    switch (type) {
      case 'AWS::S3::Bucket':
        return `arn:aws:s3:::${this.ref(logicalId)}`;
      case 'AWS::EMRServerless::Application':
        return `arn:aws:emr-serverless:${REGION}:${ACCOUNT}:/applications/${this.attribute(logicalId, 'ApplicationId')}`;
      case 'AWS::IAM::Role':
        return `arn:aws:iam::${ACCOUNT}:role/${logicalId}`;
      case 'AWS::Lambda::Function':
        return `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${logicalId}`;
      default:
        return `arn:aws:${type ?? 'unknown'}:${REGION}:${ACCOUNT}:${logicalId}`;
    }
  }

  public attribute(logicalId: string, attribute: string): string {
    if (attribute === 'Arn') return this.arn(logicalId);
    if (attribute === 'ApplicationId') return `app${logicalId.replace(/[^0-9a-z]/gi, '').toLowerCase()}`.slice(0, 64);
    return `${logicalId}-${attribute}`;
  }

  /** Any template value with its intrinsics resolved. */
  public resolve<T = unknown>(value: unknown): T {
    if (Array.isArray(value)) return value.map((v) => this.resolve(v)) as T;
    if (value === null || typeof value !== 'object') return value as T;
    const o = value as Record<string, unknown>;
    if ('Ref' in o) return this.ref(String(o.Ref)) as T;
    if ('Fn::GetAtt' in o) {
      const [id, attribute] = o['Fn::GetAtt'] as [string, string];
      return this.attribute(id, attribute) as T;
    }
    if ('Fn::Join' in o) {
      const [separator, parts] = o['Fn::Join'] as [string, unknown[]];
      return (this.resolve<unknown[]>(parts) as string[]).join(separator) as T;
    }
    if ('Fn::Sub' in o) {
      const [text, vars] = (Array.isArray(o['Fn::Sub']) ? o['Fn::Sub'] : [o['Fn::Sub'], {}]) as [string, Record<string, unknown>];
      return text.replace(/\$\{([^}]+)\}/g, (_, name: string) => {
        if (name in vars) return this.resolve<string>(vars[name]);
        const [id, attribute] = name.split('.');
        return attribute ? this.attribute(id!, attribute) : this.ref(id!);
      }) as T;
    }
    return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, this.resolve(v)])) as T;
  }

  /** The resolved statements of every `AWS::IAM::Policy` whose PolicyName matches. */
  public statements(template: Template, policyName: RegExp): PolicyStatement[] {
    const policies = Object.values(template.findResources('AWS::IAM::Policy')).filter((p) =>
      policyName.test(String((p as { Properties: { PolicyName: string } }).Properties.PolicyName)),
    );
    if (policies.length === 0) throw new Error(`TemplateResolver: no AWS::IAM::Policy named like ${policyName}`);
    return policies.flatMap((p) => this.resolve<PolicyStatement[]>((p as { Properties: { PolicyDocument: { Statement: unknown } } }).Properties.PolicyDocument.Statement));
  }
}
