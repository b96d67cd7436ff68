/** An error whose message is a plain sentence for the operator; the CLI prints it without a stack trace. */
export class CliError extends Error {
  constructor(
    message: string,
    /** Process exit code: 1 = the operation failed, 2 = bad usage/arguments. */
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

interface AwsErrorLike {
  name?: string;
  message?: string;
  $metadata?: unknown;
  Code?: string;
}

/** Turns any thrown value into one plain sentence (no stack trace) and an exit code. */
export function describeError(err: unknown): { message: string; exitCode: number } {
  if (err instanceof CliError) return { message: err.message, exitCode: err.exitCode };
  const e = (err ?? {}) as AwsErrorLike;
  const name = e.name ?? '';
  const text = (e.message ?? String(err)).trim();
  if (name === 'CredentialsProviderError' || /Could not load credentials/i.test(text)) {
    return { message: 'No AWS credentials found. Configure a profile (AWS_PROFILE) or environment credentials, or use --local.', exitCode: 1 };
  }
  if (/Region is missing/i.test(text)) {
    return { message: 'No AWS region configured. Pass --region or set AWS_REGION.', exitCode: 1 };
  }
  if (name === 'AccessDeniedException' || name === 'AccessDenied') {
    return { message: `AWS denied the request: ${text}`, exitCode: 1 };
  }
  if (e.$metadata !== undefined && name) return { message: `AWS error ${name}: ${text}`, exitCode: 1 };
  return { message: text || 'Unexpected error.', exitCode: 1 };
}
