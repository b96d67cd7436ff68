import { Aspects, type IAspect, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { IConstruct } from 'constructs';
// cdk-nag's own flattening of CloudFormation references, so the finding ids computed here equal its findings.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { flattenCfnReference } = require('cdk-nag/lib/utils/flatten-cfn-reference') as {
  flattenCfnReference: (reference: unknown) => string;
};

/** One allowed kind of IAM wildcard and why it is needed. */
export interface WildcardAllowance {
  /** Matched against cdk-nag's finding, e.g. `Resource::<Bucket.Arn>/runs/*` or `Action::kms:GenerateDataKey*`. */
  readonly finding: RegExp;
  readonly reason: string;
}

/**
 * Acknowledges AwsSolutions-IAM5 (wildcard permissions) findings of the IAM policies under `scope` one by one —
 * only findings matching an allowance, each with that allowance's reason. Any other wildcard still fails synth.
 */
export function acknowledgeIamWildcards(scope: IConstruct, allowances: WildcardAllowance[]): void {
  Aspects.of(scope).add(new WildcardAcknowledger(allowances));
}

class WildcardAcknowledger implements IAspect {
  constructor(private readonly allowances: WildcardAllowance[]) {}

  public visit(node: IConstruct): void {
    if (!(node instanceof iam.CfnPolicy)) return;
    const document = Stack.of(node).resolve(node.policyDocument) as { Statement?: Array<Record<string, unknown>> };
    for (const finding of wildcardFindings(document)) {
      const allowance = this.allowances.find((a) => a.finding.test(finding));
      if (allowance) Validations.of(node).acknowledge({ id: `AwsSolutions-IAM5[${finding}]`, reason: allowance.reason });
    }
  }
}

/** The IAM5 finding ids of a resolved policy document (same algorithm as cdk-nag's IAMNoWildcardPermissions). */
export function wildcardFindings(document: { Statement?: Array<Record<string, unknown>> }): string[] {
  const findings = new Set<string>();
  const arr = (x: unknown): unknown[] => (Array.isArray(x) ? x : x === undefined ? [] : [x]);
  for (const statement of document.Statement ?? []) {
    if (statement.Effect !== 'Allow') continue;
    for (const action of arr(statement.Action)) {
      if (typeof action === 'string' && action.includes('*')) findings.add(`Action::${action}`);
    }
    for (const resource of arr(statement.Resource)) {
      const flat = flattenCfnReference(resource);
      if (flat.includes('*')) findings.add(`Resource::${flat}`);
    }
  }
  return [...findings];
}

/** X-Ray's PutTraceSegments/PutTelemetryRecords accept only `*` (added by active tracing). */
export const XRAY_ALLOWANCE: WildcardAllowance = {
  finding: /^Resource::\*$/,
  reason: 'Only the X-Ray actions xray:PutTraceSegments/PutTelemetryRecords use Resource "*": X-Ray supports no resource-level permissions.',
};
