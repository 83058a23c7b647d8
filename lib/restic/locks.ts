import { execa } from 'execa'
import { EXIT, RunError } from '../errors.js'
import type { Logger } from '../observe/log.js'
import { restRequest } from '../transport/rest-over-ssh.js'
import { runRestic, type Restic } from './command.js'
import { serveArgs } from './repository.js'

/** A lock file of a repository, as `restic cat lock` prints it. */
export interface ResticLock {
  id: string
  /** When the lock was made or last refreshed: a live restic refreshes it every 5 minutes. */
  time: string
  exclusive: boolean
  hostname: string
  username?: string
  pid: number
}

/** Why a lock's owner is known to be dead (an rds job or run that no longer exists), or undefined when it may be alive. */
export type OwnerCheck = (lock: ResticLock) => Promise<string | undefined> | string | undefined

/** restic's own rule: a lock not refreshed for 30 minutes belongs to a dead process, wherever it ran. */
export const RESTIC_STALE_MS = 30 * 60_000
/** How often a live restic refreshes its locks. */
export const RESTIC_REFRESH_MS = 5 * 60_000

/** The repository's locks; one that vanishes while they are read (its restic ended) is left out. */
export async function listLocks(restic: Restic, log: Logger): Promise<ResticLock[]> {
  const ids: string[] = []
  await runRestic({ ...restic, retryLock: undefined }, ['list', 'locks', '--no-lock'], { log, onStdoutLine: (line) => void (line.trim() && ids.push(line.trim())) })
  const locks: ResticLock[] = []
  for (const id of ids) {
    try {
      // restic cat prints the lock as indented JSON, over several lines.
      const lines: string[] = []
      await runRestic({ ...restic, retryLock: undefined }, ['cat', 'lock', id, '--no-lock'], { log, onStdoutLine: (line) => void lines.push(line), expectedExitCodes: [EXIT.failure] })
      locks.push({ id, ...(JSON.parse(lines.join('\n')) as Omit<ResticLock, 'id'>) })
    } catch (error) {
      if (!(error instanceof RunError && error.exitCode === EXIT.failure)) throw error
    }
  }
  return locks
}

/** `restic unlock`: removes the locks restic itself knows to be stale (see RESTIC_STALE_MS), never a live one. */
export async function unlockStale(restic: Restic, log: Logger): Promise<void> {
  await runRestic({ ...restic, retryLock: undefined }, ['unlock'], { log })
}

/**
 * Removes one lock file that restic cannot know to be dead (it was made on another host, less than
 * 30 minutes ago), over the connection restic uses (SFTP, or the REST protocol a confined key
 * speaks, which lets even an append-only key remove locks); restic has no command for one lock.
 */
export async function removeLockFile(restic: Restic, lock: ResticLock): Promise<void> {
  const ssh = restic.repository.ssh
  if (!ssh) throw new Error(`a lock of a repository that is not on the SFTP server (${restic.repository.describe}) is removed only by "runrestic unlock --remove-all"`)
  if (!/^[0-9a-f]{64}$/.test(lock.id)) throw new Error(`${JSON.stringify(lock.id)} is not a lock ID`)
  if (ssh.mode !== 'sftp') {
    const answer = await restRequest(ssh.transport, [...serveArgs(ssh.mode), ssh.repoPath], 'DELETE', `/locks/${lock.id}`)
    if (answer.status !== 200) throw new Error(`the server answered ${answer.status} to removing locks/${lock.id}: ${answer.body.trim()}`)
    return
  }
  const path = `${ssh.repoPath.replace(/\/+$/, '')}/locks/${lock.id}`
  const sftp = await execa('sftp', ['-q', '-F', ssh.transport.configFile, '-b', '-', ssh.transport.alias], { input: `rm "${path.replace(/(["\\])/g, '\\$1')}"\n`, reject: false })
  if (sftp.exitCode !== 0) throw new Error(`sftp could not remove ${path}: ${sftp.stderr.trim() || `exit code ${sftp.exitCode}`}`)
}
