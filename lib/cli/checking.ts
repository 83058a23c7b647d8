import { ConfigError, EXIT, RunError } from '../errors.js'

/**
 * What a monitoring command reads or asks before it can judge (STATUS_FILE, the table of jobs, the
 * Swarm, the repository): a failure there is "could not check" (exit 4), never "unhealthy" (exit 1),
 * so that a script or a monitor can tell a broken backup from a broken look at it. Bad
 * configuration stays exit 2.
 */
export async function checking<T>(what: string, read: () => Promise<T>): Promise<T> {
  try {
    return await read()
  } catch (error) {
    if (error instanceof ConfigError) throw error
    throw new RunError(`could not check: ${what}: ${(error as Error).message}`, EXIT.cannotCheck)
  }
}
