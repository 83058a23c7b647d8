import { describeDuration } from '../config/duration.js'
import { EXIT, RunError } from '../errors.js'
import type { Logger } from '../observe/log.js'
import type { Restic } from '../restic/command.js'
import { listLocks, removeLockFile, RESTIC_STALE_MS, unlockStale, type OwnerCheck, type ResticLock } from '../restic/locks.js'

const describeLock = (lock: ResticLock) =>
  `${lock.exclusive ? 'exclusive ' : ''}lock ${lock.id.slice(0, 8)} of ${lock.username ?? '?'}@${lock.hostname} (process ${lock.pid}, ${lock.time.slice(0, 19)}Z)`

/**
 * Removes the locks whose owners are dead, and only those, saying which and why:
 * - a lock not refreshed for 30 minutes, or of a dead process on this host: restic's own rule,
 *   applied by `restic unlock`;
 * - a lock `ownerIsDead` knows the owner of: one of our own jobs or runs, which no longer exists.
 * Resolves to how many were removed. Never removes every lock (`unlock --remove-all`).
 */
export async function removeDeadLocks(restic: Restic, ownerIsDead: OwnerCheck, log: Logger): Promise<number> {
  const locks = await listLocks(restic, log)
  const now = Date.now()
  let removed = 0
  const stale = locks.filter((lock) => now - Date.parse(lock.time) > RESTIC_STALE_MS)
  if (locks.length > 0) {
    // restic also knows the locks of dead processes on this very host.
    await unlockStale(restic, log)
    const left = new Set((await listLocks(restic, log)).map((lock) => lock.id))
    for (const lock of locks.filter((lock) => !left.has(lock.id))) {
      const age = describeDuration(now - Date.parse(lock.time))
      log.warn(`locks: removed the ${describeLock(lock)}: ${stale.includes(lock) ? `not refreshed for ${age} (restic refreshes a live lock every 5 min)` : 'its process on this host is dead'}`)
      removed++
    }
    for (const lock of locks.filter((lock) => left.has(lock.id))) {
      const why = await ownerIsDead(lock)
      if (!why) {
        log.info(`locks: the ${describeLock(lock)} is held by a live process, or one that may be: it is left alone`)
        continue
      }
      try {
        await removeLockFile(restic, lock)
        log.warn(`locks: removed the ${describeLock(lock)}: ${why}`)
        removed++
      } catch (error) {
        log.warn(`locks: could not remove the ${describeLock(lock)} (${why}): ${(error as Error).message}`)
      }
    }
  }
  return removed
}

/**
 * Runs a step that locks the repository. When restic finds it locked, the locks of dead owners are
 * removed (see removeDeadLocks) and the step runs once more, this time waiting for the live ones up
 * to RETRY_LOCK. A lock left by a killed backup then costs the next run nothing.
 */
export async function withLockCare<T>(restic: Restic, ownerIsDead: OwnerCheck, log: Logger, step: (restic: Restic) => Promise<T>): Promise<T> {
  try {
    return await step({ ...restic, retryLock: undefined })
  } catch (error) {
    if (!(error instanceof RunError) || error.exitCode !== EXIT.locked) throw error
    log.info('locks: the repository is locked; looking for locks whose owners are dead')
    const removed = await removeDeadLocks(restic, ownerIsDead, log)
    if (removed === 0 && !restic.retryLock) throw error
    log.info(removed > 0 ? 'locks: trying again' : `locks: waiting up to ${restic.retryLock} (RETRY_LOCK) for the live lock`)
    return step(restic)
  }
}
