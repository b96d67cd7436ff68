import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { IntrinsicContext, Json, resolveIntrinsics, UnresolvableError } from './intrinsics';
import { LocalLayout } from './layout';
import { LocalFunction } from './lambda-host';

/**
 * A "deployment" of the synthesized cloud assembly onto this machine: every CloudFormation resource the state
 * machines and handlers refer to gets a local identity (bucket → a directory under `.local/s3`, function → its
 * synthesized bundle run in-process, EMR Serverless application → the local Spark adapter, topic → the alerts
 * file), and every `Ref`/`Fn::GetAtt`/`Fn::Join`/`Fn::ImportValue` in the state-machine definitions and the
 * functions' environments resolves to those identities.
 *
 * Local names: a resource's own name property when it has one (e.g. `BucketName`), else derived from its logical
 * id without CDK's hash suffix, e.g. `DataLakeBucketA1B2C3D4` → bucket `data-lake-bucket`.
 */
export interface StackTemplate {
  readonly stackName: string;
  readonly templateFile: string;
  readonly template: {
    Resources?: Record<string, CfnResource>;
    Outputs?: Record<string, { Value: Json; Export?: { Name: Json } }>;
    Conditions?: Record<string, Json>;
    Mappings?: Record<string, Record<string, Record<string, Json>>>;
    Parameters?: Record<string, { Default?: Json; Type?: string }>;
  };
}

export interface CfnResource {
  Type: string;
  Properties?: Record<string, Json>;
  Metadata?: Record<string, Json>;
  Condition?: string;
}

export interface LocalStateMachine {
  readonly stackName: string;
  readonly logicalId: string;
  readonly name: string;
  readonly arn: string;
  readonly definition: Record<string, unknown>;
  readonly roleArn: string;
}

export interface LocalApplication {
  readonly logicalId: string;
  readonly applicationId: string;
  readonly name: string;
  readonly releaseLabel: string;
  readonly arn: string;
  /** `SchedulerConfiguration.MaxConcurrentRuns` of the template (undefined: not set). */
  readonly maxConcurrentRuns?: number;
  /** `SchedulerConfiguration.QueueTimeoutMinutes` of the template (undefined: not set). */
  readonly queueTimeoutMinutes?: number;
}

export interface LocalBucket {
  readonly stackName: string;
  readonly logicalId: string;
  readonly name: string;
}

export interface LocalTopic {
  readonly logicalId: string;
  readonly name: string;
  readonly arn: string;
}

export interface DeploymentOptions {
  readonly region?: string;
  readonly accountId?: string;
  /** Repository root (for handler sources). @default process.cwd() */
  readonly projectRoot?: string;
}

/** The pipeline / state machine asked for is not in the synthesized app. */
export class UnknownStateMachineError extends Error {
  override readonly name = 'UnknownStateMachineError';
}

export const LOCAL_REGION = 'us-east-1';
export const LOCAL_ACCOUNT = '000000000000';

export class LocalDeployment {
  readonly region: string;
  readonly accountId: string;
  readonly stacks: StackTemplate[];
  readonly buckets: LocalBucket[] = [];
  readonly functions: LocalFunction[] = [];
  readonly stateMachines: LocalStateMachine[] = [];
  readonly applications: LocalApplication[] = [];
  readonly topics: LocalTopic[] = [];

  private readonly exports = new Map<string, { stack: StackTemplate; value: Json }>();
  private readonly resolving = new Set<string>();
  private readonly projectRoot: string;

  /** Reads a cloud assembly directory (`cdk.out`): its `manifest.json` names the stack templates. */
  static fromAssembly(assemblyDir: string, options: DeploymentOptions = {}): LocalDeployment {
    const manifestFile = path.join(assemblyDir, 'manifest.json');
    if (!existsSync(manifestFile)) throw new Error(`No cloud assembly at ${assemblyDir} (manifest.json missing): synthesize first`);
    const manifest = JSON.parse(readFileSync(manifestFile, 'utf8')) as {
      artifacts?: Record<string, { type: string; properties?: { templateFile?: string; stackName?: string } }>;
    };
    const stacks: StackTemplate[] = [];
    for (const [id, artifact] of Object.entries(manifest.artifacts ?? {})) {
      if (artifact.type !== 'aws:cloudformation:stack' || !artifact.properties?.templateFile) continue;
      const templateFile = path.join(assemblyDir, artifact.properties.templateFile);
      stacks.push({
        stackName: artifact.properties.stackName ?? id,
        templateFile,
        template: JSON.parse(readFileSync(templateFile, 'utf8')),
      });
    }
    // nested cloud assemblies (stages): include their stacks too
    for (const entry of readdirSync(assemblyDir, { withFileTypes: true })) {
      if (entry.isDirectory() && entry.name.startsWith('assembly-')) {
        stacks.push(...LocalDeployment.fromAssembly(path.join(assemblyDir, entry.name), options).stacks);
      }
    }
    if (stacks.length === 0) throw new Error(`The cloud assembly at ${assemblyDir} has no stacks`);
    return new LocalDeployment(stacks, assemblyDir, options);
  }

  constructor(stacks: StackTemplate[], private readonly assemblyDir: string, options: DeploymentOptions = {}) {
    this.region = options.region ?? LOCAL_REGION;
    this.accountId = options.accountId ?? LOCAL_ACCOUNT;
    this.projectRoot = path.resolve(options.projectRoot ?? process.cwd());
    this.stacks = stacks;
    for (const stack of stacks) {
      for (const [, output] of Object.entries(stack.template.Outputs ?? {})) {
        if (output.Export) {
          const name = this.resolve(stack, output.Export.Name);
          this.exports.set(String(name), { stack, value: output.Value });
        }
      }
    }
    for (const stack of stacks) {
      for (const [logicalId, resource] of Object.entries(stack.template.Resources ?? {})) {
        if (resource.Condition && !this.condition(stack, resource.Condition)) continue;
        switch (resource.Type) {
          case 'AWS::S3::Bucket':
            this.buckets.push({ stackName: stack.stackName, logicalId, name: String(this.ref(stack, logicalId)) });
            break;
          case 'AWS::Lambda::Function':
            this.functions.push(this.localFunction(stack, logicalId, resource));
            break;
          case 'AWS::StepFunctions::StateMachine':
            this.stateMachines.push(this.localStateMachine(stack, logicalId, resource));
            break;
          case 'AWS::EMRServerless::Application':
            this.applications.push({
              logicalId,
              applicationId: String(this.ref(stack, logicalId)),
              name: String(this.resolve(stack, resource.Properties?.Name ?? logicalId)),
              releaseLabel: String(this.resolve(stack, resource.Properties?.ReleaseLabel ?? 'emr-spark-8.0.0')),
              arn: String(this.getAtt(stack, logicalId, 'Arn')),
              ...this.schedulerConfiguration(stack, resource.Properties?.SchedulerConfiguration),
            });
            break;
          case 'AWS::SNS::Topic':
            this.topics.push({ logicalId, name: String(this.getAtt(stack, logicalId, 'TopicName')), arn: String(this.ref(stack, logicalId)) });
            break;
          default:
            break;
        }
      }
    }
  }

  /** Creates the bucket directories (an empty bucket exists in S3 right after deploy). */
  provision(layout: LocalLayout): void {
    for (const bucket of this.buckets) mkdirSync(layout.bucketDir(bucket.name), { recursive: true });
  }

  /**
   * The state machine of a pipeline: matched by its name, its logical id, or the pipeline name contained in
   * either (e.g. `drift-retrain` matches `emr-ml-dev-drift-retrain`).
   */
  stateMachine(nameOrPipeline: string): LocalStateMachine {
    const wanted = normalize(nameOrPipeline);
    const exact = this.stateMachines.find((sm) => sm.name === nameOrPipeline || sm.logicalId === nameOrPipeline);
    if (exact) return exact;
    const matches = this.stateMachines.filter((sm) => normalize(sm.name).includes(wanted) || normalize(sm.logicalId).includes(wanted));
    if (matches.length === 1) return matches[0];
    const known = this.stateMachines.map((sm) => sm.name).join(', ') || '(none)';
    if (matches.length > 1) throw new UnknownStateMachineError(`"${nameOrPipeline}" matches several state machines: ${matches.map((m) => m.name).join(', ')}`);
    throw new UnknownStateMachineError(`No state machine "${nameOrPipeline}" in the synthesized app; state machines: ${known}`);
  }

  /** A function by ARN (qualified or not), name, or `stack/logicalId`. */
  findFunction(ref: string): LocalFunction | undefined {
    const unqualified = ref.replace(/^(arn:aws[a-z-]*:lambda:[^:]+:\d+:function:[^:]+)(:.+)?$/, '$1');
    return this.functions.find((f) => f.arn === unqualified || f.functionName === ref || `${f.stackName}/${f.logicalId}` === ref);
  }

  /** Bucket by environment role, e.g. the value of a function's `LAKE_BUCKET`. */
  bucketNamed(name: string): LocalBucket | undefined {
    return this.buckets.find((b) => b.name === name);
  }

  private schedulerConfiguration(stack: StackTemplate, value: Json | undefined): { maxConcurrentRuns?: number; queueTimeoutMinutes?: number } {
    if (value === undefined) return {};
    const config = this.resolve(stack, value) as { MaxConcurrentRuns?: Json; QueueTimeoutMinutes?: Json } | null;
    const int = (v: Json | undefined) => (v === undefined || v === null ? undefined : Number(v));
    return {
      ...(int(config?.MaxConcurrentRuns) !== undefined ? { maxConcurrentRuns: int(config?.MaxConcurrentRuns) } : {}),
      ...(int(config?.QueueTimeoutMinutes) !== undefined ? { queueTimeoutMinutes: int(config?.QueueTimeoutMinutes) } : {}),
    };
  }

  private localFunction(stack: StackTemplate, logicalId: string, resource: CfnResource): LocalFunction {
    const props = resource.Properties ?? {};
    const handler = String(props.Handler ?? 'index.handler');
    const dot = handler.lastIndexOf('.');
    const moduleName = handler.slice(0, dot);
    const exportName = handler.slice(dot + 1);
    const codeFile = this.handlerSource(resource, moduleName);
    const variables = (this.resolve(stack, (props.Environment as { Variables?: Json } | undefined)?.Variables ?? {}) ?? {}) as Record<string, Json>;
    const environment = Object.fromEntries(Object.entries(variables).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]));
    return {
      logicalId,
      stackName: stack.stackName,
      functionName: String(this.ref(stack, logicalId)),
      arn: String(this.getAtt(stack, logicalId, 'Arn')),
      codeFile,
      exportName,
      environment,
      roleArn: String(this.resolve(stack, props.Role ?? '')),
      timeoutSeconds: Number(props.Timeout ?? 3),
      memoryMb: Number(props.MemorySize ?? 128),
      runtime: String(props.Runtime ?? 'nodejs22.x'),
    };
  }

  /**
   * The module a function runs. The bundles inline their own AWS SDK (`externalModules: []`), which no
   * in-process adapter can reach, so the runner loads the handler's *source* entry — the file the synthesized
   * bundle was built from, named first in the bundle's source map — and the SDK it imports resolves to the
   * project's `node_modules`, where aws-sdk-client-mock routes it. A bundle without a source map falls back to
   * `lambda/<kebab-case construct id>/index.ts`, then to the bundle itself.
   */
  private handlerSource(resource: CfnResource, moduleName: string): string {
    const assetPath = resource.Metadata?.['aws:asset:path'];
    const projectRoot = this.projectRoot;
    if (typeof assetPath === 'string') {
      const assetDir = path.resolve(this.assemblyDir, assetPath);
      const bundle = ['.js', '.cjs', '.mjs'].map((ext) => path.join(assetDir, moduleName + ext)).find((f) => existsSync(f));
      const map = bundle && existsSync(`${bundle}.map`) ? (JSON.parse(readFileSync(`${bundle}.map`, 'utf8')) as { sources?: string[] }) : undefined;
      const entry = map?.sources
        ?.map((src) => path.resolve(assetDir, src))
        .find((src) => /\/lambda\/(?!shared\/)[^/]+\/index\.[cm]?[jt]s$/.test(src) && !src.includes('node_modules') && existsSync(src));
      if (entry) return entry;
      const constructPath = resource.Metadata?.['aws:cdk:path'];
      if (typeof constructPath === 'string') {
        const id = constructPath.split('/')[1] ?? '';
        const guess = path.join(projectRoot, 'lambda', kebab(id), 'index.ts');
        if (existsSync(guess)) return guess;
      }
      if (bundle) return bundle;
    }
    return '';
  }

  private localStateMachine(stack: StackTemplate, logicalId: string, resource: CfnResource): LocalStateMachine {
    const props = resource.Properties ?? {};
    let definition: Record<string, unknown>;
    if (props.DefinitionString !== undefined) {
      const text = this.resolve(stack, props.DefinitionString);
      definition = JSON.parse(String(text));
    } else if (props.Definition !== undefined) {
      let text = JSON.stringify(this.resolve(stack, props.Definition));
      const subs = (this.resolve(stack, props.DefinitionSubstitutions ?? {}) ?? {}) as Record<string, Json>;
      for (const [k, v] of Object.entries(subs)) text = text.split('${' + k + '}').join(String(v));
      definition = JSON.parse(text);
    } else {
      throw new Error(`State machine ${logicalId} has neither DefinitionString nor Definition`);
    }
    return {
      stackName: stack.stackName,
      logicalId,
      name: String(this.getAtt(stack, logicalId, 'Name')),
      arn: String(this.ref(stack, logicalId)),
      definition,
      roleArn: String(this.resolve(stack, props.RoleArn ?? '')),
    };
  }

  resolve(stack: StackTemplate, value: Json): Json {
    return resolveIntrinsics(value, this.context(stack));
  }

  private context(stack: StackTemplate): IntrinsicContext {
    return {
      region: this.region,
      accountId: this.accountId,
      stackName: stack.stackName,
      conditions: stack.template.Conditions,
      mappings: stack.template.Mappings,
      ref: (id) => this.ref(stack, id),
      getAtt: (id, attr) => this.getAtt(stack, id, attr),
      importValue: (name) => {
        const found = this.exports.get(name);
        if (!found) throw new UnresolvableError(`Fn::ImportValue: no stack exports "${name}"`);
        return this.resolve(found.stack, found.value);
      },
    };
  }

  private condition(stack: StackTemplate, name: string): boolean {
    return Boolean(this.resolve(stack, { 'Fn::If': [name, true, false] }));
  }

  private guarded<T>(key: string, fn: () => T): T {
    if (this.resolving.has(key)) throw new UnresolvableError(`Circular reference while resolving ${key}`);
    this.resolving.add(key);
    try {
      return fn();
    } finally {
      this.resolving.delete(key);
    }
  }

  private resource(stack: StackTemplate, logicalId: string): CfnResource {
    const resource = stack.template.Resources?.[logicalId];
    if (!resource) throw new UnresolvableError(`${stack.stackName}: no resource or parameter "${logicalId}"`);
    return resource;
  }

  /** The name a resource has locally (its name property, else derived from the logical id). */
  private physicalName(stack: StackTemplate, logicalId: string, nameProperty: string | undefined, style: 'kebab' | 'stack-prefixed'): string {
    const props = this.resource(stack, logicalId).Properties ?? {};
    if (nameProperty && props[nameProperty] !== undefined) {
      return String(this.guarded(`${stack.stackName}/${logicalId}/name`, () => this.resolve(stack, props[nameProperty])));
    }
    const base = stripHash(logicalId);
    if (style === 'kebab') return kebab(base).slice(0, 63).replace(/-+$/, '');
    return `${stack.stackName}-${base}`.slice(0, 64);
  }

  private ref(stack: StackTemplate, logicalId: string): Json {
    const parameter = stack.template.Parameters?.[logicalId];
    if (parameter) {
      if (parameter.Default === undefined) throw new UnresolvableError(`Parameter ${logicalId} has no default`);
      if (parameter.Type?.startsWith('AWS::SSM::Parameter::Value')) return `local-ssm-${String(parameter.Default)}`;
      return parameter.Default;
    }
    const resource = this.resource(stack, logicalId);
    const r = this.region;
    const a = this.accountId;
    switch (resource.Type) {
      case 'AWS::S3::Bucket':
        return this.physicalName(stack, logicalId, 'BucketName', 'kebab').toLowerCase();
      case 'AWS::Lambda::Function':
        return this.physicalName(stack, logicalId, 'FunctionName', 'stack-prefixed');
      case 'AWS::IAM::Role':
        return this.physicalName(stack, logicalId, 'RoleName', 'stack-prefixed');
      case 'AWS::SNS::Topic':
        return `arn:aws:sns:${r}:${a}:${this.physicalName(stack, logicalId, 'TopicName', 'stack-prefixed')}`;
      case 'AWS::StepFunctions::StateMachine':
        return `arn:aws:states:${r}:${a}:stateMachine:${this.physicalName(stack, logicalId, 'StateMachineName', 'stack-prefixed')}`;
      case 'AWS::EMRServerless::Application':
        return `00${createHash('sha256').update(`${stack.stackName}/${logicalId}`).digest('hex').slice(0, 14)}`;
      case 'AWS::SecretsManager::Secret':
        return `arn:aws:secretsmanager:${r}:${a}:secret:${this.physicalName(stack, logicalId, 'Name', 'stack-prefixed')}-local`;
      case 'AWS::Logs::LogGroup':
        return this.physicalName(stack, logicalId, 'LogGroupName', 'stack-prefixed');
      case 'AWS::KMS::Key':
        return createHash('sha256').update(logicalId).digest('hex').slice(0, 32);
      default:
        return `${kebab(stripHash(logicalId))}-local`;
    }
  }

  private getAtt(stack: StackTemplate, logicalId: string, attribute: string): Json {
    const resource = this.resource(stack, logicalId);
    const r = this.region;
    const a = this.accountId;
    const name = () => String(this.ref(stack, logicalId));
    switch (`${resource.Type}.${attribute}`) {
      case 'AWS::S3::Bucket.Arn':
        return `arn:aws:s3:::${name()}`;
      case 'AWS::S3::Bucket.DomainName':
        return `${name()}.s3.amazonaws.com`;
      case 'AWS::S3::Bucket.RegionalDomainName':
        return `${name()}.s3.${r}.amazonaws.com`;
      case 'AWS::Lambda::Function.Arn':
        return `arn:aws:lambda:${r}:${a}:function:${name()}`;
      case 'AWS::IAM::Role.Arn':
        return `arn:aws:iam::${a}:role/${name()}`;
      case 'AWS::IAM::Role.RoleId':
        return `AROALOCAL${createHash('sha256').update(logicalId).digest('hex').slice(0, 12).toUpperCase()}`;
      case 'AWS::SNS::Topic.TopicArn':
        return name();
      case 'AWS::SNS::Topic.TopicName':
        return name().split(':').pop()!;
      case 'AWS::StepFunctions::StateMachine.Arn':
        return name();
      case 'AWS::StepFunctions::StateMachine.Name':
        return name().split(':').pop()!;
      case 'AWS::EMRServerless::Application.ApplicationId':
        return name();
      case 'AWS::EMRServerless::Application.Arn':
        return `arn:aws:emr-serverless:${r}:${a}:/applications/${name()}`;
      case 'AWS::Logs::LogGroup.Arn':
        return `arn:aws:logs:${r}:${a}:log-group:${name()}:*`;
      case 'AWS::KMS::Key.Arn':
        return `arn:aws:kms:${r}:${a}:key/${name()}`;
      case 'AWS::SecretsManager::Secret.Id':
        return name();
      case 'AWS::Events::Rule.Arn':
        return `arn:aws:events:${r}:${a}:rule/${name()}`;
      default:
        if (attribute === 'Arn') return `arn:aws:local:${r}:${a}:${resource.Type.replace(/::/g, '-').toLowerCase()}/${logicalId}`;
        return `${name()}.${attribute}`;
    }
  }
}

function stripHash(logicalId: string): string {
  const match = /^(.*?)[0-9A-F]{8}$/.exec(logicalId);
  return match && match[1] ? match[1] : logicalId;
}

function kebab(text: string): string {
  return text
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1-$2')
    .replace(/[^A-Za-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .toLowerCase();
}

function normalize(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9]/g, '');
}
