import { EXIT, RunError } from '../errors.js'
import type { Logger } from '../observe/log.js'
import { runRestic, type Restic } from './command.js'

/** A snapshot known to have been saved in a repository: proof that the repository existed. */
export interface SavedThere {
  id: string
  time: string
  /** Who saved it: a job's name. */
  by: string
}

/** The sentence for a repository that vanished after snapshots were saved there. */
export function vanished(repository: string, saved: SavedThere): RunError {
  return new RunError(
    `the repository ${repository} is gone, although snapshot ${saved.id.slice(0, 8)} of ${saved.by} was saved there at ${saved.time}; ` +
      `refusing to start a new, empty one: mount or restore the server's repository (or remove the jobs that saved there from STATUS_FILE to start afresh).`,
    EXIT.noRepository,
  )
}

/**
 * Makes sure there is a repository, creating it (restic init) only if restic says there is none
 * and no snapshot was ever known to be saved there (`savedThere`): a repository that vanished (a
 * server whose backup disk did not mount) is a loud failure, never silently started afresh.
 * Two `restic init` of one repository at once both succeed, each with its own key and config, and
 * the snapshots of one can then never be read ("ciphertext verification failed"): whoever starts
 * backups of several services into one repository must create it first, once.
 */
export async function ensureRepository(restic: Restic, log: Logger, savedThere?: () => Promise<SavedThere | undefined>): Promise<void> {
  try {
    await runRestic({ ...restic, retryLock: undefined }, ['cat', 'config', '--no-lock'], { log, expectedExitCodes: [EXIT.noRepository] })
  } catch (error) {
    if (!(error instanceof RunError) || error.exitCode !== EXIT.noRepository) throw error
    const saved = await savedThere?.()
    if (saved) throw vanished(restic.repository.describe, saved)
    log.info(`repository: none at ${restic.repository.describe} yet, creating it`)
    await runRestic(restic, ['init'], { log })
    log.info('repository: created')
  }
}

/**
 * ensureRepository for every run, one check per repository at a time: concurrent callers share
 * the check under way (so a new repository is created once), and every later run checks again (a
 * repository can vanish at any time).
 */
export function ensuringRepositories(log: Logger, savedThere?: (repository: string, key: string) => Promise<SavedThere | undefined>): (key: string, restic: Restic) => Promise<void> {
  const underWay = new Map<string, Promise<void>>()
  return (key, restic) => {
    let check = underWay.get(key)
    if (!check) {
      check = ensureRepository(restic, log, savedThere && (() => savedThere(restic.repository.describe, key))).finally(() => underWay.delete(key))
      underWay.set(key, check)
    }
    return check
  }
}
