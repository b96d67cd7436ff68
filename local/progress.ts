import * as path from 'node:path';
import { terminal } from './lambda-host';
import { errorSentence } from './task-errors';
import type { ExecutionRecord, ProgressEvent, StepRecord } from './runtime';

/**
 * The task list shown while executions run: one block per execution, one line per state entered, with its
 * status and duration. On a terminal the block is redrawn in place (a ticking clock on running states); when the
 * output is a file or a pipe, each finished state is printed once. Spark's and the handlers' output never
 * reaches the screen: it is in the per-state log files (`.local/logs/<state machine>/<execution>/`).
 */
export class ProgressDisplay {
  private readonly executions: ExecutionRecord[] = [];
  private renderedLines = 0;
  private timer?: NodeJS.Timeout;
  private readonly printed = new Set<StepRecord>();
  private readonly interactive: boolean;

  constructor(
    private readonly options: { readonly interactive?: boolean; readonly root?: string; readonly write?: (text: string) => void } = {},
  ) {
    this.interactive = options.interactive ?? Boolean(process.stdout.isTTY);
  }

  private write(text: string): void {
    (this.options.write ?? terminal.out)(text);
  }

  /** Pass to `LocalRuntime.run(…, { onEvent })`. */
  readonly onEvent = (event: ProgressEvent): void => {
    if (event.kind === 'execution-started') {
      this.executions.push(event.execution);
      if (!this.interactive) this.write(`${tag(event.execution)}▶ ${event.execution.stateMachine} · ${event.execution.executionName}\n`);
    }
    if (this.interactive) {
      this.start();
      this.render();
    } else if (event.kind === 'step' && isFinal(event.step) && !this.printed.has(event.step)) {
      this.printed.add(event.step);
      this.write(`${tag(event.execution)}${stepLine(event.step, this.options.root)}\n`);
    } else if (event.kind === 'execution-ended') {
      this.write(`${tag(event.execution)}${executionLine(event.execution)}\n`);
    }
    if (event.kind === 'execution-ended' && this.interactive && this.executions.every((e) => e.status !== 'RUNNING')) {
      // nothing runs any more: freeze the block, later executions render below it
      this.render();
      this.executions.length = 0;
      this.renderedLines = 0;
      this.stop();
    }
  };

  /** A line of text outside the task list (setup steps, notes). */
  note(text: string): void {
    if (this.interactive && this.renderedLines > 0) this.clear();
    this.write(`${text}\n`);
    if (this.interactive) this.render();
  }

  private start(): void {
    if (!this.timer) {
      this.timer = setInterval(() => this.render(), 500);
      this.timer.unref();
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private clear(): void {
    if (this.renderedLines > 0) this.write(`\x1b[${this.renderedLines}F\x1b[J`);
    this.renderedLines = 0;
  }

  private render(): void {
    if (!this.interactive) return;
    const lines: string[] = [];
    const running = this.executions.filter((e) => e.status === 'RUNNING');
    // The block is redrawn with cursor movements, so while anything runs it must fit the screen: a finished
    // execution shows only its failures, a running one its latest states.
    const rows = process.stdout.rows || 40;
    const budget = running.length ? Math.max(4, Math.floor((rows - 2 - this.executions.length * 2) / running.length)) : Infinity;
    for (const execution of this.executions) {
      lines.push(`▶ ${execution.stateMachine} · ${execution.executionName}`);
      let steps = execution.status !== 'RUNNING' && running.length ? execution.steps.filter((s) => s.status === 'failed' || s.status === 'caught') : execution.steps;
      if (execution.status === 'RUNNING' && steps.length > budget) {
        lines.push(`  … ${steps.length - budget + 1} earlier states`);
        steps = steps.slice(steps.length - budget + 1);
      }
      for (const step of steps) lines.push(stepLine(step, this.options.root));
      if (execution.status !== 'RUNNING') lines.push(executionLine(execution));
    }
    this.clear();
    if (lines.length) this.write(`${lines.join('\n')}\n`);
    this.renderedLines = lines.length;
  }
}

const ICONS: Record<StepRecord['status'], string> = {
  running: '…',
  succeeded: '✓',
  failed: '✗',
  caught: '✗',
  retrying: '↻',
};

/** Line prefix naming the pipeline when lines of concurrent executions interleave (non-interactive output). */
function tag(execution: ExecutionRecord): string {
  const short = execution.stateMachine.replace(/^emr-ml-[a-z0-9-]+?-(?=(recommender|drift|news|taxi))/, '');
  return `[${short}] `.padEnd(24);
}

function isFinal(step: StepRecord): boolean {
  return step.status !== 'running' && step.status !== 'retrying';
}

export function stepLine(step: StepRecord, root?: string): string {
  const elapsed = (step.durationMs ?? Date.now() - step.startedAt) / 1000;
  const indent = step.parent ? '    ' : '  ';
  const name = `${indent}${ICONS[step.status]} ${step.name}`;
  const retry = step.attempts > 1 ? ` (attempt ${step.attempts})` : '';
  let detail = '';
  if (step.status === 'failed' || step.status === 'caught') {
    detail = `  ${step.error ?? ''}`;
    if (step.logFile && root) detail += `  → ${path.relative(root, step.logFile)}`;
  }
  return `${name.padEnd(46)} ${formatSeconds(elapsed).padStart(7)}${retry}${detail}`;
}

export function executionLine(execution: ExecutionRecord): string {
  const seconds = formatSeconds((execution.durationMs ?? Date.now() - execution.startedAt) / 1000);
  const icon = execution.status === 'SUCCEEDED' ? '✔' : execution.status === 'FAILED' ? '✘' : '…';
  // the failure as one sentence, here only (step lines name the error and their log file)
  const sentence = execution.status === 'RUNNING' ? undefined : errorSentence(execution.error, execution.cause);
  return `  ${icon} ${execution.status} in ${seconds}${sentence ? `  ${sentence}` : ''}`;
}

export function formatSeconds(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const m = Math.floor(seconds / 60);
  return `${m}m${String(Math.round(seconds - m * 60)).padStart(2, '0')}s`;
}
