import { GetDashboardForJobRunCommand } from '@aws-sdk/client-emr-serverless';
import { spawn } from 'node:child_process';
import { join, relative } from 'node:path';
import type { CliContext } from '../context';
import { CliError } from '../errors';
import { requireOutput } from '../stage-outputs';

export interface UiOptions {
  /** Open the URL with the platform's opener (xdg-open / open / start). */
  readonly open?: boolean;
  /** `--local`: stop serving when this settles instead of on Ctrl-C (tests). */
  readonly until?: Promise<unknown>;
}

/** The platform's URL opener: `open` on macOS, `start` (through cmd) on Windows, `xdg-open` elsewhere. */
export function opener(platform: NodeJS.Platform = process.platform): { command: string; args: (url: string) => string[] } {
  if (platform === 'darwin') return { command: 'open', args: (url) => [url] };
  if (platform === 'win32') return { command: 'cmd', args: (url) => ['/c', 'start', '""', url] };
  return { command: 'xdg-open', args: (url) => [url] };
}

/** Opens a URL with the platform's opener; resolves false (never rejects) when there is none or it fails to start. */
export function openUrl(url: string, platform: NodeJS.Platform = process.platform): Promise<boolean> {
  const { command, args } = opener(platform);
  return new Promise((resolve) => {
    try {
      const child = spawn(command, args(url), { stdio: 'ignore', detached: true, env: process.env });
      child.once('error', () => resolve(false));
      child.once('spawn', () => {
        child.unref();
        resolve(true);
      });
    } catch {
      resolve(false);
    }
  });
}

async function openOrSay(ctx: CliContext, url: string): Promise<void> {
  if (await openUrl(url)) return;
  ctx.io.err(`Could not open a browser (no ${opener().command} on this machine); open the URL above yourself.`);
}

/**
 * `emrpipe ui <jobRunId>`: a fresh URL of the job run's Spark UI (EMR Serverless GetDashboardForJobRun — the live
 * UI while it runs, the Spark History Server after). A URL is valid for one hour and meant for one use, so every
 * call asks for a new one.
 */
export async function uiCommand(ctx: CliContext, jobRunId: string, options: UiOptions): Promise<number> {
  if (ctx.options.local) return localUi(ctx, jobRunId, options);
  const applicationId = requireOutput(await ctx.outputs(), 'applicationId');
  let url: string | undefined;
  try {
    url = (await ctx.emr.send(new GetDashboardForJobRunCommand({ applicationId, jobRunId }))).url;
  } catch (err) {
    if ((err as { name?: string }).name === 'ResourceNotFoundException') {
      throw new CliError(`Job run ${jobRunId} does not exist in application ${applicationId} of stage ${ctx.stage} (find job runs with: emrpipe status).`);
    }
    throw err;
  }
  if (!url) throw new CliError(`EMR Serverless returned no dashboard URL for job run ${jobRunId}.`);
  ctx.io.out(url);
  ctx.io.err('The URL is valid for one hour; use it once and run emrpipe ui again for a new one.');
  if (options.open) await openOrSay(ctx, url);
  return 0;
}

/** Resolves on Ctrl-C (SIGINT) or SIGTERM; `dispose` removes the handlers. */
function interrupted(): { promise: Promise<void>; dispose: () => void } {
  let dispose = () => undefined as void;
  const promise = new Promise<void>((resolve) => {
    const done = () => {
      dispose();
      resolve();
    };
    dispose = () => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
    };
    process.on('SIGINT', done);
    process.on('SIGTERM', done);
  });
  return { promise, dispose };
}

/**
 * `emrpipe --local ui <jobRunId|execution>`: Spark's own History Server (the pinned pyspark) over the event logs
 * local job runs write to `.local/spark-events/`; prints the page of the run's Spark application(s) and serves
 * until Ctrl-C.
 */
async function localUi(ctx: CliContext, id: string, options: UiOptions): Promise<number> {
  /* eslint-disable-next-line @typescript-eslint/no-require-imports */
  const history = require('../../local/history-server') as typeof import('../../local/history-server');
  const logDir = history.sparkEventsDir(ctx.localRoot);
  const rel = relative(ctx.io.cwd, logDir);
  const shown = rel && !rel.startsWith('..') ? rel : logDir;
  const all = await history.findSparkApplications(logDir);
  if (all.length === 0) throw new CliError(`No Spark event logs under ${shown}/ (local job runs write them there): run a pipeline with --local first.`);
  const apps = history.applicationsOf(all, id);
  if (apps.length === 0) {
    throw new CliError(`No Spark application of job run or execution "${id}" under ${shown}/ (${all.length} other applications there): give a local job run id, an execution name or a Spark application id.`);
  }
  const server = await history.startHistoryServer({ projectRoot: ctx.io.cwd, logDir, waitFor: apps.map((a) => a.appId), logFile: join(ctx.localRoot, 'logs', 'history-server.log') });
  try {
    ctx.io.out(`Spark History Server on ${server.url}/ over ${shown}/ (Ctrl-C stops it)`);
    for (const app of apps) {
      const run = app.jobRunId ? `job run ${app.jobRunId}` : app.appId;
      ctx.io.out(`  ${app.name || app.appId} (${run}${app.inProgress ? ', in progress' : ''}): ${server.appUrl(app.appId)}`);
    }
    if (options.open) await openOrSay(ctx, server.appUrl(apps[0]!.appId));
    const stop = interrupted();
    try {
      const code = await Promise.race([stop.promise.then(() => undefined), ...(options.until ? [options.until.then(() => undefined)] : []), server.exited]);
      if (code !== undefined) throw new CliError(`The Spark History Server stopped by itself (exit ${code}; log: ${server.logFile}).`);
    } finally {
      stop.dispose();
    }
  } finally {
    await server.stop();
  }
  return 0;
}
