import * as path from 'node:path';
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { XRAY_ALLOWANCE, acknowledgeIamWildcards } from './nag-acknowledgements';

/** Repository root (this file is lib/constructs/pipeline-function.ts). */
export const PROJECT_ROOT = path.resolve(__dirname, '..', '..');

export interface PipelineFunctionProps {
  /** Handler folder name under `lambda/` (entry `lambda/<handler>/index.ts`, export `handler`). */
  readonly handler: string;
  readonly environment?: Record<string, string>;
  /** @default Duration.seconds(30) */
  readonly timeout?: Duration;
  /** @default 256 */
  readonly memorySize?: number;
  /** @default lambda.Architecture.ARM_64 */
  readonly architecture?: lambda.Architecture;
  /** @default logs.RetentionDays.ONE_MONTH */
  readonly logRetention?: logs.RetentionDays;
  /** @default RemovalPolicy.RETAIN */
  readonly logRemovalPolicy?: RemovalPolicy;
  /**
   * For a function invoked asynchronously (e.g. by EventBridge Scheduler): where an invocation that still fails
   * after Lambda's retries is sent (on-failure destination, with the event and the error).
   * @default - none: the function is only invoked synchronously (by Step Functions)
   */
  readonly asyncFailureTopic?: sns.ITopic;
  /** Run inside this VPC (e.g. to reach the database). @default - no VPC */
  readonly vpc?: { readonly vpc: ec2.IVpc; readonly subnets: ec2.ISubnet[]; readonly securityGroups: ec2.ISecurityGroup[] };
}

/**
 * A pipeline Lambda handler: TypeScript bundled by esbuild (minified, source maps, AWS SDK v3 bundled so the
 * deployed code runs the versions the tests ran), Node.js 24, JSON logs at INFO into a log group with retention,
 * X-Ray active tracing, Powertools service name = handler name. Invoked synchronously by Step Functions only.
 */
export class PipelineFunction extends Construct {
  public readonly function: nodejs.NodejsFunction;
  /** The function's own role: writes its log group, plus what the stack grants. */
  public readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: PipelineFunctionProps) {
    super(scope, id);
    const logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy: props.logRemovalPolicy ?? RemovalPolicy.RETAIN,
    });
    // An own role instead of AWSLambdaBasicExecutionRole: logs go to this function's log group only.
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `ML pipelines Lambda ${props.handler}`,
    });
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [logGroup.logGroupArn] }),
    );
    this.function = new nodejs.NodejsFunction(this, 'Function', {
      role: this.role,
      entry: path.join(PROJECT_ROOT, 'lambda', props.handler, 'index.ts'),
      handler: 'handler',
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: path.join(PROJECT_ROOT, 'package-lock.json'),
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: props.architecture ?? lambda.Architecture.ARM_64,
      memorySize: props.memorySize ?? 256,
      timeout: props.timeout ?? Duration.seconds(30),
      tracing: lambda.Tracing.ACTIVE,
      logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      applicationLogLevelV2: lambda.ApplicationLogLevel.INFO,
      systemLogLevelV2: lambda.SystemLogLevel.WARN,
      description: `ML pipelines: ${props.handler}`,
      environment: {
        POWERTOOLS_SERVICE_NAME: props.handler,
        NODE_OPTIONS: '--enable-source-maps',
        ...props.environment,
      },
      onFailure: props.asyncFailureTopic ? new destinations.SnsDestination(props.asyncFailureTopic) : undefined,
      vpc: props.vpc?.vpc,
      vpcSubnets: props.vpc ? { subnets: props.vpc.subnets } : undefined,
      securityGroups: props.vpc?.securityGroups,
      bundling: {
        minify: true,
        sourceMap: true,
        target: 'node22',
        externalModules: [],
        // Powertools and the SDK are plain dependencies; keep the bundle self-contained.
        forceDockerBundling: false,
      },
    });

    acknowledgeIamWildcards(this, [XRAY_ALLOWANCE]);
    if (props.vpc) {
      Validations.of(this.role).acknowledge({
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]',
        reason: `${props.handler} runs in the database VPC; the AWS-managed VPC access policy holds exactly the ENI actions Lambda needs to attach it.`,
      });
      acknowledgeIamWildcards(this, [
        { finding: /^Resource::\*$/, reason: 'X-Ray actions and the ec2 ENI actions Lambda needs in a VPC support no resource-level permissions.' },
      ]);
    }
    if (props.asyncFailureTopic) {
      Validations.of(this.function).acknowledge({
        id: 'Serverless-LambdaDLQ',
        reason: `${props.handler}: asynchronous invocations that fail after Lambda's retries go to its on-failure destination (the alerts topic, with the event and the error); a DLQ would only duplicate them.`,
      });
      acknowledgeIamWildcards(this, [
        { finding: /^Action::kms:GenerateDataKey\*$/, reason: `${props.handler}: publishing failures to the KMS-encrypted alerts topic needs kms:GenerateDataKey* on that topic's key only.` },
      ]);
    } else {
      Validations.of(this.function).acknowledge({
        id: 'Serverless-LambdaDLQ',
        reason: `${props.handler} is only invoked synchronously by Step Functions (RequestResponse); failures surface as task errors that Retry/Catch handle, so there is no async event to dead-letter.`,
      });
      Validations.of(this.function).acknowledge({
        id: 'Serverless-LambdaAsyncFailureDestination',
        reason: `${props.handler} is never invoked asynchronously (only by Step Functions tasks), so an on-failure destination would never fire.`,
      });
    }
  }
}
