/**
 * Resource equivalence classes for the decision cache. Two resources of the same shape (same ARN prefix —
 * partition, service, region, account — same bucket for S3, same path skeleton otherwise) that every Resource /
 * NotResource pattern of the policies in play matches alike get the same IAM decision for the same principal,
 * action and context: the simulator's outcome depends on the resource only through those matches. So a Spark job
 * writing thousands of distinct part files under one prefix costs one simulation, not thousands.
 *
 * This only keys the cache; every decision still comes from iam-simulate. The matching here is at least as strict
 * as IAM's (case-sensitive, `*` and `?` wildcards within the resource part only, since the prefix is in the key),
 * and a policy with variables (`${aws:username}`) in a resource disables the classes for that principal.
 */
import type { NamedPolicy, PolicyDocument, ResourcePolicy } from './policy-store';

interface Compiled {
  /** undefined: a pattern uses policy variables — no classes. */
  readonly patterns: RegExp[] | undefined;
}

export class ResourceClasses {
  private readonly compiled = new Map<string, Compiled>();

  /**
   * The class of `resource` under the given policies, or undefined when classes cannot be used.
   * @param key identifies the policy set (principal + resource policy); patterns are compiled once per key.
   */
  classOf(key: string, resource: string, policies: () => Array<NamedPolicy | ResourcePolicy>): string | undefined {
    let compiled = this.compiled.get(key);
    if (!compiled) {
      compiled = compile(policies().map((p) => p.document));
      this.compiled.set(key, compiled);
    }
    if (!compiled.patterns) return undefined;
    const shape = shapeOf(resource);
    if (shape === undefined) return undefined;
    let bits = '';
    for (const pattern of compiled.patterns) bits += pattern.test(resource) ? '1' : '0';
    return `${shape}|${bits}`;
  }
}

function compile(documents: PolicyDocument[]): Compiled {
  const sources = new Set<string>();
  for (const doc of documents) {
    for (const statement of doc.Statement) {
      for (const pattern of [statement.Resource ?? [], statement.NotResource ?? []].flat()) sources.add(pattern);
    }
  }
  if ([...sources].some((p) => p.includes('${'))) return { patterns: undefined };
  return { patterns: [...sources].sort().map(globToRegExp) };
}

/** An IAM resource pattern as an anchored, case-sensitive regular expression (`*` any run, `?` one character). */
export function globToRegExp(pattern: string): RegExp {
  const body = pattern
    .split('')
    .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\/-]/g, '\\$&')))
    .join('');
  return new RegExp(`^${body}$`, 's');
}

/**
 * What must be equal besides the pattern matches: the ARN prefix (partition:service:region:account), and
 * - S3: the bucket, and whether it is the bucket or an object in it;
 * - others: the resource part's skeleton (separators kept, every run between them → `x`), so an application and
 *   a job run under it, or a name and a qualified name, never share a class.
 * undefined for something that is not an ARN (e.g. `*`).
 */
function shapeOf(resource: string): string | undefined {
  const parts = resource.split(':');
  if (parts.length < 6 || parts[0] !== 'arn') return undefined;
  const prefix = parts.slice(0, 5).join(':');
  const rest = parts.slice(5).join(':');
  if (parts[2] === 's3' && parts[3] === '' && parts[4] === '') {
    const slash = rest.indexOf('/');
    return slash < 0 ? `${prefix}:${rest}` : `${prefix}:${rest.slice(0, slash)}/…`;
  }
  return `${prefix}:${rest.replace(/[^/:]+/g, 'x')}`;
}
