import { Annotations, Arn, ArnFormat, Duration, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
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
      /**
       * Customer-managed KMS key the secret is encrypted with: readers of the secret get `kms:Decrypt` on it through
       * Secrets Manager only ({@link databaseSecretStatements}).
       * @default - the AWS managed key `aws/secretsmanager` (nothing to grant)
       */
      readonly secretKmsKeyArn?: string;
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
      /**
       * Zones (AZ IDs, e.g. `use1-az4`) of the two subnets, set as each subnet's `AvailabilityZoneId`: AZ IDs name
       * the same zone in every account, and EMR Serverless runs only in some zones of some regions
       * (lib/config/emr-serverless-zones.json).
       * @default - the region's first two zones by name (`Fn::GetAZs`)
       */
      readonly availabilityZoneIds?: readonly string[];
    };

/**
 * What reading the database secret takes (`GetSecretValue` through the AWS SDK): `secretsmanager:GetSecretValue`
 * and `DescribeSecret` on the secret and, when a customer-managed key encrypts it (`secret.encryptionKey`),
 * `kms:Decrypt` on that key — only when Secrets Manager asks on the reader's behalf (`kms:ViaService` =
 * `secretsmanager.<region of the secret>.amazonaws.com`) for this secret (`kms:EncryptionContext:SecretARN`).
 * Secrets Manager decrypts a secret value with the caller's permissions (Secrets Manager User Guide, "Secret
 * encryption and decryption"). Written out because aws-cdk-lib's `Secret.grantRead` grants nothing on an imported
 * key (its `kms:ViaService` principal cannot add to a role's policy, and an imported key's policy cannot be changed).
 */
export function databaseSecretStatements(secret: secretsmanager.ISecret): iam.PolicyStatement[] {
  const statements = [
    new iam.PolicyStatement({
      sid: 'DatabaseSecret',
      actions: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'],
      resources: [secret.secretArn],
    }),
  ];
  if (secret.encryptionKey) {
    const region = Arn.split(secret.secretArn, ArnFormat.COLON_RESOURCE_NAME).region;
    statements.push(
      new iam.PolicyStatement({
        sid: 'DatabaseSecretKey',
        actions: ['kms:Decrypt'],
        resources: [secret.encryptionKey.keyArn],
        conditions: {
          StringEquals: {
            'kms:ViaService': `secretsmanager.${region}.amazonaws.com`,
            'kms:EncryptionContext:SecretARN': secret.secretArn,
          },
        },
      }),
    );
  }
  return statements;
}

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
  /** The credentials secret (`encryptionKey` set when a customer-managed key encrypts it). */
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
      this.secret = secretsmanager.Secret.fromSecretAttributes(this, 'Secret', {
        secretCompleteArn: props.secretArn,
        encryptionKey: props.secretKmsKeyArn ? kms.Key.fromKeyArn(this, 'SecretKey', props.secretKmsKeyArn) : undefined,
      });
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
    if (props.availabilityZoneIds) {
      if (props.availabilityZoneIds.length !== vpc.isolatedSubnets.length) {
        throw new Error(`availabilityZoneIds: ${props.availabilityZoneIds.length} given for ${vpc.isolatedSubnets.length} subnets`);
      }
      vpc.isolatedSubnets.forEach((subnet, i) => {
        const cfn = subnet.node.defaultChild as ec2.CfnSubnet;
        cfn.availabilityZoneId = props.availabilityZoneIds![i];
        cfn.addPropertyDeletionOverride('AvailabilityZone');
      });
    } else if (Token.isUnresolved(Stack.of(this).region)) {
      Annotations.of(this).addWarningV2(
        'emr-ml:database-zones',
        'The database VPC takes the region\'s first two zones by name; in us-east-1, us-east-2, us-west-1, us-west-2 and ca-central-1 EMR Serverless runs only in some zones — set database.availabilityZoneIds there.',
      );
    }

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

  /** Allow `grantee` to read the credentials secret ({@link databaseSecretStatements}). */
  public grantReadSecret(grantee: iam.IGrantable): iam.Grant {
    return databaseSecretStatements(this.secret)
      .map((s) => iam.Grant.addToPrincipal({ grantee, actions: s.actions, resourceArns: s.resources, conditions: s.conditions }))
      .reduce((all, grant) => all.combine(grant));
  }
}
