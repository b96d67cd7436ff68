/** The error a local task handler throws, as the engine matches it in Retry/Catch: `name` = Error, `message` = Cause. */
export class TaskError extends Error {
  constructor(error: string, cause: string) {
    super(cause);
    this.name = error;
  }
}
