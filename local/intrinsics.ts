/**
 * Resolves CloudFormation intrinsic functions in a template fragment to plain values, given how each
 * resource's `Ref` / `Fn::GetAtt` resolves (the local deployment decides that).
 */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface IntrinsicContext {
  /** `Ref` of a resource or parameter of this stack (pseudo parameters are handled here). */
  ref(logicalId: string): Json;
  /** `Fn::GetAtt` of a resource of this stack. */
  getAtt(logicalId: string, attribute: string): Json;
  /** `Fn::ImportValue` (exports of any stack of the assembly). */
  importValue(name: string): Json;
  /** Pseudo parameters. */
  readonly region: string;
  readonly accountId: string;
  readonly stackName: string;
  /** `Conditions` section of the template. */
  readonly conditions?: Record<string, Json>;
  /** `Mappings` section of the template. */
  readonly mappings?: Record<string, Record<string, Record<string, Json>>>;
}

export class UnresolvableError extends Error {}

const NO_VALUE = Symbol('AWS::NoValue');

export function resolveIntrinsics(value: Json, ctx: IntrinsicContext): Json {
  const out = resolveInner(value, ctx);
  return out === (NO_VALUE as unknown) ? null : out;
}

function pseudo(name: string, ctx: IntrinsicContext): Json | typeof NO_VALUE | undefined {
  switch (name) {
    case 'AWS::Region':
      return ctx.region;
    case 'AWS::AccountId':
      return ctx.accountId;
    case 'AWS::Partition':
      return 'aws';
    case 'AWS::URLSuffix':
      return 'amazonaws.com';
    case 'AWS::StackName':
      return ctx.stackName;
    case 'AWS::StackId':
      return `arn:aws:cloudformation:${ctx.region}:${ctx.accountId}:stack/${ctx.stackName}/local`;
    case 'AWS::NotificationARNs':
      return [];
    case 'AWS::NoValue':
      return NO_VALUE;
    default:
      return undefined;
  }
}

function resolveInner(value: Json, ctx: IntrinsicContext): Json {
  if (Array.isArray(value)) {
    return value.map((v) => resolveInner(v, ctx)).filter((v) => v !== (NO_VALUE as unknown));
  }
  if (value === null || typeof value !== 'object') return value;
  const keys = Object.keys(value);
  if (keys.length === 1) {
    const [fn] = keys;
    const arg = value[fn];
    switch (fn) {
      case 'Ref': {
        const name = String(arg);
        const p = pseudo(name, ctx);
        if (p !== undefined) return p as Json;
        return ctx.ref(name);
      }
      case 'Fn::GetAtt': {
        const [id, ...attr] = Array.isArray(arg) ? (arg as string[]) : String(arg).split('.');
        return ctx.getAtt(String(id), attr.map(String).join('.'));
      }
      case 'Fn::Join': {
        const [sep, list] = arg as [string, Json];
        const items = resolveInner(list, ctx) as Json[];
        return items.map((i) => asString(i, 'Fn::Join')).join(sep);
      }
      case 'Fn::Sub':
        return substitute(arg, ctx);
      case 'Fn::Select': {
        const [index, list] = arg as [Json, Json];
        const items = resolveInner(list, ctx) as Json[];
        return items[Number(resolveInner(index, ctx))];
      }
      case 'Fn::Split': {
        const [sep, str] = arg as [string, Json];
        return asString(resolveInner(str, ctx), 'Fn::Split').split(sep);
      }
      case 'Fn::ImportValue':
        return ctx.importValue(asString(resolveInner(arg, ctx), 'Fn::ImportValue'));
      case 'Fn::If': {
        const [condition, ifTrue, ifFalse] = arg as [string, Json, Json];
        return evalCondition(condition, ctx) ? resolveInner(ifTrue, ctx) : resolveInner(ifFalse, ctx);
      }
      case 'Fn::Equals':
      case 'Fn::Not':
      case 'Fn::And':
      case 'Fn::Or':
        return evalConditionExpr(value, ctx);
      case 'Fn::FindInMap': {
        const [map, top, second] = (arg as Json[]).map((a) => asString(resolveInner(a, ctx), 'Fn::FindInMap'));
        const found = ctx.mappings?.[map]?.[top]?.[second];
        if (found === undefined) throw new UnresolvableError(`Fn::FindInMap: ${map}.${top}.${second} not found`);
        return found;
      }
      case 'Fn::GetAZs':
        return [`${ctx.region}a`, `${ctx.region}b`, `${ctx.region}c`];
      case 'Fn::Base64':
        return Buffer.from(asString(resolveInner(arg, ctx), 'Fn::Base64')).toString('base64');
      case 'Fn::ToJsonString':
        return JSON.stringify(resolveInner(arg, ctx));
      default:
        break;
    }
  }
  const out: { [key: string]: Json } = {};
  for (const [k, v] of Object.entries(value)) {
    const r = resolveInner(v, ctx);
    if (r !== (NO_VALUE as unknown)) out[k] = r;
  }
  return out;
}

function substitute(arg: Json, ctx: IntrinsicContext): string {
  const [template, vars] = Array.isArray(arg) ? (arg as [string, Record<string, Json>]) : [String(arg), {}];
  const resolvedVars: Record<string, Json> = {};
  for (const [k, v] of Object.entries(vars ?? {})) resolvedVars[k] = resolveInner(v, ctx);
  return template.replace(/\$\{([^}!][^}]*)\}/g, (_, expr: string) => {
    if (expr in resolvedVars) return asString(resolvedVars[expr], 'Fn::Sub');
    const p = pseudo(expr, ctx);
    if (p !== undefined) return asString(p as Json, 'Fn::Sub');
    if (expr.includes('.')) {
      const [id, ...attr] = expr.split('.');
      return asString(ctx.getAtt(id, attr.join('.')), 'Fn::Sub');
    }
    return asString(ctx.ref(expr), 'Fn::Sub');
  }).replace(/\$\{!/g, '${');
}

function evalCondition(name: string, ctx: IntrinsicContext): boolean {
  const expr = ctx.conditions?.[name];
  if (expr === undefined) throw new UnresolvableError(`Condition "${name}" is not defined`);
  return Boolean(evalConditionExpr(expr, ctx));
}

function evalConditionExpr(expr: Json, ctx: IntrinsicContext): boolean {
  if (expr && typeof expr === 'object' && !Array.isArray(expr)) {
    const [fn] = Object.keys(expr);
    const arg = expr[fn] as Json[];
    switch (fn) {
      case 'Fn::Equals':
        return JSON.stringify(resolveInner(arg[0], ctx)) === JSON.stringify(resolveInner(arg[1], ctx));
      case 'Fn::Not':
        return !evalConditionExpr(arg[0], ctx);
      case 'Fn::And':
        return arg.every((a) => evalConditionExpr(a, ctx));
      case 'Fn::Or':
        return arg.some((a) => evalConditionExpr(a, ctx));
      case 'Condition':
        return evalCondition(String(expr[fn]), ctx);
      default:
        break;
    }
  }
  return Boolean(resolveInner(expr, ctx));
}

function asString(value: Json, where: string): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw new UnresolvableError(`${where}: expected a string, got ${JSON.stringify(value)}`);
}
