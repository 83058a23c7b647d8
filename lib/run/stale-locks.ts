import { describeDuration, goDurationMs } from '../config/duration.js'
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
 * Resolves to how many were removed. Never removes every lock (`unlock --remove-all`). A live lock
 * is said to be left alone once: its ID joins `leftAlone`.
 */
export async function removeDeadLocks(restic: Restic, ownerIsDead: OwnerCheck, log: Logger, leftAlone = new Set<string>()): Promise<number> {
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
        if (!leftAlone.has(lock.id)) log.info(`locks: the ${describeLock(lock)} is held by a live process, or one that may be: it is left alone`)
        leftAlone.add(lock.id)
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
 * How long restic waits for a lock at a time (its --retry-lock) before the locks' owners are judged
 * again: an owner alive when the wait began may die during it (a job killed mid-backup), and restic
 * alone would wait out the whole RETRY_LOCK for a lock that nobody will ever release.
 */
const LOCK_ROUND_MS = 20_000

const isLocked = (error: unknown) => error instanceof RunError && error.exitCode === EXIT.locked

/**
 * Runs a step that locks the repository. When restic finds it locked, the locks of dead owners are
 * removed (see removeDeadLocks) and the step runs once more; while live locks remain, it waits for
 * them up to RETRY_LOCK in rounds, judging their owners again after each. A lock left by a killed
 * run then costs the next run nothing, even when its owner died while that run waited.
 */
export async function withLockCare<T>(restic: Restic, ownerIsDead: OwnerCheck, log: Logger, step: (restic: Restic) => Promise<T>): Promise<T> {
  try {
    return await step({ ...restic, retryLock: undefined })
  } catch (error) {
    if (!isLocked(error)) throw error
    log.info('locks: the repository is locked; looking for locks whose owners are dead')
    let deadline: number | undefined
    // The live locks already said to be left alone: each is said once, not at every round.
    const leftAlone = new Set<string>()
    let lastError: unknown = error
    let waiting = false
    let lastTry = false
    for (;;) {
      const removed = await removeDeadLocks(restic, ownerIsDead, log, leftAlone)
      // RETRY_LOCK counts from the first judging: listing the locks may itself take seconds.
      deadline ??= Date.now() + (restic.retryLock ? goDurationMs(restic.retryLock) : 0)
      const left = deadline - Date.now()
      if (left <= 0 && (removed === 0 || lastTry)) throw lastError
      lastTry = left <= 0
      if (removed > 0) log.info('locks: trying again')
      else if (!waiting) log.info(`locks: waiting up to ${restic.retryLock} (RETRY_LOCK) for the live lock, judging its owner again every ${describeDuration(LOCK_ROUND_MS)}`)
      waiting = true
      try {
        return await step({ ...restic, retryLock: left > 0 ? `${Math.max(1, Math.ceil(Math.min(left, LOCK_ROUND_MS) / 1000))}s` : undefined })
      } catch (error) {
        if (!isLocked(error)) throw error
        lastError = error
      }
    }
  }
}
