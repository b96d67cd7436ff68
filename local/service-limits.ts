/**
 * Service limits the local runner enforces the way AWS does, so a definition that would break a quota in the
 * cloud breaks it here first:
 *
 * - Step Functions payload size (Service quotas: 256 KiB = 262,144 bytes of UTF-8 JSON): a task's result
 *   (the "connector output"), a Task state's input after `Parameters`, and any state's output larger than that
 *   fail the execution with `States.DataLimitExceeded`. The Step Functions developer guide ("Handling errors",
 *   https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html) calls it a terminal error
 *   that `States.ALL` cannot catch: no Retry or Catch of the definition handles it, the execution fails.
 * - SNS Publish (API reference, PublishInput): `Subject` must be UTF-8 text with no line breaks or control
 *   characters and less than 100 characters long; `Message` at most 256 KB (262,144 bytes, not characters).
 *   Violations fail the task with `SNS.InvalidParameterException` (the SDK exception class under the `SNS.`
 *   prefix, as the integration names errors).
 */
import { randomUUID } from 'node:crypto';
import { TaskError } from './task-errors';

/** Step Functions' payload quota for state input/output and task results, in UTF-8 bytes. */
export const PAYLOAD_LIMIT_BYTES = 262_144;
/** SNS Publish: largest Message, in UTF-8 bytes. */
export const SNS_MESSAGE_LIMIT_BYTES = 262_144;
/** SNS Publish: a Subject must be shorter than this many characters. */
export const SNS_SUBJECT_LIMIT_CHARS = 100;

/** The size Step Functions measures: the value as JSON text, in UTF-8 bytes. */
export function payloadBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value ?? null) ?? 'null', 'utf8');
}

/** `States.DataLimitExceeded`: neither retried nor caught (the engine honours `isRetryable`/`isCatchable`). */
export class DataLimitExceededError extends TaskError {
  constructor(cause: string) {
    super('States.DataLimitExceeded', cause);
  }
  get isRetryable(): boolean {
    return false;
  }
  get isCatchable(): boolean {
    return false;
  }
}

/** The cause Step Functions gives for an oversized result (`state/task` is the resource or state name). */
export function dataLimitCause(subject: string, what: 'result' | 'input' | 'output' = 'result'): string {
  const noun = what === 'result' ? 'returned a result' : what === 'input' ? 'has an input (after Parameters)' : 'produced an output';
  return `The state/task '${subject}' ${noun} with a size exceeding the maximum number of bytes service limit.`;
}

/** Throws {@link DataLimitExceededError} when `value` is over the payload quota. */
export function assertWithinPayloadLimit(value: unknown, subject: string, what: 'result' | 'input' | 'output' = 'result'): void {
  if (payloadBytes(value) > PAYLOAD_LIMIT_BYTES) throw new DataLimitExceededError(dataLimitCause(subject, what));
}

/**
 * Watches one execution's state inputs and outputs (the engine's event log) for the payload quota. The first
 * violation is kept as the execution's terminal failure; {@link onFailure} lets the runtime abort the execution,
 * and task handlers check {@link failure} before they start, so nothing runs after the quota was broken.
 */
export class PayloadGuard {
  failure?: { readonly error: string; readonly cause: string };
  private listener?: () => void;

  onFailure(listener: () => void): void {
    this.listener = listener;
  }

  /**
   * Checks a `StateExited` event's output (Parallel branches' states included: the engine forwards them). An
   * oversized output turns the event into that state's `StateFailed` (Error/Cause set), as Step Functions reports
   * it, and ends the execution.
   */
  observe(event: { type?: string; state?: { name?: string; output?: unknown }; Error?: string; Cause?: string }): void {
    if (this.failure || event.type !== 'StateExited' || !event.state) return;
    if (payloadBytes(event.state.output) <= PAYLOAD_LIMIT_BYTES) return;
    const error = new DataLimitExceededError(dataLimitCause(event.state.name ?? '?', 'output'));
    Object.assign(event, { type: 'StateFailed', Error: error.name, Cause: error.message });
    this.fail(error);
  }

  fail(error: TaskError): void {
    if (this.failure) return;
    this.failure = { error: error.name, cause: error.message };
    this.listener?.();
  }

  /** Rejects when the execution already broke the quota (a task must not start after that). */
  assertOpen(): void {
    if (this.failure) throw new DataLimitExceededError(this.failure.cause);
  }
}

/** SNS Publish parameter checks; throws `SNS.InvalidParameterException` like the service. */
export function validateSnsPublish(params: { Subject?: unknown; Message?: unknown }): void {
  const invalid = (what: string) =>
    new TaskError('SNS.InvalidParameterException', `Invalid parameter: ${what} (Service: Sns, Status Code: 400, Request ID: ${randomUUID()})`);
  if (params.Subject !== undefined && params.Subject !== null) {
    const subject = String(params.Subject);
    // line breaks and control characters: C0, DEL, C1, and the Unicode line/paragraph separators
    if ([...subject].length >= SNS_SUBJECT_LIMIT_CHARS || /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(subject)) throw invalid('Subject');
  }
  const message = typeof params.Message === 'string' ? params.Message : JSON.stringify(params.Message ?? '');
  if (Buffer.byteLength(message, 'utf8') > SNS_MESSAGE_LIMIT_BYTES) throw invalid('Message too long');
}
