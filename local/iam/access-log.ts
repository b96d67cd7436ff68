/**
 * The access log of the local authorizer and its least-privilege report: every evaluated check (principal,
 * action, resource, allowed, and the identity statements that granted it) is recorded; `report()` gives, per
 * principal, the actions and resources it used and the granted identity statements no check exercised — the
 * candidates for removal.
 */
import type { Principal, PolicyStatement } from './policy-store';

/** A statement of a policy: policy name + Sid, or `#<n>` (1-based position) when it has none. */
export interface StatementRef {
  readonly policyType: 'identity' | 'resource' | 'pb';
  readonly policy: string;
  readonly statement: string;
}

export interface AccessLogEntry {
  readonly principalArn: string;
  readonly operation: string;
  readonly action: string;
  readonly resource: string;
  readonly allowed: boolean;
  readonly grantedBy: StatementRef[];
}

export interface UsedAccess {
  readonly action: string;
  readonly resource: string;
  allowed: number;
  denied: number;
}

export interface UnexercisedStatement {
  readonly policy: string;
  readonly source: string;
  /** Sid, or `#<n>` (1-based position in the policy). */
  readonly statement: string;
  readonly document: PolicyStatement;
}

export interface PrincipalReport {
  readonly principalArn: string;
  readonly used: UsedAccess[];
  readonly exercised: StatementRef[];
  readonly unexercised: UnexercisedStatement[];
}

export interface AccessReport {
  readonly principals: PrincipalReport[];
  /** Checks recorded (all of them, also those past `maxEntries`). */
  readonly checks: number;
}

export function statementLabel(sid: string | undefined, index: number): string {
  return sid ? sid : `#${index + 1}`;
}

export class AccessLog {
  private readonly list: AccessLogEntry[] = [];
  private readonly used = new Map<string, Map<string, UsedAccess>>();
  private readonly exercised = new Map<string, Map<string, StatementRef>>();
  private total = 0;

  /** @param maxEntries raw entries kept for `entries()`; the aggregates behind `report()` count every check. */
  constructor(private readonly maxEntries = 100_000) {}

  record(entry: AccessLogEntry): void {
    this.total++;
    if (this.list.length < this.maxEntries) this.list.push(entry);
    let byKey = this.used.get(entry.principalArn);
    if (!byKey) this.used.set(entry.principalArn, (byKey = new Map()));
    const key = `${entry.action} ${entry.resource}`;
    let use = byKey.get(key);
    if (!use) byKey.set(key, (use = { action: entry.action, resource: entry.resource, allowed: 0, denied: 0 }));
    if (entry.allowed) use.allowed++;
    else use.denied++;
    if (!entry.allowed) return;
    let refs = this.exercised.get(entry.principalArn);
    if (!refs) this.exercised.set(entry.principalArn, (refs = new Map()));
    for (const ref of entry.grantedBy) refs.set(`${ref.policyType}|${ref.policy}|${ref.statement}`, ref);
  }

  entries(): readonly AccessLogEntry[] {
    return this.list;
  }

  get size(): number {
    return this.total;
  }

  /**
   * Per principal that made a call: what it used, which identity statements granted something, and which
   * granted identity statements (Effect Allow) nothing exercised. `principals` are the store's principals;
   * principals that made no call are listed too when `includeIdle` is set.
   */
  report(principals: Principal[], options: { readonly includeIdle?: boolean } = {}): AccessReport {
    const out: PrincipalReport[] = [];
    const known = new Map(principals.map((p) => [p.arn, p]));
    const arns = new Set([...this.used.keys(), ...(options.includeIdle ? known.keys() : [])]);
    for (const arn of [...arns].sort()) {
      const refs = this.exercised.get(arn) ?? new Map<string, StatementRef>();
      const unexercised: UnexercisedStatement[] = [];
      for (const policy of known.get(arn)?.identityPolicies ?? []) {
        policy.document.Statement.forEach((statement, index) => {
          if (statement.Effect !== 'Allow') return;
          const label = statementLabel(statement.Sid, index);
          if (!refs.has(`identity|${policy.name}|${label}`)) unexercised.push({ policy: policy.name, source: policy.source, statement: label, document: statement });
        });
      }
      out.push({
        principalArn: arn,
        used: [...(this.used.get(arn)?.values() ?? [])].sort((a, b) => a.action.localeCompare(b.action) || a.resource.localeCompare(b.resource)),
        exercised: [...refs.values()],
        unexercised,
      });
    }
    return { principals: out, checks: this.total };
  }
}
