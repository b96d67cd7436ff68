/**
 * One IAM decision through @cloud-copilot/iam-simulate: a principal's identity policies and permissions
 * boundary, the resource's policy (bucket / key / topic / function / secret policy, a role's trust policy), the
 * request context — evaluated by the simulator (explicit deny wins, same- vs cross-account rules, KMS key policy
 * trust, condition operators), with the statements that granted or denied it. Policies are validated once and
 * kept validated; decisions are cached by (principal, action, resource, resource account, context), and shared
 * between resources the policies cannot tell apart (resource-classes.ts).
 */
import { createValidatedPolicy, type ValidatedPolicy, type ValidationError, validateIdentityPolicy, validateResourcePolicy, validateTrustPolicy } from '@cloud-copilot/iam-policy';
import { getDenialReasons, getGrantReasons, runSimulation, type Simulation } from '@cloud-copilot/iam-simulate';
import { type StatementRef, statementLabel } from './access-log';
import { denialPhrase } from './errors';
import type { ContextValue } from './operations';
import type { NamedPolicy, PolicyDocument, PolicyStore, ResourcePolicy } from './policy-store';
import { ResourceClasses } from './resource-classes';

export type DecisionResult = 'Allowed' | 'ExplicitlyDenied' | 'ImplicitlyDenied' | 'Error';

export interface Decision {
  readonly allowed: boolean;
  readonly result: DecisionResult;
  /** For a denial: AWS's phrase, e.g. "because no identity-based policy allows the s3:GetObject action". */
  readonly reason?: string;
  readonly grantedBy: StatementRef[];
  readonly deniedBy: StatementRef[];
  /** The resource policy that took part, if any (`<stack>/<logicalId>` sources). */
  readonly resourcePolicy?: string;
}

export interface EvaluationInput {
  /** The ARN the simulator sees: an assumed-role session, a user, or a service principal. */
  readonly callerArn: string;
  /** The store's principal whose identity policies apply (none for a service principal or an unknown one). */
  readonly principalArn: string | undefined;
  readonly action: string;
  readonly resource: string;
  readonly resourceAccount: string;
  readonly context: Record<string, ContextValue>;
}

/** A policy of the templates that iam-simulate's validator rejects (named, with the validator's messages). */
export class PolicyValidationError extends Error {
  override readonly name = 'PolicyValidationError';
}

/** Decisions kept (a bound on memory: a long run touches many distinct object keys). */
const MAX_CACHED = 200_000;

interface PreparedIdentity {
  readonly identity: Array<{ name: string; policy: ValidatedPolicy<{ name: string }> }>;
  readonly boundary?: Array<{ name: string; policy: ValidatedPolicy<{ name: string }> }>;
}

export class PolicyEvaluator {
  private readonly identities = new Map<string, PreparedIdentity>();
  private readonly resources = new Map<string, ValidatedPolicy>();
  private readonly cache = new Map<string, Promise<Decision>>();
  private readonly classCache = new Map<string, Promise<Decision>>();
  private readonly classes = new ResourceClasses();
  evaluations = 0;
  cacheHits = 0;
  /** Cache misses answered by an equivalent resource's decision. */
  classHits = 0;

  /** @param useClasses share decisions between equivalent resources (resource-classes.ts). */
  constructor(
    private readonly store: PolicyStore,
    private readonly useClasses = true,
  ) {}

  /** Validates every policy of the store now (throws PolicyValidationError naming the first bad one). */
  validateAll(): void {
    for (const p of this.store.principals()) this.identityOf(p.arn);
    for (const r of this.store.resourcePolicies()) this.prepareResource(r);
  }

  async evaluate(input: EvaluationInput): Promise<Decision> {
    const key = cacheKey(input);
    const cached = this.cache.get(key);
    if (cached) {
      this.cacheHits++;
      return cached;
    }
    const classKey = this.classKey(input);
    const equivalent = classKey === undefined ? undefined : this.classCache.get(classKey);
    if (equivalent) this.classHits++;
    const pending = equivalent ?? this.simulate(input);
    if (this.cache.size >= MAX_CACHED) this.cache.clear();
    this.cache.set(key, pending);
    if (classKey !== undefined && !equivalent) {
      if (this.classCache.size >= MAX_CACHED) this.classCache.clear();
      this.classCache.set(classKey, pending);
    }
    return pending;
  }

  clearCache(): void {
    this.cache.clear();
    this.classCache.clear();
  }

  /** The cache key of the resource's equivalence class (see resource-classes.ts), when classes apply. */
  private classKey(input: EvaluationInput): string | undefined {
    if (!this.useClasses) return undefined;
    const resourcePolicy = this.store.resourcePolicyFor(input.action, input.resource);
    const principal = input.principalArn ? this.store.principal(input.principalArn) : undefined;
    const policySet = `${input.principalArn ?? ''}|${resourcePolicy ? `${resourcePolicy.kind}:${resourcePolicy.resourceArn}` : ''}`;
    const resourceClass = this.classes.classOf(policySet, input.resource, () => [
      ...(principal?.identityPolicies ?? []),
      ...(principal?.permissionsBoundary ? [principal.permissionsBoundary] : []),
      ...(resourcePolicy ? [resourcePolicy] : []),
    ]);
    return resourceClass === undefined ? undefined : `${cacheKey({ ...input, resource: '' })}\n${policySet}\n${resourceClass}`;
  }

  private async simulate(input: EvaluationInput): Promise<Decision> {
    this.evaluations++;
    const prepared = input.principalArn ? this.identityOf(input.principalArn) : { identity: [] };
    const resourcePolicy = this.store.resourcePolicyFor(input.action, input.resource);
    const simulation: Simulation = {
      request: {
        principal: input.callerArn,
        action: input.action,
        resource: { resource: input.resource, accountId: input.resourceAccount },
        contextVariables: input.context,
      },
      identityPolicies: prepared.identity,
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      ...(resourcePolicy ? { resourcePolicy: this.prepareResource(resourcePolicy) } : {}),
      ...(prepared.boundary ? { permissionBoundaryPolicies: prepared.boundary } : {}),
    };
    const resourcePolicyName = resourcePolicy?.sources.join(', ');
    const response = await runSimulation(simulation, { simulationMode: 'Strict' });
    if (response.resultType === 'error') {
      return { allowed: false, result: 'Error', reason: `could not be evaluated (iam-simulate: ${response.errors.message})`, grantedBy: [], deniedBy: [] };
    }
    const results = response.resultType === 'single' ? [response.result] : response.results;
    const analysis = results[0]?.analysis;
    const grantedBy: StatementRef[] = [];
    const deniedBy: StatementRef[] = [];
    for (const result of results) {
      for (const grant of getGrantReasons(result.analysis)) {
        if (grant.policyType === 'identity' || grant.policyType === 'pb') {
          grantedBy.push({ policyType: grant.policyType, policy: grant.policyIdentifier, statement: statementLabel(grant.statementId, grant.statementIndex - 1) });
        } else if (grant.policyType === 'resource') {
          grantedBy.push({ policyType: 'resource', policy: resourcePolicyName ?? 'resource policy', statement: statementLabel(grant.statementId, grant.statementIndex - 1) });
        }
      }
    }
    if (response.overallResult === 'Allowed') return { allowed: true, result: 'Allowed', grantedBy, deniedBy, resourcePolicy: resourcePolicyName };
    const denials = analysis ? getDenialReasons(analysis) : [];
    for (const d of denials) {
      if (d.denialType !== 'Explicit') continue;
      const policy = d.policyType === 'resource' ? (resourcePolicyName ?? 'resource policy') : (d.policyIdentifier ?? d.policyType);
      const type = d.policyType === 'resource' ? 'resource' : d.policyType === 'pb' ? 'pb' : 'identity';
      deniedBy.push({ policyType: type, policy, statement: statementLabel(d.statementId, d.statementIndex - 1) });
    }
    // explicit deny first; a service principal has no identity policies, so its implicit denial is the resource's
    const service = !input.callerArn.startsWith('arn:');
    const decisive =
      denials.find((d) => d.denialType === 'Explicit') ?? (service ? denials.find((d) => d.policyType === 'resource') : undefined) ?? denials[0];
    const reason = decisive
      ? denialPhrase(decisive.denialType === 'Explicit' ? 'explicit' : 'implicit', decisive.policyType, input.action)
      : denialPhrase('implicit', 'identity', input.action);
    return { allowed: false, result: response.overallResult, reason, grantedBy: [], deniedBy, resourcePolicy: resourcePolicyName };
  }

  private identityOf(principalArn: string): PreparedIdentity {
    const known = this.identities.get(principalArn);
    if (known) return known;
    const principal = this.store.principal(principalArn);
    const validate = (p: NamedPolicy) => ({ name: p.name, policy: validated(p.document, validateIdentityPolicy, `${p.name} (${p.source})`, p.name) });
    const prepared: PreparedIdentity = {
      identity: (principal?.identityPolicies ?? []).map(validate),
      ...(principal?.permissionsBoundary ? { boundary: [validate(principal.permissionsBoundary)] } : {}),
    };
    this.identities.set(principalArn, prepared);
    return prepared;
  }

  private prepareResource(policy: ResourcePolicy): ValidatedPolicy {
    const key = `${policy.kind}|${policy.resourceArn}`;
    const known = this.resources.get(key);
    if (known) return known;
    const validator = policy.kind === 'role-trust' ? validateTrustPolicy : validateResourcePolicy;
    const prepared = validated(policy.document, validator, `the ${policy.kind} policy of ${policy.resourceArn} (${policy.sources.join(', ')})`);
    this.resources.set(key, prepared);
    return prepared;
  }
}

function validated(document: PolicyDocument, validator: (p: unknown) => ValidationError[], what: string, name?: string): ValidatedPolicy<any> {
  const policy = createValidatedPolicy(document, validator, name === undefined ? undefined : { name });
  // IAM rejects such a policy (MalformedPolicyDocument); iam-simulate would match it to every resource
  const notArn = document.Statement.flatMap((s) => [s.Resource ?? [], s.NotResource ?? []].flat()).find((r) => r !== '*' && !r.startsWith('arn:'));
  if (notArn !== undefined) throw new PolicyValidationError(`${what} is not a valid policy: resource "${notArn}" is not an ARN`);
  if (policy.errors.length > 0) {
    throw new PolicyValidationError(`${what} is not a valid policy: ${policy.errors.map((e) => `${e.path ?? ''} ${e.message}`.trim()).join('; ')}`);
  }
  return policy;
}

function cacheKey(input: EvaluationInput): string {
  const context = Object.keys(input.context)
    .sort()
    .map((k) => `${k}=${JSON.stringify(input.context[k])}`)
    .join('&');
  return `${input.callerArn}\n${input.principalArn ?? ''}\n${input.action}\n${input.resource}\n${input.resourceAccount}\n${context}`;
}
