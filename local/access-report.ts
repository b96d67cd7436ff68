import type { AccessReport } from './iam/access-log';

/**
 * The least-privilege view of a local run, from the authorizer's access log: per principal, how many calls it
 * made (allowed / denied), which actions on which resources, and the granted identity statements no call
 * exercised — candidates to remove or narrow. Rendered for the terminal, the demo's HTML report and `--json`.
 */
export interface AccessSummary {
  readonly principals: number;
  readonly checks: number;
  readonly denied: number;
  readonly unexercised: number;
}

export function summarizeAccess(report: AccessReport): AccessSummary {
  let denied = 0;
  let unexercised = 0;
  for (const p of report.principals) {
    denied += p.used.reduce((n, u) => n + u.denied, 0);
    unexercised += p.unexercised.length;
  }
  return { principals: report.principals.length, checks: report.checks, denied, unexercised };
}

/** `role/<name>` of a role ARN (the operator's user ARN as is). */
export function shortPrincipal(arn: string): string {
  return arn.replace(/^arn:aws[a-z-]*:iam::\d{12}:/, '');
}

export function accessReportText(report: AccessReport): string {
  const s = summarizeAccess(report);
  const lines = [`Access: ${s.checks} authorization checks by ${s.principals} principals, ${s.denied} denied; ${s.unexercised} granted statements never exercised`];
  for (const p of report.principals) {
    const calls = p.used.reduce((n, u) => n + u.allowed + u.denied, 0);
    const actions = [...new Set(p.used.map((u) => u.action))].sort();
    lines.push(`  ${shortPrincipal(p.principalArn)}: ${calls} checks, actions ${actions.join(' ') || '-'}`);
    for (const u of p.unexercised) {
      const actionList = [u.document.Action ?? u.document.NotAction ?? []].flat().join(',');
      lines.push(`    never exercised: ${u.policy} ${u.statement} (${actionList})`);
    }
  }
  return lines.join('\n');
}

export function accessReportHtml(report: AccessReport, escape: (text: unknown) => string): string {
  const s = summarizeAccess(report);
  const rows = report.principals.map((p) => {
    const used = p.used.map((u) => `${escape(u.action)} ${escape(u.resource)}${u.denied ? ` <span class="failed">(${u.denied} denied)</span>` : ''}`).join('<br>');
    const idle = p.unexercised.map((u) => `${escape(u.policy)} ${escape(u.statement)}: ${escape([u.document.Action ?? u.document.NotAction ?? []].flat().join(', '))} on ${escape([u.document.Resource ?? u.document.NotResource ?? []].flat().join(', '))}`).join('<br>');
    return `<tr><td>${escape(shortPrincipal(p.principalArn))}</td><td class="uri">${used}</td><td class="uri">${idle || '—'}</td></tr>`;
  });
  return `<section><h2>Access (IAM enforced locally)</h2>
<p>${s.checks} authorization checks by ${s.principals} principals against the synthesized policies; ${s.denied} denied; ${s.unexercised} granted statements no local execution exercised (least-privilege candidates).</p>
<table><tr><th>principal</th><th>actions and resources used</th><th>granted, never exercised</th></tr>${rows.join('')}</table></section>`;
}
