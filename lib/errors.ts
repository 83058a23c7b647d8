/**
 * The exit codes rds and runrestic use. restic's own codes (3, 10, 11, 12, 130) are passed through
 * where a restic command was the cause, so that scripts can act on them the same way.
 */
export const EXIT = {
  ok: 0,
  failure: 1,
  usage: 2,
  incomplete: 3,
  /** A monitoring command could not read or ask what it judges by (rds health, status, jobs, coverage). */
  cannotCheck: 4,
  noRepository: 10,
  locked: 11,
  wrongPassword: 12,
  interrupted: 130,
} as const

/** Bad input from the user: a variable, file or argument. Always a full sentence saying what to fix. */
export class ConfigError extends Error {
  readonly exitCode = EXIT.usage
  override name = 'ConfigError'
}

/** A run that failed: a hook, a restic command, or the Docker engine. */
export class RunError extends Error {
  override name = 'RunError'
  constructor(
    message: string,
    readonly exitCode: number = EXIT.failure,
  ) {
    super(message)
  }
}
