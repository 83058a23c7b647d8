import type Docker from 'dockerode'
import { describeDuration } from '../config/duration.js'
import { RESTIC_REFRESH_MS, type OwnerCheck } from '../restic/locks.js'
import { FINAL_STATES } from './job-task.js'
import { JOB_HOSTNAME_PREFIX, type JobLedger } from './job-ledger.js'

interface TaskSummary {
  ID: string
  Status?: { State?: string; ContainerStatus?: { ContainerID?: string } }
}

// A live restic refreshes its lock every 5 minutes: one not refreshed for twice that has no owner left.
const NOT_REFRESHED_MS = 2 * RESTIC_REFRESH_MS

/**
 * Who made a lock, as the Swarm knows it (on a manager). A lock is judged dead only on evidence:
 * - a job of this Swarm (its host name carries the Swarm's ID) whose task this controller saw end;
 * - a job of this Swarm whose service no longer exists and whose lock has not been refreshed for
 *   twice restic's refresh interval (its node died, or a controller before this one removed it);
 * - the container of a task of this Swarm that has ended (a controller killed mid-retention).
 * Anything else may be alive and is left to restic's own rule (30 minutes): the jobs of another
 * Swarm sharing the repository, a job service that still exists, a fresh lock, a host unknown here.
 */
export function swarmLockOwner(docker: Docker, ledger: JobLedger): OwnerCheck {
  return async (lock) => {
    if (lock.hostname.startsWith(JOB_HOSTNAME_PREFIX)) {
      if (!ledger.ours(lock.hostname)) return undefined
      const ended = await ledger.endedAs(lock.hostname)
      if (ended) return `made by the job ${lock.hostname}, whose task ended (${ended})`
      const exists = await docker
        .getService(lock.hostname)
        .inspect()
        .then(
          () => true,
          (error: { statusCode?: number }) => (error.statusCode === 404 ? false : Promise.reject(error)),
        )
      const age = Date.now() - Date.parse(lock.time)
      if (exists || !(age > NOT_REFRESHED_MS)) return undefined
      return `made by the job ${lock.hostname}, which no longer exists, and not refreshed for ${describeDuration(age)} (restic refreshes a live lock every ${describeDuration(RESTIC_REFRESH_MS)})`
    }
    if (!/^[0-9a-f]{12}$/.test(lock.hostname)) return undefined
    const tasks = (await docker.listTasks()) as TaskSummary[]
    const task = tasks.find((candidate) => candidate.Status?.ContainerStatus?.ContainerID?.startsWith(lock.hostname))
    const state = task?.Status?.State
    return task && state && FINAL_STATES.has(state) ? `made in container ${lock.hostname} of Swarm task ${task.ID}, which has ended (${state})` : undefined
  }
}
