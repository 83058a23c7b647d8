import { EXIT, RunError } from '../errors.js'
import type { Logger } from '../observe/log.js'
import { runRestic, type Restic } from './command.js'

/**
 * Makes sure there is a repository, creating it (restic init) only if restic says there is none.
 * Two `restic init` of one repository at once both succeed, each with its own key and config, and
 * the snapshots of one can then never be read ("ciphertext verification failed"): whoever starts
 * backups of several services into one repository must create it first, once.
 */
export async function ensureRepository(restic: Restic, log: Logger): Promise<void> {
  try {
    await runRestic({ ...restic, retryLock: undefined }, ['cat', 'config', '--no-lock'], { log, expectedExitCodes: [EXIT.noRepository] })
  } catch (error) {
    if (!(error instanceof RunError) || error.exitCode !== EXIT.noRepository) throw error
    log.info(`repository: none at ${restic.repository.describe} yet, creating it`)
    await runRestic(restic, ['init'], { log })
    log.info('repository: created')
  }
}

/** ensureRepository, once per repository at a time: concurrent callers wait for the same check. */
export function ensuringRepositories(log: Logger): (key: string, restic: Restic) => Promise<void> {
  const checked = new Map<string, Promise<void>>()
  return (key, restic) => {
    let check = checked.get(key)
    if (!check) {
      check = ensureRepository(restic, log)
      checked.set(key, check)
      // A failure is tried again by the next run; a repository that exists stays known.
      check.catch(() => checked.delete(key))
    }
    return check
  }
}
