import type { ExecutionRecord, StepRecord } from './runtime';

/**
 * The steps of one execution from the engine's event log: a StepRecord per state entry (its status through
 * retries and catches, its duration, error and log file), and the last state data seen.
 */
export class StepTracker {
  private readonly open = new Map<string, StepRecord>();

  constructor(
    private readonly record: ExecutionRecord,
    private readonly parents: Map<string, string>,
    private readonly logFiles: Map<string, string>,
    private readonly emit: (step: StepRecord) => void,
  ) {}

  observe(event: Record<string, any>): void {
    const stateName: string | undefined = event.state?.name;
    // States of concurrent Map iterations share a name; the engine tells them apart by the iteration index.
    const key = typeof event.index === 'number' ? `${stateName}#${event.index}` : stateName;
    switch (event.type) {
      case 'StateEntered': {
        const existing = this.open.get(key!);
        if (existing && existing.status === 'retrying') {
          existing.status = 'running';
          this.emit(existing);
          break;
        }
        const step: StepRecord = {
          name: stateName!,
          type: event.state.type,
          status: 'running',
          startedAt: event.timestamp,
          attempts: 1,
          parent: this.parents.get(stateName!),
          logFile: this.logFiles.get(stateName!),
        };
        this.open.set(key!, step);
        this.record.steps.push(step);
        this.emit(step);
        break;
      }
      case 'StateExited': {
        const step = this.open.get(key!);
        if (step) {
          if (step.status !== 'caught') step.status = 'succeeded';
          this.finish(step, event.timestamp);
          this.open.delete(key!);
          this.emit(step);
        }
        this.record.lastData = event.state.output;
        break;
      }
      case 'StateFailed': {
        const step = this.open.get(key!);
        if (step) {
          step.status = 'failed';
          step.error = event.Error;
          step.cause = typeof event.Cause === 'string' ? event.Cause : JSON.stringify(event.Cause);
          this.finish(step, event.timestamp);
          this.emit(step);
        }
        break;
      }
      case 'StateRetried': {
        const step = this.open.get(key!);
        if (step) {
          step.status = 'retrying';
          step.attempts += 1;
          this.emit(step);
        }
        break;
      }
      case 'StateCaught': {
        const step = this.open.get(key!);
        if (step) {
          step.status = 'caught';
          this.finish(step, event.timestamp);
          this.emit(step);
        }
        break;
      }
      default:
        break;
    }
  }

  /** Steps still running when the execution ended (e.g. the other branch of a failed Parallel). */
  finishRunning(at: number): void {
    for (const step of this.open.values()) if (step.status === 'running') this.finish(step, at);
  }

  private finish(step: StepRecord, at: number): void {
    step.endedAt = at;
    step.durationMs = at - step.startedAt;
    step.logFile ??= this.logFiles.get(step.name);
  }
}
