/**
 * EMR Serverless job-run admission on one machine: a submitted run waits (QUEUED) until both the application's
 * `SchedulerConfiguration.MaxConcurrentRuns` and the runner's own cap (`LocalSparkOptions.maxConcurrentRuns`, what
 * the machine can run at once) leave it a slot, first come first served. A run that waits longer than the
 * application's `QueueTimeoutMinutes` times out, and a queued run can be cancelled (its `.sync` task timed out,
 * its execution ended).
 *
 * The queue timeout counts only where the application's own limit is the binding one (MaxConcurrentRuns ≤ the
 * machine's cap): a wait that exists only because this machine runs fewer jobs at once than the application
 * allows is not EMR Serverless queueing, and failing it would be a laptop artefact.
 *
 * Documented service behaviour (EMR Serverless User Guide, "Job concurrency and queuing" and "Job run states";
 * API SchedulerConfiguration): runs are queued until a running one terminates; "if queue timeout is reached
 * earlier, your job times out"; a timed-out run goes through CANCELLING to CANCELLED; defaults when the
 * configuration is enabled (release 7.3.0 and later by default): 15 concurrent runs, 360 minutes.
 */

export interface SchedulerConfiguration {
  readonly maxConcurrentRuns?: number;
  readonly queueTimeoutMinutes?: number;
}

/** Why a queued run did not start. */
export interface QueueExit {
  readonly reason: 'queue-timeout' | 'cancelled';
  readonly stateDetails: string;
}

export type Admission = { readonly admitted: true; readonly queuedMs: number; release(): void } | ({ readonly admitted: false; readonly queuedMs: number } & QueueExit);

interface Waiting {
  readonly applicationId: string;
  readonly appCap: number;
  readonly scope: string;
  readonly enqueuedAt: number;
  timer?: NodeJS.Timeout;
  settle(admission: Admission): void;
}

/** The scheduler defaults of a release: enabled by default from emr-7.3.0 (so on every emr-spark-8.x label). */
export function defaultSchedulerConfiguration(releaseLabel: string, configured?: SchedulerConfiguration): SchedulerConfiguration | undefined {
  const enabledByDefault = (() => {
    const m = /^emr-(?:spark-)?(\d+)\.(\d+)/.exec(releaseLabel);
    return m ? Number(m[1]) > 7 || (Number(m[1]) === 7 && Number(m[2]) >= 3) : false;
  })();
  if (!configured && !enabledByDefault) return undefined;
  return { maxConcurrentRuns: configured?.maxConcurrentRuns ?? 15, queueTimeoutMinutes: configured?.queueTimeoutMinutes ?? 360 };
}

export class JobRunQueue {
  private running = 0;
  private readonly runningByApp = new Map<string, number>();
  private readonly waiting: Waiting[] = [];

  /**
   * @param machineCap how many runs this machine runs at once
   * @param scale real milliseconds per service millisecond (tests shrink QueueTimeoutMinutes with it)
   */
  constructor(
    private readonly machineCap: number,
    private readonly scale = 1,
  ) {}

  /** Resolves when the run may start (call `release()` when it ends), times out, or is cancelled. */
  admit(applicationId: string, scheduler: SchedulerConfiguration | undefined, scope: string, signal?: AbortSignal): Promise<Admission> {
    const appCap = scheduler?.maxConcurrentRuns ?? Number.POSITIVE_INFINITY;
    const enqueuedAt = Date.now();
    if (signal?.aborted) return Promise.resolve({ admitted: false, queuedMs: 0, reason: 'cancelled', stateDetails: cancelDetails(signal) });
    // every waiting run is blocked by a limit (pump() starts the others), so a run with a slot goes first
    if (this.hasSlot(applicationId, appCap)) return Promise.resolve(this.start(applicationId, enqueuedAt));
    return new Promise<Admission>((resolve) => {
      const entry: Waiting = {
        applicationId,
        appCap,
        scope,
        enqueuedAt,
        settle: (admission) => {
          if (entry.timer) clearTimeout(entry.timer);
          signal?.removeEventListener('abort', onAbort);
          resolve(admission);
        },
      };
      const leave = (exit: QueueExit) => {
        const i = this.waiting.indexOf(entry);
        if (i < 0) return;
        this.waiting.splice(i, 1);
        entry.settle({ admitted: false, queuedMs: Date.now() - enqueuedAt, ...exit });
        this.pump(); // a run behind this one may fit now
      };
      const onAbort = () => leave({ reason: 'cancelled', stateDetails: cancelDetails(signal!) });
      signal?.addEventListener('abort', onAbort, { once: true });
      const minutes = scheduler?.queueTimeoutMinutes;
      if (minutes !== undefined && appCap <= this.machineCap) {
        entry.timer = setTimeout(
          () => leave({ reason: 'queue-timeout', stateDetails: `Job run timed out after waiting ${minutes} minutes in the queue (queueTimeoutMinutes); it was cancelled before it started.` }),
          minutes * 60_000 * this.scale,
        );
      }
      this.waiting.push(entry);
    });
  }

  /** Cancels the queued runs of a scope (an ended execution); returns how many. */
  cancelScope(scope: string, stateDetails: string): number {
    const mine = this.waiting.filter((w) => w.scope === scope);
    for (const entry of mine) {
      this.waiting.splice(this.waiting.indexOf(entry), 1);
      entry.settle({ admitted: false, queuedMs: Date.now() - entry.enqueuedAt, reason: 'cancelled', stateDetails });
    }
    if (mine.length) this.pump();
    return mine.length;
  }

  /** Runs waiting now. */
  get queued(): number {
    return this.waiting.length;
  }

  private hasSlot(applicationId: string, appCap: number): boolean {
    return this.running < this.machineCap && (this.runningByApp.get(applicationId) ?? 0) < appCap;
  }

  private start(applicationId: string, enqueuedAt: number): Admission {
    this.running += 1;
    this.runningByApp.set(applicationId, (this.runningByApp.get(applicationId) ?? 0) + 1);
    let released = false;
    return {
      admitted: true,
      queuedMs: Date.now() - enqueuedAt,
      release: () => {
        if (released) return;
        released = true;
        this.running -= 1;
        this.runningByApp.set(applicationId, (this.runningByApp.get(applicationId) ?? 1) - 1);
        this.pump();
      },
    };
  }

  private pump(): void {
    for (let i = 0; i < this.waiting.length; ) {
      const entry = this.waiting[i]!;
      if (!this.hasSlot(entry.applicationId, entry.appCap)) {
        i += 1;
        continue;
      }
      this.waiting.splice(i, 1);
      entry.settle(this.start(entry.applicationId, entry.enqueuedAt));
    }
  }
}

function cancelDetails(signal: AbortSignal): string {
  return typeof signal.reason === 'string' ? signal.reason : 'Job run cancelled (CancelJobRun) before it started.';
}

/** The scheduler configuration an application of the deployment runs with (its template's, or the release's defaults). */
export function schedulerOf(app: { releaseLabel: string; maxConcurrentRuns?: number; queueTimeoutMinutes?: number }): SchedulerConfiguration | undefined {
  const configured = app.maxConcurrentRuns !== undefined || app.queueTimeoutMinutes !== undefined ? { maxConcurrentRuns: app.maxConcurrentRuns, queueTimeoutMinutes: app.queueTimeoutMinutes } : undefined;
  return defaultSchedulerConfiguration(app.releaseLabel, configured);
}
