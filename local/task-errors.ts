/** The error a local task handler throws, as the engine matches it in Retry/Catch: `name` = Error, `message` = Cause. */
export class TaskError extends Error {
  constructor(error: string, cause: string) {
    super(cause);
    this.name = error;
  }
}

/** The first string value under `key` (compared case-insensitively, e.g. `stateDetails`/`StateDetails`), at any depth. */
export function findStringKey(value: unknown, key: string): string | undefined {
  if (!value || typeof value !== 'object') return undefined;
  const wanted = key.toLowerCase();
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (k.toLowerCase() === wanted && typeof v === 'string') return v;
  }
  for (const v of Object.values(value as Record<string, unknown>)) {
    const found = findStringKey(v, key);
    if (found) return found;
  }
  return undefined;
}

const SENTENCE_LIMIT = 500;

/** A job run without StateDetails: `job run <id> ended <state>`. */
function jobRunState(value: object): string | undefined {
  const id = findStringKey(value, 'jobRunId');
  const state = findStringKey(value, 'state');
  return id && state ? `job run ${id} ended ${state}` : undefined;
}

/**
 * The sentence a failed state's Cause carries: a Lambda's `errorMessage` (not its `{errorType, errorMessage,
 * trace}` envelope), a job run's `StateDetails` (the `.sync` cause is the job run), else the cause's first line.
 * The full cause and trace stay in the state's log file and the execution record.
 */
export function causeSentence(cause: string | undefined): string | undefined {
  const text = cause?.trim();
  if (!text) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const message =
    typeof parsed === 'string'
      ? parsed
      : parsed && typeof parsed === 'object'
        ? (findStringKey(parsed, 'errorMessage') ?? findStringKey(parsed, 'stateDetails') ?? jobRunState(parsed))
        : undefined;
  // a message is kept whole on one line; an unstructured cause gives its first line
  const line = message !== undefined ? message.replace(/\s*\n\s*/g, ' ').trim() : text.split('\n')[0]!.trim();
  return line.length > SENTENCE_LIMIT ? `${line.slice(0, SENTENCE_LIMIT - 1)}…` : line;
}

/** `<Error>: <sentence>` of a failed state or execution, shown once (see {@link causeSentence}). */
export function errorSentence(error: string | undefined, cause: string | undefined): string | undefined {
  const sentence = causeSentence(cause);
  if (!error) return sentence;
  return sentence && sentence !== error ? `${error}: ${sentence}` : error;
}
