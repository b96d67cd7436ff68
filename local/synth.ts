import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';

/**
 * Synthesizes the CDK app the way `cdk synth` does — runs the `app` command of `cdk.json` with `CDK_OUTDIR`
 * and `CDK_CONTEXT_JSON` (the context of `cdk.json` plus overrides) — without the CDK CLI's network calls
 * (notices, telemetry). Lambda code is bundled as for a deploy, so the runner executes the very bundles that
 * `cdk deploy` would upload.
 *
 * The assembly is reused while nothing it is made from changed (`bin/`, `lib/`, `lambda/`, `cdk.json`,
 * `package-lock.json`, the context, and the packaged artifacts' manifest of `-c artifactsDir`).
 */
export interface SynthOptions {
  readonly projectRoot: string;
  readonly outdir: string;
  /** Context overrides, e.g. `{ stage: 'dev' }`. */
  readonly context?: Record<string, unknown>;
  /** Re-synthesize even when the assembly looks current. */
  readonly force?: boolean;
}

export interface SynthResult {
  readonly outdir: string;
  readonly reused: boolean;
  readonly seconds: number;
}

const INPUTS = ['bin', 'lib', 'lambda', 'cdk.json', 'package-lock.json'];

export function synthesize(options: SynthOptions): SynthResult {
  const started = Date.now();
  const cdkJson = JSON.parse(readFileSync(path.join(options.projectRoot, 'cdk.json'), 'utf8')) as {
    app: string;
    context?: Record<string, unknown>;
  };
  // as the CDK CLI does by default: asset metadata names each function's bundle directory; the app runs on this
  // machine, so a host build of the job artifacts (local/artifacts.ts) is what it should ship
  const context: Record<string, unknown> = { 'aws:cdk:enable-asset-metadata': true, 'aws:cdk:enable-path-metadata': true, acceptHostArtifacts: true, ...(cdkJson.context ?? {}), ...(options.context ?? {}) };
  const contextJson = JSON.stringify(context);
  const stampFile = path.join(options.outdir, '.local-synth.json');
  const artifactsDir = typeof context.artifactsDir === 'string' ? [path.resolve(options.projectRoot, context.artifactsDir, 'manifest.json')] : [];
  const newest = newestMtime([...INPUTS.map((p) => path.join(options.projectRoot, p)), ...artifactsDir]);
  if (!options.force && existsSync(stampFile) && existsSync(path.join(options.outdir, 'manifest.json'))) {
    const stamp = JSON.parse(readFileSync(stampFile, 'utf8')) as { context: string; newest: number };
    if (stamp.context === contextJson && stamp.newest >= newest) return { outdir: options.outdir, reused: true, seconds: 0 };
  }
  rmSync(options.outdir, { recursive: true, force: true });
  mkdirSync(options.outdir, { recursive: true });
  const result = spawnSync(cdkJson.app, {
    cwd: options.projectRoot,
    shell: true,
    encoding: 'utf8',
    env: { ...process.env, CDK_OUTDIR: options.outdir, CDK_CONTEXT_JSON: contextJson, CDK_DISABLE_VERSION_CHECK: '1' },
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.status !== 0 || !existsSync(path.join(options.outdir, 'manifest.json'))) {
    const output = `${result.stdout ?? ''}${result.stderr ?? ''}`.trim().split('\n').slice(-30).join('\n');
    throw new Error(`Synthesizing the CDK app failed (${cdkJson.app}, exit ${result.status}):\n${output}`);
  }
  writeFileSync(stampFile, JSON.stringify({ context: contextJson, newest }));
  return { outdir: options.outdir, reused: false, seconds: (Date.now() - started) / 1000 };
}

function newestMtime(paths: string[]): number {
  let newest = 0;
  const visit = (p: string) => {
    if (!existsSync(p)) return;
    const st = statSync(p);
    if (st.isDirectory()) {
      if (path.basename(p) === 'node_modules') return;
      newest = Math.max(newest, st.mtimeMs);
      for (const name of readdirSync(p)) visit(path.join(p, name));
    } else newest = Math.max(newest, st.mtimeMs);
  };
  paths.forEach(visit);
  return newest;
}
