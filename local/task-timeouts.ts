/**
 * A Task state's `TimeoutSeconds` and `HeartbeatSeconds` on the integration's side of the local runner.
 *
 * aws-local-stepfunctions 3.0 races each Task against its `TimeoutSeconds` (or `TimeoutSecondsPath`) and fails it
 * with its own `States.Timeout` — the error Retry/Catch then match as Step Functions does (`States.TaskFailed`
 * does not match it) — but it leaves the handler running and knows no `HeartbeatSeconds`. This wrapper adds the
 * rest, from the moment the task starts:
 * - `TimeoutSeconds`: the handler's signal aborts, so a `.sync` job run is cancelled (CANCELLED), as Step
 *   Functions cancels it ("when the task times out, Step Functions makes a best-effort attempt to cancel the job
 *   run"); whatever the handler does afterwards is ignored — the engine's `States.Timeout` is the outcome. The
 *   timer is armed before the engine's (same length), so the cancel is never late.
 * - `HeartbeatSeconds`: heartbeats come only from SendTaskHeartbeat with the task's token (activities, callbacks,
 *   optionally job runs); none of the local integrations (Lambda request-response, EMR Serverless `.sync`, SNS)
 *   sends one, so a task still running `HeartbeatSeconds` after it started fails with `States.HeartbeatTimeout`
 *   (ASL: "If more time than the specified seconds elapses between heartbeats from the task, then the interpreter
 *   fails the state with a States.HeartbeatTimeout Error Name"), and its signal aborts too.
 * The project's definitions set no `HeartbeatSeconds`; every Task gets a `TimeoutSeconds` (prepareDefinition).
 */
import { TaskError } from './task-errors';

/** A handler that stops what it started when `signal` aborts (the reason is a human-readable string). */
export type AbortableHandler = (input: unknown, signal: AbortSignal) => Promise<unknown>;

export function withTaskTimeouts(state: Record<string, unknown>, stateName: string, handler: AbortableHandler): (input: unknown) => Promise<unknown> {
  return (input) => {
    const timeout = seconds(state.TimeoutSeconds, state.TimeoutSecondsPath, input);
    const heartbeat = seconds(state.HeartbeatSeconds, state.HeartbeatSecondsPath, input);
    const controller = new AbortController();
    return new Promise((resolve, reject) => {
      const timers: NodeJS.Timeout[] = [];
      let ended = false;
      const end = () => {
        ended = true;
        for (const t of timers) clearTimeout(t);
      };
      if (timeout !== undefined) {
        timers.push(
          setTimeout(() => {
            end(); // the engine's own timer fails the task with States.Timeout right after this one
            controller.abort(`Job run cancelled by Step Functions: task "${stateName}" timed out after ${timeout} seconds (TimeoutSeconds).`);
          }, timeout * 1000),
        );
      }
      if (heartbeat !== undefined && (timeout === undefined || heartbeat < timeout)) {
        timers.push(
          setTimeout(() => {
            end();
            controller.abort(`Job run cancelled by Step Functions: task "${stateName}" sent no heartbeat for ${heartbeat} seconds (HeartbeatSeconds).`);
            reject(new TaskError('States.HeartbeatTimeout', `Task "${stateName}" sent no heartbeat within ${heartbeat} seconds (HeartbeatSeconds); the local integrations never send heartbeats.`));
          }, heartbeat * 1000),
        );
      }
      handler(input, controller.signal).then(
        (value) => {
          if (ended) return;
          end();
          resolve(value);
        },
        (error) => {
          if (ended) return;
          end();
          reject(error);
        },
      );
    });
  };
}

/** A positive number of seconds from the field or a simple `$.a.b` path into the task's input. */
function seconds(value: unknown, pathField: unknown, input: unknown): number | undefined {
  let v = value;
  if (v === undefined && typeof pathField === 'string' && /^\$(\.[A-Za-z_][\w-]*)+$/.test(pathField)) {
    v = pathField
      .slice(2)
      .split('.')
      .reduce<unknown>((o, k) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), input);
  }
  return typeof v === 'number' && v > 0 ? v : undefined;
}
