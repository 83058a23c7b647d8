import type Docker from 'dockerode'
import type { OwnerCheck } from '../jobs/stale-locks.js'
import { FINAL_STATES, JOB_HOSTNAME_PREFIX } from './job-service.js'

interface TaskSummary {
  ID: string
  Status?: { State?: string; ContainerStatus?: { ContainerID?: string } }
}

/**
 * Who made a lock, as the Swarm knows it (on a manager):
 * - a job's restic runs under the host name of its job service (rds-job-...), which is removed
 *   when the job ends: a lock of a job service that no longer exists is dead;
 * - any other task's restic (the controller's retention) runs under its container's ID: a lock of
 *   a task that has ended (a killed controller) is dead.
 * Anything else (a restic outside the Swarm, a task Swarm no longer remembers) may be alive.
 */
export function swarmLockOwner(docker: Docker): OwnerCheck {
  return async (lock) => {
    if (lock.hostname.startsWith(JOB_HOSTNAME_PREFIX)) {
      const exists = await docker
        .getService(lock.hostname)
        .inspect()
        .then(
          () => true,
          (error: { statusCode?: number }) => (error.statusCode === 404 ? false : Promise.reject(error)),
        )
      return exists ? undefined : `made by the job ${lock.hostname}, which no longer exists (it was stopped or its node failed)`
    }
    if (!/^[0-9a-f]{12}$/.test(lock.hostname)) return undefined
    const tasks = (await docker.listTasks()) as TaskSummary[]
    const task = tasks.find((candidate) => candidate.Status?.ContainerStatus?.ContainerID?.startsWith(lock.hostname))
    const state = task?.Status?.State
    return task && state && FINAL_STATES.has(state) ? `made in container ${lock.hostname} of Swarm task ${task.ID}, which has ended (${state})` : undefined
  }
}
