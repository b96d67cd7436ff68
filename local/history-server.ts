import { spawn, type ChildProcess } from 'node:child_process';
import { createReadStream, createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { JOB_RUN_PROPERTIES, sparkHome } from './emr/spark-submit';

/**
 * Spark's own History Server over the event logs local job runs write (`<local tree>/spark-events/`, see
 * emr/spark-submit.ts) — what EMR Serverless' "Spark UI" (GetDashboardForJobRun) shows for a cloud run. It is the
 * pinned pyspark's `org.apache.spark.deploy.history.HistoryServer`, started with `bin/spark-class`.
 */

/** The event log directory of a local tree (`.local/spark-events`). */
export function sparkEventsDir(localRoot: string): string {
  return path.join(path.resolve(localRoot), 'spark-events');
}

/** One Spark application found in an event log directory. */
export interface SparkApplication {
  /** Spark's application id (`local-<ms>`), the id of its History Server page. */
  readonly appId: string;
  /** `spark.app.name` (the job run's name). */
  readonly name: string;
  /** Epoch ms of SparkListenerApplicationStart. */
  readonly startTime: number;
  /** Still being written (`.inprogress`). */
  readonly inProgress: boolean;
  /** The EMR Serverless job run (and its application, state machine, execution) the local runner ran it for. */
  readonly jobRunId?: string;
  readonly emrApplicationId?: string;
  readonly stateMachine?: string;
  readonly execution?: string;
}

/**
 * The applications of an event log directory: single files (`<appId>[.inprogress]`) and rolling logs
 * (`eventlog_v2_<appId>/events_<n>_<appId>` with `appstatus_<appId>[.inprogress]`, Spark 4's default). Only the
 * first lines of each log are read (SparkListenerEnvironmentUpdate and SparkListenerApplicationStart come first).
 */
export async function findSparkApplications(logDir: string): Promise<SparkApplication[]> {
  if (!existsSync(logDir)) return [];
  const found: SparkApplication[] = [];
  for (const entry of readdirSync(logDir)) {
    if (entry.startsWith('.') || entry.endsWith('.crc')) continue;
    const full = path.join(logDir, entry);
    let file: string | undefined;
    let inProgress = false;
    if (statSync(full).isDirectory()) {
      const appId = /^eventlog_v2_(.+)$/.exec(entry)?.[1];
      if (!appId) continue;
      const files = readdirSync(full);
      const first = files
        .map((f) => ({ f, n: Number(/^events_(\d+)_/.exec(f)?.[1]) }))
        .filter((x) => Number.isFinite(x.n) && !x.f.endsWith('.crc'))
        .sort((a, b) => a.n - b.n)[0];
      if (!first) continue;
      file = path.join(full, first.f);
      inProgress = files.some((f) => f.startsWith('appstatus_') && f.endsWith('.inprogress'));
    } else {
      file = full;
      inProgress = entry.endsWith('.inprogress');
    }
    const app = await readApplication(file, inProgress);
    if (app) found.push(app);
  }
  return found.sort((a, b) => a.startTime - b.startTime);
}

async function readApplication(file: string, inProgress: boolean): Promise<SparkApplication | undefined> {
  const lines = createInterface({ input: createReadStream(file, { encoding: 'utf8' }), crlfDelay: Infinity });
  let properties: Record<string, string> = {};
  try {
    let read = 0;
    for await (const line of lines) {
      if (++read > 200) break;
      let event: Record<string, unknown>;
      try {
        event = JSON.parse(line) as Record<string, unknown>;
      } catch {
        continue;
      }
      if (event.Event === 'SparkListenerEnvironmentUpdate') properties = toProperties(event['Spark Properties']);
      if (event.Event === 'SparkListenerApplicationStart' && typeof event['App ID'] === 'string') {
        const prop = (key: string) => properties[key] || undefined;
        return {
          appId: event['App ID'],
          name: String(event['App Name'] ?? ''),
          startTime: Number(event.Timestamp ?? 0),
          inProgress,
          ...optional('jobRunId', prop(JOB_RUN_PROPERTIES.jobRunId)),
          ...optional('emrApplicationId', prop(JOB_RUN_PROPERTIES.applicationId)),
          ...optional('stateMachine', prop(JOB_RUN_PROPERTIES.stateMachine)),
          ...optional('execution', prop(JOB_RUN_PROPERTIES.execution)),
        };
      }
    }
  } finally {
    lines.close();
  }
  return undefined;
}

const optional = <K extends string>(key: K, value: string | undefined) => (value === undefined ? {} : ({ [key]: value } as Record<K, string>));

/** `Spark Properties` is an object in Spark 3.x/4.x event logs (older ones: an array of [key, value]). */
function toProperties(value: unknown): Record<string, string> {
  if (Array.isArray(value)) return Object.fromEntries(value.filter((p) => Array.isArray(p) && p.length === 2).map(([k, v]) => [String(k), String(v)]));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, String(v)]));
  return {};
}

/**
 * The applications of one run: a job run id (every attempt of it), an execution name (`<state machine>/<execution>`
 * or the execution alone: all its job runs), or a Spark application id.
 */
export function applicationsOf(apps: readonly SparkApplication[], id: string): SparkApplication[] {
  const byJobRun = apps.filter((a) => a.jobRunId === id);
  if (byJobRun.length) return byJobRun;
  const byExecution = apps.filter((a) => a.execution !== undefined && (a.execution === id || `${a.stateMachine}/${a.execution}` === id));
  if (byExecution.length) return byExecution;
  return apps.filter((a) => a.appId === id);
}

export interface HistoryServerOptions {
  /** Repository root (its `.venv` holds the pinned pyspark). */
  readonly projectRoot: string;
  /** The event log directory. */
  readonly logDir: string;
  /** @default a free port */
  readonly port?: number;
  /** Where the server's own output goes. @default `<logDir>/../logs/history-server.log` */
  readonly logFile?: string;
  /** Wait until the server lists these applications (it scans the directory every 2 s). */
  readonly waitFor?: readonly string[];
  /** @default 120 s */
  readonly timeoutMs?: number;
}

export interface RunningHistoryServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  readonly logFile: string;
  /** The page of one application (its jobs). */
  appUrl(appId: string): string;
  /** Resolves when the server process has exited. */
  readonly exited: Promise<number | null>;
  /** Stops the server (SIGTERM, SIGKILL after 10 s). */
  stop(): Promise<void>;
}

/** Starts the History Server on 127.0.0.1 and resolves once it answers `/api/v1/applications`. */
export async function startHistoryServer(options: HistoryServerOptions): Promise<RunningHistoryServer> {
  const home = sparkHome(options.projectRoot);
  const sparkClass = path.join(home, 'bin', 'spark-class');
  if (!existsSync(sparkClass)) throw new Error(`No Spark at ${home} (bin/spark-class is missing): run bash scripts/setup.sh first.`);
  mkdirSync(options.logDir, { recursive: true });
  const port = options.port ?? (await freePort());
  const logFile = options.logFile ?? path.join(path.dirname(path.resolve(options.logDir)), 'logs', 'history-server.log');
  mkdirSync(path.dirname(logFile), { recursive: true });
  const historyOpts = [
    `-Dspark.history.fs.logDirectory=${pathToFileURL(path.resolve(options.logDir)).href}`,
    `-Dspark.history.ui.port=${port}`,
    '-Dspark.history.fs.update.interval=2s',
  ];
  const child: ChildProcess = spawn(sparkClass, ['org.apache.spark.deploy.history.HistoryServer'], {
    env: {
      ...process.env,
      SPARK_HOME: home,
      SPARK_HISTORY_OPTS: [process.env.SPARK_HISTORY_OPTS, ...historyOpts].filter(Boolean).join(' '),
      // the web UI binds to SPARK_LOCAL_IP: loopback only
      SPARK_LOCAL_IP: '127.0.0.1',
      SPARK_DAEMON_MEMORY: process.env.SPARK_DAEMON_MEMORY ?? '512m',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log = createWriteStream(logFile, { flags: 'a' });
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  const exited = new Promise<number | null>((resolve) => {
    child.once('error', () => resolve(127));
    child.once('exit', (code) => resolve(code));
  });
  void exited.then(() => log.end());
  const url = `http://127.0.0.1:${port}`;
  let stopping: Promise<void> | undefined;
  const server: RunningHistoryServer = {
    url,
    port,
    logFile,
    exited,
    appUrl: (appId) => `${url}/history/${encodeURIComponent(appId)}/jobs/`,
    stop: () =>
      (stopping ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      })()),
  };
  const deadline = Date.now() + (options.timeoutMs ?? 120_000);
  let ended = false;
  void exited.then(() => {
    ended = true;
  });
  for (;;) {
    if (ended) {
      throw new Error(`The Spark History Server exited before it answered (${tail(logFile)}).`);
    }
    const listed = await listApplications(url);
    if (listed && (options.waitFor ?? []).every((id) => listed.includes(id))) return server;
    if (Date.now() > deadline) {
      await server.stop();
      throw new Error(`The Spark History Server did not ${listed ? `list ${options.waitFor?.join(', ')}` : `answer on ${url}`} within ${Math.round((options.timeoutMs ?? 120_000) / 1000)} s (log: ${logFile}).`);
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/** The application ids `/api/v1/applications` lists (undefined while the server does not answer). */
export async function listApplications(url: string): Promise<string[] | undefined> {
  try {
    const res = await fetch(`${url}/api/v1/applications`, { signal: AbortSignal.timeout(5000) });
    if (!res.ok) return undefined;
    return ((await res.json()) as Array<{ id: string }>).map((a) => a.id);
  } catch {
    return undefined;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      srv.close(() => (address && typeof address === 'object' ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

function tail(file: string): string {
  try {
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    return lines.slice(-3).join(' | ').slice(0, 600) || `no output, log: ${file}`;
  } catch {
    return `log: ${file}`;
  }
}
