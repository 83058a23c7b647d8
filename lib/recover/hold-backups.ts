import { setTimeout as sleep } from 'node:timers/promises'
import { EXIT, type RunError } from '../errors.js'
import type { Logger } from '../observe/log.js'
import { swarmJobLock } from '../run/run-lock.js'
import type { SwarmJob } from '../swarm/discover.js'

// How often a restore looks whether the service's running backup has ended.
const LOCK_POLL_MS = 2000

/**
 * Takes the job's run lock, which holds its backups (a scheduled run that finds it taken is
 * skipped), waiting for a backup that is running to end: at most its MAX_RUN_TIME. A restore
 * holds it so that no backup of a half-restored service becomes its newest snapshot, and so that
 * the backup's retention cannot forget the snapshot being restored.
 */
export async function holdBackups(lockDir: string, job: SwarmJob, log: Logger, signal?: AbortSignal): Promise<() => Promise<void>> {
  const deadline = Date.now() + job.backup!.maxRunTime
  for (let said = false; ; said = true) {
    try {
      return await swarmJobLock(lockDir, job.name, log)
    } catch (error) {
      if ((error as RunError).exitCode !== EXIT.locked || Date.now() > deadline || signal?.aborted) throw error
      if (!said) log.info(`restore: a backup of ${job.name} is running; waiting for it to end`)
      await sleep(LOCK_POLL_MS, undefined, { signal }).catch(() => undefined)
    }
  }
}

/** The run locks of several jobs, taken one after another in the order of their names; resolves with what releases them all. */
export async function holdBackupsOf(lockDir: string, jobs: SwarmJob[], log: Logger, signal?: AbortSignal): Promise<() => Promise<void>> {
  const releases: (() => Promise<void>)[] = []
  const releaseAll = async () => {
    for (const release of releases.splice(0).reverse()) await release()
  }
  try {
    for (const job of [...jobs].sort((a, b) => a.name.localeCompare(b.name))) releases.push(await holdBackups(lockDir, job, log, signal))
  } catch (error) {
    await releaseAll()
    throw error
  }
  return releaseAll
}
