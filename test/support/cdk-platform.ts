import { join } from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { type StageConfigInput, parseStageConfig } from '../../lib/config/stage-config';
import type { PipelineName } from '../../lib/pipelines/common';
import { addPlatform } from '../../lib/stacks/platform';
import type { PlatformStack } from '../../lib/stacks/platform-stack';

/** An artifacts directory `npm run package` never wrote to: the state of a fresh clone. */
export const UNPACKAGED_ARTIFACTS_DIR = join(__dirname, 'never-packaged');

/**
 * Synthesizes the platform for a stage config (Lambda bundling skipped unless `bundle`), optionally with cdk-nag.
 * The job artifacts come from `artifactsDir` (default: none built, as on a fresh clone), never from the
 * repository's own `artifacts/`, so the templates do not depend on whether `npm run package` has run.
 */
export function synthPlatform(
  stage: string,
  raw: StageConfigInput = {},
  options: { readonly nag?: boolean; readonly bundle?: boolean; readonly artifactsDir?: string } = {},
): { app: App; stack: PlatformStack; template: Template } {
  // Skip Lambda bundling (unless `bundle`) and asset staging: templates are identical (asset hashes still come
  // from the sources), but no asset is copied into a temporary assembly per synth.
  const app = new App({
    context: { 'aws:cdk:disable-asset-staging': true, ...(options.bundle ? {} : { 'aws:cdk:bundling-stacks': [] }) },
  });
  const config = parseStageConfig(stage, raw);
  const { stack } = addPlatform(app, config, { artifactsDir: options.artifactsDir ?? UNPACKAGED_ARTIFACTS_DIR });
  if (options.nag) Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new ServerlessChecks(app));
  const template = Template.fromStack(stack);
  return { app, stack, template };
}

type Json = unknown;

/** Replace CloudFormation intrinsics in a DefinitionString with plausible ARNs, giving plain ASL. */
export function renderDefinition(definitionString: Json): Record<string, any> {
  const render = (node: Json): string => {
    if (typeof node === 'string') return node;
    const o = node as Record<string, Json>;
    if (o['Fn::Join']) {
      const [sep, parts] = o['Fn::Join'] as [string, Json[]];
      return parts.map(render).join(sep);
    }
    if (o['Fn::GetAtt']) {
      const [id, attr] = o['Fn::GetAtt'] as [string, string];
      if (attr === 'Arn') return `arn:aws:lambda:us-east-1:123456789012:function:${id}`;
      return `${id}-${attr}`;
    }
    if (o.Ref) {
      const ref = o.Ref as string;
      if (ref === 'AWS::Partition') return 'aws';
      if (ref === 'AWS::Region') return 'us-east-1';
      if (ref === 'AWS::AccountId') return '123456789012';
      return `arn:aws:sns:us-east-1:123456789012:${ref}`;
    }
    throw new Error(`unexpected intrinsic ${JSON.stringify(node)}`);
  };
  return JSON.parse(render(definitionString));
}

/** The rendered ASL of each pipeline's state machine, by pipeline name. */
export function definitions(template: Template): Record<PipelineName, Record<string, any>> {
  const machines = template.findResources('AWS::StepFunctions::StateMachine');
  const out: Record<string, Record<string, any>> = {};
  for (const resource of Object.values(machines)) {
    const name = String(resource.Properties.StateMachineName).replace(/^emr-ml-[a-z0-9-]+?-(recommender-training|drift-retrain|news-enrichment|taxi-medallion)$/, '$1');
    out[name] = renderDefinition(resource.Properties.DefinitionString);
  }
  return out as Record<PipelineName, Record<string, any>>;
}

/** All states of a definition including Parallel branches, by name. */
export function allStates(definition: Record<string, any>): Record<string, any> {
  const out: Record<string, any> = {};
  const walk = (states: Record<string, any>) => {
    for (const [name, state] of Object.entries(states)) {
      out[name] = state;
      for (const branch of state.Branches ?? []) walk(branch.States);
    }
  };
  walk(definition.States);
  return out;
}

/** Follow `Next` from StartAt (Choice: `Default` unless `choose` picks a branch), returning state names. */
export function path(definition: Record<string, any>, choose: Record<string, number> = {}): string[] {
  const names: string[] = [];
  let current: string | undefined = definition.StartAt;
  while (current) {
    names.push(current);
    const state = definition.States[current];
    if (state.Type === 'Choice') current = current in choose ? state.Choices[choose[current]!].Next : state.Default;
    else current = state.End ? undefined : state.Next;
  }
  return names;
}
