import { randomUUID } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { formatWithOptions } from 'node:util';

/**
 * Runs Lambda handlers in this process, the way the Lambda Node.js runtime does: the handler module is loaded
 * once per function (its top-level code sees the function's environment, like a cold start), each invocation
 * runs with exactly the function's environment variables plus the runtime's own (`AWS_REGION`,
 * `AWS_LAMBDA_FUNCTION_NAME`, …), a context object, the function's timeout, and its output captured to a log file.
 *
 * `process.env` is process-wide, so invocations are serialized (one at a time); Spark job runs are not affected
 * (they get their environment explicitly). A handler's error becomes `{errorType, errorMessage, trace}` as the
 * runtime reports it, which the task handlers turn into the Step Functions error.
 */
export interface LocalFunction {
  readonly logicalId: string;
  readonly stackName: string;
  readonly functionName: string;
  readonly arn: string;
  /** Absolute path of the module to load (the synthesized bundle, or the handler's source). */
  readonly codeFile: string;
  /** Exported handler name (from `Handler: index.handler`). */
  readonly exportName: string;
  readonly environment: Record<string, string>;
  /** The execution role (its session's credentials are in the function's environment, as on Lambda). */
  readonly roleArn: string;
  readonly timeoutSeconds: number;
  readonly memoryMb: number;
  readonly runtime: string;
}

export interface LambdaErrorPayload {
  errorType: string;
  errorMessage: string;
  trace: string[];
}

export class LambdaFunctionError extends Error {
  constructor(readonly payload: LambdaErrorPayload) {
    super(payload.errorMessage);
    this.name = payload.errorType;
  }
}

type Handler = (event: unknown, context: Record<string, unknown>) => Promise<unknown> | unknown;

export interface InvokeOptions {
  /** Where the function's stdout/stderr (console, Powertools logger) goes. */
  readonly logFile?: string;
}

export class LocalLambdaHost {
  private readonly loaded = new Map<string, Handler>();
  private chain: Promise<unknown> = Promise.resolve();
  readonly invocations: Array<{ functionName: string; durationMs: number; error?: string }> = [];

  constructor(
    private readonly region: string,
    /** The role session credentials of a function (`AWS_ACCESS_KEY_ID`, … in its environment). */
    private readonly credentialsOf: (fn: LocalFunction) => { accessKeyId: string; secretAccessKey: string; sessionToken: string },
  ) {}

  invoke(fn: LocalFunction, event: unknown, options: InvokeOptions = {}): Promise<unknown> {
    const run = this.chain.then(() => this.invokeNow(fn, event, options));
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async invokeNow(fn: LocalFunction, event: unknown, options: InvokeOptions): Promise<unknown> {
    const requestId = randomUUID();
    const savedEnv = { ...process.env };
    const restoreOutput = captureOutput(options.logFile);
    const started = Date.now();
    const credentials = this.credentialsOf(fn);
    replaceEnv({
      PATH: savedEnv.PATH ?? '/usr/local/bin:/usr/bin:/bin',
      LANG: 'en_US.UTF-8',
      TZ: ':UTC',
      NODE_PATH: savedEnv.NODE_PATH ?? '',
      AWS_REGION: this.region,
      AWS_DEFAULT_REGION: this.region,
      AWS_EXECUTION_ENV: `AWS_Lambda_${fn.runtime}`,
      AWS_LAMBDA_FUNCTION_NAME: fn.functionName,
      AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.memoryMb),
      AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${fn.functionName}`,
      AWS_LAMBDA_LOG_STREAM_NAME: `local/[$LATEST]${requestId.replace(/-/g, '')}`,
      // the function's role session, as the Lambda runtime provides it; the local SDK routing knows the caller by it
      AWS_ACCESS_KEY_ID: credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
      AWS_SESSION_TOKEN: credentials.sessionToken,
      // Jest workers and tsx set these; the Lambda runtime does not.
      ...(savedEnv.JEST_WORKER_ID ? { JEST_WORKER_ID: savedEnv.JEST_WORKER_ID } : {}),
      ...fn.environment,
    });
    const deadline = started + fn.timeoutSeconds * 1000;
    const context = {
      functionName: fn.functionName,
      functionVersion: '$LATEST',
      invokedFunctionArn: fn.arn,
      memoryLimitInMB: String(fn.memoryMb),
      awsRequestId: requestId,
      logGroupName: `/aws/lambda/${fn.functionName}`,
      logStreamName: `local/[$LATEST]${requestId.replace(/-/g, '')}`,
      callbackWaitsForEmptyEventLoop: true,
      getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    };
    let timer: NodeJS.Timeout | undefined;
    try {
      const handler = this.load(fn);
      const result = await Promise.race([
        Promise.resolve().then(() => handler(JSON.parse(JSON.stringify(event ?? null)), context)),
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new LambdaFunctionError({ errorType: 'Sandbox.Timedout', errorMessage: `Task timed out after ${fn.timeoutSeconds.toFixed(2)} seconds`, trace: [] })),
            fn.timeoutSeconds * 1000,
          );
        }),
      ]);
      this.invocations.push({ functionName: fn.functionName, durationMs: Date.now() - started });
      // The runtime serializes the result to JSON.
      return result === undefined ? null : JSON.parse(JSON.stringify(result));
    } catch (error) {
      const payload = error instanceof LambdaFunctionError ? error.payload : toErrorPayload(error);
      this.invocations.push({ functionName: fn.functionName, durationMs: Date.now() - started, error: payload.errorType });
      if (options.logFile) {
        appendFileSync(options.logFile, `${JSON.stringify({ level: 'ERROR', message: 'Invoke Error', ...payload })}\n`);
      }
      throw new LambdaFunctionError(payload);
    } finally {
      if (timer) clearTimeout(timer);
      replaceEnv(savedEnv);
      restoreOutput();
    }
  }

  private load(fn: LocalFunction): Handler {
    const cached = this.loaded.get(fn.arn);
    if (cached) return cached;
    if (!existsSync(fn.codeFile)) {
      throw new LambdaFunctionError({
        errorType: 'Runtime.ImportModuleError',
        errorMessage: `Error: Cannot find module '${fn.codeFile}' (function ${fn.functionName})`,
        trace: [],
      });
    }
    // A fresh module instance per function: two functions built from the same code keep separate state.
    const resolved = require.resolve(fn.codeFile);
    delete require.cache[resolved];
    const mod = require(resolved) as Record<string, unknown>;
    delete require.cache[resolved];
    const handler = (mod[fn.exportName] ?? (mod.default as Record<string, unknown> | undefined)?.[fn.exportName]) as Handler | undefined;
    if (typeof handler !== 'function') {
      throw new LambdaFunctionError({
        errorType: 'Runtime.HandlerNotFound',
        errorMessage: `${path.basename(fn.codeFile)}.${fn.exportName} is undefined or not exported`,
        trace: [],
      });
    }
    this.loaded.set(fn.arn, handler);
    return handler;
  }
}

function toErrorPayload(error: unknown): LambdaErrorPayload {
  if (error instanceof Error) {
    return {
      errorType: error.name && error.name !== 'Error' ? error.name : error.constructor?.name ?? 'Error',
      errorMessage: error.message,
      trace: (error.stack ?? '').split('\n'),
    };
  }
  return { errorType: 'Error', errorMessage: String(error), trace: [] };
}

function replaceEnv(next: NodeJS.ProcessEnv): void {
  for (const key of Object.keys(process.env)) if (!(key in next)) delete process.env[key];
  for (const [key, value] of Object.entries(next)) if (value !== undefined) process.env[key] = value;
}

/** The runner's own terminal output, unaffected by the capture below. */
export const terminal = {
  out: process.stdout.write.bind(process.stdout) as (chunk: string) => boolean,
  err: process.stderr.write.bind(process.stderr) as (chunk: string) => boolean,
};

function captureOutput(logFile: string | undefined): () => void {
  if (!logFile) return () => undefined;
  mkdirSync(path.dirname(logFile), { recursive: true });
  const out = process.stdout.write;
  const err = process.stderr.write;
  const sink = (chunk: unknown, encoding?: unknown, cb?: unknown) => {
    appendFileSync(logFile, typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array));
    const callback = typeof encoding === 'function' ? encoding : cb;
    if (typeof callback === 'function') (callback as () => void)();
    return true;
  };
  process.stdout.write = sink as typeof process.stdout.write;
  process.stderr.write = sink as typeof process.stderr.write;
  // The global console may not write through process.stdout (test runners replace it): route it too, as the
  // Lambda runtime captures console output.
  const methods = ['log', 'info', 'warn', 'error', 'debug', 'trace'] as const;
  const saved = methods.map((m) => console[m]);
  for (const m of methods) {
    console[m] = (...args: unknown[]) => {
      appendFileSync(logFile, `${formatWithOptions({ colors: false }, ...args)}\n`);
    };
  }
  return () => {
    process.stdout.write = out;
    process.stderr.write = err;
    methods.forEach((m, i) => {
      console[m] = saved[i] as never;
    });
  };
}
