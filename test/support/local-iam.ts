import * as path from 'node:path';
import type { Template } from 'aws-cdk-lib/assertions';
import { type DeploymentOptions, LocalDeployment, type StackTemplate } from '../../local/deployment';
import { Authorizer, type PolicyStore } from '../../local/iam';
import type { PolicyStatement } from '../../local/iam/policy-store';

/**
 * The project's IAM evaluator (local/iam: iam-simulate over the policies of the synthesized template) for a
 * template a test synthesized: the template becomes a {@link LocalDeployment} (which resolves its intrinsics to
 * local names: bucket `StorageLakeA1B2C3D4` → `storage-lake`, role → `arn:aws:iam::<account>:role/<stack>-<id>`)
 * and the {@link Authorizer} of that deployment answers "may this principal make this call?" as AWS would.
 */
export interface DeployedIam {
  readonly deployment: LocalDeployment;
  readonly stack: StackTemplate;
  readonly authz: Authorizer;
}

export type TemplateJson = StackTemplate['template'];

export function deployedIam(
  template: Template | TemplateJson,
  options: DeploymentOptions & { readonly stackName?: string; readonly assemblyDir?: string } = {},
): DeployedIam {
  const json = ('toJSON' in template && typeof template.toJSON === 'function' ? template.toJSON() : template) as TemplateJson;
  const stack: StackTemplate = { stackName: options.stackName ?? 'emr-ml-dev', templateFile: '', template: json };
  const deployment = new LocalDeployment([stack], options.assemblyDir ?? '/nonexistent', { projectRoot: path.resolve(__dirname, '..', '..'), ...options });
  return { deployment, stack, authz: Authorizer.fromDeployment(deployment) };
}

/** The local name of the one bucket whose logical id starts with `prefix` (e.g. `StorageLake`). */
export function bucketName(deployment: LocalDeployment, prefix: string): string {
  const matches = deployment.buckets.filter((b) => b.logicalId.startsWith(prefix));
  if (matches.length !== 1) throw new Error(`${matches.length} buckets have a logical id starting with ${prefix}`);
  return matches[0]!.name;
}

/** The role the function whose logical id starts with `<prefix>Function` runs as (e.g. `CheckArticles`). */
export function functionRole(store: PolicyStore, prefix: string): string {
  const matches = store.bindings.functions.filter((f) => f.logicalId.split('/').pop()!.startsWith(`${prefix}Function`));
  if (matches.length !== 1) throw new Error(`${matches.length} functions have a logical id starting with ${prefix}Function`);
  return store.functionRole(matches[0]!.id)!;
}

/** The role of the state machine named `<anything>-<pipeline>`. */
export function stateMachineRole(store: PolicyStore, pipeline: string): string {
  const machine = store.bindings.stateMachines.find((s) => s.id.endsWith(`-${pipeline}`));
  if (!machine) throw new Error(`no state machine of ${pipeline}`);
  return store.stateMachineRole(machine.id)!;
}

/** The statements of a principal's identity policies, intrinsics resolved by the deployment. */
export function identityStatements(store: PolicyStore, principalArn: string): PolicyStatement[] {
  const principal = store.principal(principalArn);
  if (!principal) throw new Error(`${principalArn} is not a principal of the deployment`);
  return principal.identityPolicies.flatMap((p) => p.document.Statement);
}
