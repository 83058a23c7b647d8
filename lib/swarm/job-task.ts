import { setTimeout as sleep } from 'node:timers/promises'
import type Docker from 'dockerode'
import { describeDuration } from '../config/duration.js'
import type { Logger } from '../observe/log.js'

// Task states after which a job task will not change (RestartPolicy none).
export const FINAL_STATES = new Set(['complete', 'failed', 'rejected', 'shutdown', 'orphaned', 'remove'])
// A task that is not running this long after the job was created (a node down, no room) is given up.
const START_TIMEOUT_MS = 5 * 60_000
const STARTED_STATES = new Set(['running', ...FINAL_STATES])
// How often a running job's task is looked at: Swarm sends no event for a task on another node.
const POLL_MS = 1000
// How often the job's node is looked at: a node that died leaves its task "running" for a day.
const NODE_CHECK_MS = 15_000
// How long the Swarm's API may fail in a row (a leader election, a manager restarting) before the run is given up.
const API_PATIENCE_MS = 5 * 60_000
const BACKOFF_MAX_MS = 30_000
// A call the API never answers (a manager hung, a connection lost half-way) fails like a refused one.
const CALL_TIMEOUT_MS = 10_000

/** One call of the API, given up (and its request aborted) when it has no answer in CALL_TIMEOUT_MS. */
async function answered<T>(call: (abortSignal: AbortSignal) => Promise<T>): Promise<T> {
  const abortSignal = AbortSignal.timeout(CALL_TIMEOUT_MS)
  try {
    return await call(abortSignal)
  } catch (error) {
    throw abortSignal.aborted ? new Error(`no answer within ${CALL_TIMEOUT_MS / 1000} s`) : error
  }
}

export interface TaskInfo {
  Status?: { State?: string; Err?: string; ContainerStatus?: { ExitCode?: number } }
}

interface NodeInfo {
  Description?: { Hostname?: string }
  Status?: { State?: string; Message?: string }
}

/** The job's one task: its state, and whether it has ended. */
async function jobTask(docker: Docker, serviceId: string): Promise<{ task?: TaskInfo; finished: boolean }> {
  const tasks = (await answered((abortSignal) => docker.listTasks({ filters: { service: [serviceId] }, abortSignal }))) as TaskInfo[]
  const finished = tasks.find((task) => FINAL_STATES.has(task.Status?.State ?? ''))
  return { task: finished ?? tasks[0], finished: finished !== undefined }
}

export interface TaskWatch {
  /** The job's name, for the log. */
  name: string
  nodeId: string
  /** How long the job may run once its task runs (MAX_RUN_TIME, rds.backup.max-run-time). */
  maxRunMs: number
  log: Logger
  signal?: AbortSignal
}

/**
 * Follows a job's task until its run is decided: the task ended (resolves to it), or the run is
 * given up with a reason: stopped, never started, ran past its time, its node went down, or the
 * Swarm's API failed for minutes. A failing API call alone decides nothing: it is tried again,
 * waiting longer each time.
 */
export async function awaitJobTask(docker: Docker, serviceId: string, watch: TaskWatch): Promise<{ task: TaskInfo } | { reason: string }> {
  const created = Date.now()
  let runningSince: number | undefined
  let failingSince: number | undefined
  let nodeCheckedAt = created
  let downChecks = 0
  let wait = POLL_MS
  for (;;) {
    if (watch.signal?.aborted) return { reason: 'stopped' }
    try {
      const { task, finished } = await jobTask(docker, serviceId)
      if (finished) return { task: task! }
      const now = Date.now()
      const state = task?.Status?.State ?? 'new'
      if (state === 'running') runningSince ??= now
      if (!STARTED_STATES.has(state) && now - created > START_TIMEOUT_MS) {
        return { reason: `Swarm did not start the job within ${START_TIMEOUT_MS / 60_000} minutes (its task is ${state}${task?.Status?.Err ? `: ${task.Status.Err}` : ''}); check the node with docker node ls and docker service ps` }
      }
      if (runningSince !== undefined && now - runningSince > watch.maxRunMs) {
        return { reason: `it ran for longer than ${describeDuration(watch.maxRunMs)} (MAX_RUN_TIME, or the label rds.backup.max-run-time) and was stopped` }
      }
      if (now - nodeCheckedAt >= NODE_CHECK_MS) {
        nodeCheckedAt = now
        const node = (await answered((abortSignal) => docker.getNode(watch.nodeId).inspect({ abortSignal }))) as NodeInfo
        downChecks = node.Status?.State === 'down' ? downChecks + 1 : 0
        // Down at two looks in a row (15 s apart): a heartbeat missed once kills no backup.
        if (downChecks >= 2) {
          return { reason: `its node ${node.Description?.Hostname ?? watch.nodeId} is down (${node.Status?.Message || 'Swarm lost contact with it'}), so the backup there cannot finish` }
        }
      }
      failingSince = undefined
      wait = POLL_MS
    } catch (error) {
      const now = Date.now()
      failingSince ??= now
      if (now - failingSince > API_PATIENCE_MS) return { reason: `the Swarm's API failed for ${describeDuration(now - failingSince)}: ${(error as Error).message}` }
      watch.log.warn(`${watch.name}: could not read the job's task (${(error as Error).message}); trying again in ${describeDuration(wait)}`)
      wait = Math.min(wait * 2, BACKOFF_MAX_MS)
    }
    await sleep(wait, undefined, { signal: watch.signal }).catch(() => undefined)
  }
}
