import type Docker from 'dockerode'
import type { BackupVolume } from './cluster.js'
import type { Logger } from '../observe/log.js'
import { followServiceLog, JobLogReader, serviceOutput, type JobSaid } from './job-log.js'
import { JOB_LABEL } from './cluster.js'
import type { JobLedger } from './job-ledger.js'
import { awaitJobTask } from './job-task.js'
import { DATABASE_ROOT } from './dump-database.js'

/** What every job service has of the controller's own service: its image, networks and secrets. */
export interface JobTemplate {
  image: string
  networks: { Target: string; Aliases?: string[] }[]
  secrets: unknown[]
  /**
   * For a job whose REPO_PATH names a repository of REPOSITORIES_FILE: its environment and secrets
   * to reach that one instead (lib/swarm/repository-secrets.ts); undefined for the server's.
   */
  access?: (env: string[]) => Promise<{ env: string[]; secrets: unknown[] } | undefined>
}

export interface JobRequest {
  /** The job's name (the snapshot host), recorded in the JOB_LABEL label. */
  name: string
  nodeId: string
  volumes: BackupVolume[]
  /** The volumes are mounted writable (a restore into them); read-only otherwise. */
  writable?: boolean
  /** The volume of a sqlite dump's database, mounted writable at DATABASE_ROOT (SQLite locks it there). */
  database?: BackupVolume
  /** The environment of `rds backup` in the job: what to back up, where to, and the hooks. */
  env: string[]
  /** What the job runs: `rds backup` unless said otherwise (`rds restore-dump`). */
  command?: string[]
  /** How long the job may run once started before it is stopped (MAX_RUN_TIME, rds.backup.max-run-time). */
  maxRunMs: number
  /** Whether the job needs the node's Docker socket: for hooks, a dump or a pause, and for nothing else. */
  docker: boolean
  /** Told once its container has exited, before its log is read and its service removed. */
  onExited?: () => void
}

export interface JobOutcome extends JobSaid {
  /** The job's exit code; undefined when it never ran (rejected, or stopped before it started). */
  exitCode?: number
  /** Why it did not run, or was given up without an exit code (awaitJobTask). */
  reason?: string
}

// Where the job mounts each volume: the snapshot's path, the same on every node.
export const VOLUMES_ROOT = '/volumes'
export const DOCKER_SOCKET = '/var/run/docker.sock'
// restic's cache, where the agent image keeps it (RESTIC_CACHE_DIR, a VOLUME): in a volume of each
// node that its jobs share, so that later backups there are faster and no job leaves an anonymous
// volume behind (Swarm does not remove those with the job).
export const CACHE_VOLUME = 'rds-restic-cache'
export const CACHE_DIR = '/var/cache/restic'
/**
 * How long Docker lets a stopped job end itself (its restic removes its lock) before it kills it:
 * a node's turn is held that long after rds stops one.
 */
export const JOB_STOP_GRACE_MS = 60_000
const STOP_GRACE_NS = JOB_STOP_GRACE_MS * 1e6
// How long a finished job's log may take to read: a node that went away may never answer.
const LOG_TIMEOUT_MS = 60_000
// The same when the controller is being stopped, within Docker's default grace of 10 s.
const STOPPED_LOG_TIMEOUT_MS = 5_000

/** What differs between rds's job services: the backup of one service, and the survey of every node. */
export interface JobServiceSpec {
  name: string
  /** Recorded in the JOB_LABEL label, on the service and its containers, so that leftovers are found. */
  job: string
  /**
   * One task, or one on every node, never restarted (RestartPolicy none): not Swarm's job modes,
   * whose services, once removed, leave their tasks' containers behind, running ones still running
   * (moby/moby#42789; Docker 20.10): a stopped restore would go on writing, and ended backups would
   * keep holding the volumes they mounted.
   */
  mode: { Replicated: { Replicas: 1 } } | { Global: Record<string, never> }
  image: string
  command: string[]
  env?: string[]
  mounts: Record<string, unknown>[]
  secrets?: unknown[]
  networks?: { Target: string; Aliases?: string[] }[]
  constraints?: string[]
  /** The container's host name; the task's container ID when absent. */
  hostname?: string
}

/** Creates a job service that runs once and is never restarted (it fails, or it is done); resolves to its ID. */
export async function createJobService(docker: Docker, spec: JobServiceSpec): Promise<string> {
  const service = await docker.createService({
    Name: spec.name,
    Labels: { [JOB_LABEL]: spec.job },
    Mode: spec.mode,
    TaskTemplate: {
      ContainerSpec: {
        Image: spec.image,
        Hostname: spec.hostname,
        Command: spec.command,
        Env: spec.env,
        Labels: { [JOB_LABEL]: spec.job },
        Mounts: spec.mounts,
        Secrets: spec.secrets,
        StopGracePeriod: STOP_GRACE_NS,
        // The image's health check is the agent's: a job ends on its own, and the controller watches it.
        Healthcheck: { Test: ['NONE'] },
      },
      Placement: { Constraints: spec.constraints },
      RestartPolicy: { Condition: 'none' },
      Networks: spec.networks,
    },
    // dockerode's types know no tmpfs mount without a source, nor the job modes.
  } as unknown as Docker.CreateServiceOptions)
  return (service as unknown as { id: string }).id
}

/**
 * Runs `rds backup` once as a Swarm job on the node that holds the volumes, mounted read-only at
 * /volumes/<name>, with the Docker socket for the hooks. Waits until the run is decided (see
 * awaitJobTask), relays its log, and then removes the service. Aborting `signal` removes it at
 * once (Swarm sends the backup SIGTERM, and restic removes its lock).
 */
export async function runJobService(docker: Docker, template: JobTemplate, ledger: JobLedger, request: JobRequest, log: Logger, signal?: AbortSignal): Promise<JobOutcome> {
  const name = ledger.serviceName(request.name)
  const access = (await template.access?.(request.env)) ?? { env: request.env, secrets: template.secrets }
  const serviceId = await createJobService(docker, {
    name,
    hostname: name,
    job: request.name,
    mode: { Replicated: { Replicas: 1 } },
    image: template.image,
    command: request.command ?? ['rds', 'backup'],
    env: access.env,
    mounts: [
      ...request.volumes.map((volume) => ({ Type: 'volume', Source: volume.source, Target: `${VOLUMES_ROOT}/${volume.name}`, ReadOnly: !request.writable, VolumeOptions: { NoCopy: true } })),
      ...(request.database ? [{ Type: 'volume', Source: request.database.source, Target: DATABASE_ROOT, VolumeOptions: { NoCopy: true } }] : []),
      // Whoever holds the socket holds the node: only a job that execs into a container gets it.
      ...(request.docker ? [{ Type: 'bind', Source: DOCKER_SOCKET, Target: DOCKER_SOCKET }] : []),
      { Type: 'volume', Source: CACHE_VOLUME, Target: CACHE_DIR },
    ],
    secrets: access.secrets,
    networks: template.networks,
    constraints: [`node.id == ${request.nodeId}`],
  })
  const reader = new JobLogReader(request.name, log)
  // The lines followed, by their text (each carries the job's own time stamp): none is read twice.
  const followed = new Map<string, number>()
  const following = followServiceLog(
    docker,
    serviceId,
    (line) => {
      followed.set(line, (followed.get(line) ?? 0) + 1)
      reader.read(line)
    },
    log,
    request.name,
  )
  try {
    const decided = await awaitJobTask(docker, serviceId, { name: request.name, nodeId: request.nodeId, maxRunMs: request.maxRunMs, log, signal })
    // The whole log, once the run is decided: the lines not followed are read from it, whatever
    // the follow missed (its start, a line cut off, a gap).
    const relay = async (timeoutMs = LOG_TIMEOUT_MS) => {
      following.stop()
      const seen = reader.count
      try {
        for (const { line } of await withTimeout(serviceOutput(docker, serviceId), timeoutMs, 'no answer')) {
          const times = followed.get(line) ?? 0
          if (times > 0) followed.set(line, times - 1)
          else reader.read(line)
        }
      } catch (error) {
        log.warn(`${request.name}: could not read the job's log: ${(error as Error).message}${seen > 0 ? `; the ${seen} line(s) it wrote while it ran are above` : ''}`)
      }
      return reader.said
    }
    if ('reason' in decided) {
      // Given up: what the job said (a rejected snapshot too). Stopped with the controller: briefly
      // (it is being stopped), and no retention follows (backupAccepted), but its verdicts are kept.
      if (decided.reason !== 'stopped') return { reason: decided.reason, ...(await relay()) }
      return { reason: decided.reason, ...(await relay(STOPPED_LOG_TIMEOUT_MS)), backupAccepted: undefined }
    }
    const { task } = decided
    const state = task.Status?.State ?? 'unknown'
    // Its container exited (complete, or failed with an exit code): a lock its restic left is dead (lib/swarm/lock-owners.ts).
    if (state === 'complete' || state === 'failed') {
      request.onExited?.()
      await ledger.recordEnded(name, state).catch((error: Error) => log.warn(`${request.name}: could not record that job ${name} ended: ${error.message}`))
    }
    const logged = await relay()
    if (state === 'complete') return { exitCode: 0, ...logged }
    if (state === 'failed') return { exitCode: task.Status?.ContainerStatus?.ExitCode ?? 1, reason: task.Status?.Err, ...logged }
    return { reason: `the job's task was ${state}${task.Status?.Err ? `: ${task.Status.Err}` : ''}` }
  } finally {
    following.stop()
    await docker.getService(serviceId).remove().catch((error) => log.warn(`${request.name}: could not remove job service ${serviceId}: ${(error as Error).message}`))
  }
}

/** The promise, or a rejection saying `what` once `ms` have passed. */
function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} after ${ms / 1000} s`)), ms)))
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/** Removes the job services a controller left behind (it crashed mid-run): at start, before any run. */
export async function removeLeftoverJobs(docker: Docker, log: Logger): Promise<void> {
  const leftovers = (await docker.listServices({ filters: { label: [JOB_LABEL] } })) as { ID: string; Spec?: { Name?: string } }[]
  for (const leftover of leftovers) {
    log.warn(`controller: removing job service ${leftover.Spec?.Name ?? leftover.ID}, left by a controller that stopped mid-run`)
    await docker.getService(leftover.ID).remove()
  }
}
