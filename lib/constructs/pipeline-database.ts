import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as rds from 'aws-cdk-lib/aws-rds';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';

export const POSTGRES_PORT = 5432;

export type PipelineDatabaseProps =
  | {
      readonly mode: 'existing';
      /** Secret with `{host, port, dbname, username, password}` (complete ARN). */
      readonly secretArn: string;
      readonly vpcId: string;
      /** Subnets the EMR application and the database Lambdas run in (must reach S3 and Secrets Manager). */
      readonly subnetIds: string[];
      readonly availabilityZones: string[];
      /** Security group allowed to connect to the database; given to EMR workers and Lambdas. */
      readonly securityGroupId: string;
    }
  | {
      readonly mode: 'provisioned';
      /** @default 'news' */
      readonly databaseName?: string;
      /** Aurora capacity units; 0 lets the cluster pause when idle. @default 0 */
      readonly minCapacityAcu?: number;
      /** @default 2 */
      readonly maxCapacityAcu?: number;
      /** VPC flow logs go here (`vpc-flow-logs/`). */
      readonly flowLogsBucket: s3.IBucket;
      /** @default RemovalPolicy.SNAPSHOT */
      readonly removalPolicy?: RemovalPolicy;
      /** @default true */
      readonly deletionProtection?: boolean;
    };

/**
 * The news database and the network that reaches it.
 *
 * - `provisioned`: a VPC with isolated subnets only (no NAT, no internet), a gateway endpoint for S3 and an
 *   interface endpoint for Secrets Manager, flow logs to S3, and Aurora PostgreSQL Serverless v2 (encrypted,
 *   IAM auth enabled, credentials generated into Secrets Manager with rotation, reachable on 5432 only from the
 *   client security group).
 * - `existing`: imports the VPC, subnets, security group and secret (endpoints are the owner's concern).
 */
export class PipelineDatabase extends Construct {
  public readonly vpc: ec2.IVpc;
  public readonly subnets: ec2.ISubnet[];
  /** Given to EMR Serverless workers and database Lambdas. */
  public readonly clientSecurityGroup: ec2.ISecurityGroup;
  public readonly secret: secretsmanager.ISecret;
  public readonly cluster?: rds.DatabaseCluster;

  constructor(scope: Construct, id: string, props: PipelineDatabaseProps) {
    super(scope, id);
    if (props.mode === 'existing') {
      this.vpc = ec2.Vpc.fromVpcAttributes(this, 'Vpc', {
        vpcId: props.vpcId,
        availabilityZones: props.availabilityZones,
        isolatedSubnetIds: props.subnetIds,
      });
      this.subnets = props.subnetIds.map((subnetId, i) => ec2.Subnet.fromSubnetId(this, `Subnet${i}`, subnetId));
      this.clientSecurityGroup = ec2.SecurityGroup.fromSecurityGroupId(this, 'ClientSecurityGroup', props.securityGroupId);
      this.secret = secretsmanager.Secret.fromSecretCompleteArn(this, 'Secret', props.secretArn);
      return;
    }

    const vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways: 0,
      subnetConfiguration: [{ name: 'isolated', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 }],
      gatewayEndpoints: { S3: { service: ec2.GatewayVpcEndpointAwsService.S3 } },
      flowLogs: {
        s3: {
          destination: ec2.FlowLogDestination.toS3(props.flowLogsBucket, 'vpc-flow-logs/'),
          trafficType: ec2.FlowLogTrafficType.REJECT,
        },
      },
    });
    this.vpc = vpc;
    this.subnets = vpc.isolatedSubnets;

    const client = new ec2.SecurityGroup(this, 'ClientSecurityGroup', {
      vpc,
      description: 'EMR Serverless workers and Lambdas that use the news database',
      allowAllOutbound: true,
    });
    this.clientSecurityGroup = client;

    const endpointSecurityGroup = new ec2.SecurityGroup(this, 'EndpointSecurityGroup', {
      vpc,
      description: 'Secrets Manager endpoint: HTTPS from the client security group only',
      allowAllOutbound: false,
    });
    endpointSecurityGroup.addIngressRule(client, ec2.Port.tcp(443), 'HTTPS from EMR workers and Lambdas');
    vpc.addInterfaceEndpoint('SecretsManagerEndpoint', {
      service: ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
      subnets: { subnets: vpc.isolatedSubnets },
      privateDnsEnabled: true,
      securityGroups: [endpointSecurityGroup],
      open: false,
    });

    const dbSecurityGroup = new ec2.SecurityGroup(this, 'DatabaseSecurityGroup', {
      vpc,
      description: 'News database: PostgreSQL from the client security group only',
      allowAllOutbound: false,
    });
    dbSecurityGroup.addIngressRule(client, ec2.Port.tcp(POSTGRES_PORT), 'PostgreSQL from EMR workers and Lambdas');

    this.cluster = new rds.DatabaseCluster(this, 'Cluster', {
      engine: rds.DatabaseClusterEngine.auroraPostgres({ version: rds.AuroraPostgresEngineVersion.VER_17_4 }),
      credentials: rds.Credentials.fromGeneratedSecret('pipelines'),
      defaultDatabaseName: props.databaseName ?? 'news',
      writer: rds.ClusterInstance.serverlessV2('Writer', { publiclyAccessible: false }),
      serverlessV2MinCapacity: props.minCapacityAcu ?? 0,
      serverlessV2MaxCapacity: props.maxCapacityAcu ?? 2,
      vpc,
      vpcSubnets: { subnets: vpc.isolatedSubnets },
      securityGroups: [dbSecurityGroup],
      port: POSTGRES_PORT,
      storageEncrypted: true,
      iamAuthentication: true,
      deletionProtection: props.deletionProtection ?? true,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.SNAPSHOT,
      backup: { retention: Duration.days(7) },
      cloudwatchLogsExports: ['postgresql'],
    });
    this.secret = this.cluster.secret!;
    this.cluster.addRotationSingleUser({
      automaticallyAfter: Duration.days(30),
      vpcSubnets: { subnets: vpc.isolatedSubnets },
      securityGroup: client,
    });

    Validations.of(this.cluster).acknowledge({
      id: 'AwsSolutions-RDS11',
      reason:
        'The news cluster listens on the standard PostgreSQL port 5432: it has no public endpoint (isolated subnets, ' +
        'no NAT/IGW) and its security group admits only the client security group, so a non-default port adds nothing.',
    });
  }
}
