import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

export interface AlertsTopicProps {
  /** E-mail address subscribed to the alerts. @default - no subscription */
  readonly email?: string;
  /** @default - generated */
  readonly topicName?: string;
}

/**
 * The SNS topic every alert goes to: pipeline failure paths, CloudWatch alarms, EMR Serverless job-run
 * failures. Encrypted with a customer-managed KMS key (rotation on) whose policy lets CloudWatch and
 * EventBridge publish; TLS enforced by the topic policy.
 */
export class AlertsTopic extends Construct {
  public readonly topic: sns.Topic;
  public readonly key: kms.Key;
  /** Alerts that could not be delivered (e-mail subscription, EventBridge rule targets), kept 14 days. */
  public readonly deadLetterQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: AlertsTopicProps = {}) {
    super(scope, id);
    this.key = new kms.Key(this, 'Key', {
      description: 'Encrypts the ML pipeline alerts topic',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    for (const service of ['cloudwatch.amazonaws.com', 'events.amazonaws.com']) {
      this.key.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: `Allow${service.split('.')[0]}ToPublish`,
          principals: [new iam.ServicePrincipal(service)],
          actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
          resources: ['*'],
        }),
      );
    }
    this.topic = new sns.Topic(this, 'Topic', {
      topicName: props.topicName,
      displayName: 'ML pipeline alerts',
      masterKey: this.key,
      enforceSSL: true,
    });
    this.deadLetterQueue = new sqs.Queue(this, 'UndeliveredAlerts', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    for (const id of ['AwsSolutions-SQS3', 'Serverless-SQSRedrivePolicy']) {
      Validations.of(this.deadLetterQueue).acknowledge({
        id,
        reason:
          'UndeliveredAlerts is itself the dead-letter queue of the alert e-mail subscription and alert rule targets; ' +
          'operators inspect it by hand, so a redrive policy / DLQ of this DLQ adds nothing.',
      });
    }
    if (props.email) {
      this.topic.addSubscription(new subscriptions.EmailSubscription(props.email, { deadLetterQueue: this.deadLetterQueue }));
    }
  }

  /** Allow `grantee` to publish (incl. the KMS data key). */
  public grantPublish(grantee: iam.IGrantable): void {
    this.topic.grantPublish(grantee);
  }
}
