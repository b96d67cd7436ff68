import { randomUUID } from 'node:crypto';
import { appendFileSync, mkdirSync } from 'node:fs';
import * as path from 'node:path';
import type { LocalDeployment } from './deployment';
import { validateSnsPublish } from './service-limits';

/** What a publish to a topic of the app leaves in `alerts.jsonl` (one line per message). */
export interface AlertLine {
  readonly timestamp: string;
  readonly topicArn: string;
  readonly topic: string;
  readonly messageId: string;
  readonly subject: string | null;
  readonly message: string;
  /** Who published: the state of a state machine, or the caller of an SDK Publish. */
  readonly state?: string;
  readonly publisher?: string;
}

export class TopicNotFoundError extends Error {
  constructor(topicArn: string | undefined) {
    super(`Topic does not exist: ${topicArn} (Service: Sns, Status Code: 404)`);
    this.name = 'SNS.NotFoundException';
  }
}

/**
 * SNS Publish to a topic of the synthesized app, as SNS checks it (the topic exists, Subject/Message within
 * limits): the message becomes a line of the alerts file. Authorization is the caller's business.
 */
export function publishToTopic(
  deployment: Pick<LocalDeployment, 'topics'>,
  alertsFile: string,
  params: { TopicArn?: string; Subject?: string; Message?: unknown; MessageAttributes?: unknown },
  origin: { readonly state: string } | { readonly publisher: string },
): AlertLine {
  const topic = deployment.topics.find((t) => t.arn === params.TopicArn);
  if (!topic) throw new TopicNotFoundError(params.TopicArn);
  validateSnsPublish(params);
  const line: AlertLine = {
    timestamp: new Date().toISOString(),
    topicArn: topic.arn,
    topic: topic.name,
    messageId: randomUUID(),
    subject: params.Subject ?? null,
    message: typeof params.Message === 'string' ? params.Message : JSON.stringify(params.Message),
    ...origin,
  };
  mkdirSync(path.dirname(alertsFile), { recursive: true });
  appendFileSync(alertsFile, `${JSON.stringify(line)}\n`);
  return line;
}
