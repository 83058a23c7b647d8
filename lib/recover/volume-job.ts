import type Docker from 'dockerode'
import { EXIT, RunError } from '../errors.js'
import type { Logger } from '../observe/log.js'
import type { JobLedger } from '../swarm/job-ledger.js'
import { runJobService, VOLUMES_ROOT, type JobTemplate } from '../swarm/job-service.js'

/** What running a job in the Swarm takes: the controller's engine, its job template and settings. */
export interface SwarmJobs {
  docker: Docker
  template: JobTemplate
  ledger: JobLedger
  /** What every job gets of the controller's environment (how to reach the server, the secrets' paths). */
  jobEnv: string[]
}

/** One volume restored on its node. */
export interface VolumeRestore {
  /** The job's name, for its service and the log. */
  name: string
  nodeId: string
  /** The volume as the node names it. */
  volume: string
  /** The repository's path on the server. */
  repoPath: string
  /** The snapshot's full ID. */
  snapshotId: string
  /** The folder of the snapshot that becomes the volume's root. */
  folder: string
  /** Only these paths, inside the folder; all of it when empty. */
  includes: string[]
  /** Patterns left out, and kept as they are (the service's rds.backup.exclude). */
  excludes: string[]
  /** Write into a volume that holds something, overwriting what the snapshot holds. */
  force: boolean
  /** With force: delete what the volume holds that the snapshot does not. */
  delete: boolean
}

/** The environment of a job's `rds restore`: the controller's settings and the repository; nothing recorded, nothing created. */
export const restoreJobEnv = (jobEnv: string[], repoPath: string) => [...jobEnv, `REPO_PATH=${repoPath}`, 'STATUS_FILE=', 'CREATE_REPOSITORY=never']

/**
 * Restores a snapshot's folder straight into a volume, on the node that holds it: a Swarm job
 * mounts the volume writable and runs `rds restore SNAPSHOT:FOLDER --target` into it, so nothing
 * is staged on any disk and the folder's contents land at the volume's root. Swarm creates the
 * volume there if the node has none of that name. Throws a RunError when the job did not succeed.
 */
export async function restoreVolumeOnNode(swarm: SwarmJobs, request: VolumeRestore, log: Logger, signal?: AbortSignal): Promise<void> {
  const target = `${VOLUMES_ROOT}/${request.volume}`
  const command = [
    'rds',
    'restore',
    `${request.snapshotId}:${request.folder}`,
    '--target',
    target,
    ...(request.force ? ['--force'] : []),
    ...(request.delete ? ['--delete'] : []),
    ...request.includes.flatMap((path) => ['--path', path]),
    ...request.excludes.flatMap((pattern) => ['--exclude', pattern]),
  ]
  const outcome = await runJobService(
    swarm.docker,
    swarm.template,
    swarm.ledger,
    {
      name: request.name,
      nodeId: request.nodeId,
      volumes: [{ name: request.volume, source: request.volume }],
      writable: true,
      env: restoreJobEnv(swarm.jobEnv, request.repoPath),
      command,
      // A restore runs as long as it takes (a half-restored volume is worse); the operator can stop it.
      maxRunMs: Number.POSITIVE_INFINITY,
      docker: false,
    },
    log,
    signal,
  )
  if (outcome.exitCode === 0) return
  const why = outcome.exitCode === undefined ? `the job did not finish: ${outcome.reason}` : `it failed with exit code ${outcome.exitCode}; its log is above`
  throw new RunError(`the restore into volume ${request.volume} did not complete (${why}).`, outcome.exitCode || EXIT.failure)
}
