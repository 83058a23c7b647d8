import { EXIT, RunError } from '../errors.js'
import type { Logger } from '../observe/log.js'
import type { SwarmJob } from '../swarm/discover.js'
import { jobEnvironment, needsDocker } from '../swarm/job-environment.js'
import { runJobService, type JobOutcome, type JobRequest } from '../swarm/job-service.js'
import { SAFETY_TAG } from '../restic/snapshots.js'
import { restoreJobEnv, type SwarmJobs } from './volume-job.js'

// The jobs an in-place restore runs on a service's node, besides the volumes' restores (volume-job.ts).

/** Runs a job to its end; a job that did not succeed is a RunError that says `what` and why. */
async function runToEnd(swarm: SwarmJobs, request: Omit<JobRequest, 'maxRunMs'>, what: string, log: Logger, signal?: AbortSignal): Promise<JobOutcome> {
  // Restores and hooks run as long as they take (half-done is worse); the operator can stop them.
  const outcome = await runJobService(swarm.docker, swarm.template, swarm.ledger, { ...request, maxRunMs: Number.POSITIVE_INFINITY }, log, signal)
  if (outcome.exitCode === 0) return outcome
  const why = outcome.exitCode === undefined ? `the job did not finish: ${outcome.reason}` : `exit code ${outcome.exitCode}; its log is above`
  throw new RunError(`${what} failed (${why}).`, outcome.exitCode || EXIT.failure)
}

/**
 * Loads a sqlite dump into the database in its volume on its node, what it held kept beside it
 * (see restoreSqlite): `rds restore-dump` in a job there, with the volume mounted.
 */
export function loadSqliteDump(swarm: SwarmJobs, job: SwarmJob, load: { snapshotId: string; nodeId: string; rejected: readonly string[] }, log: Logger, signal?: AbortSignal) {
  return runToEnd(
    swarm,
    {
      name: `restore-dump-${job.name}`,
      docker: false,
      nodeId: load.nodeId,
      volumes: [],
      database: job.backup!.databaseVolume?.volume,
      env: jobEnvironment(job, swarm.jobEnv, [...load.rejected]),
      command: ['rds', 'restore-dump', load.snapshotId],
    },
    `loading the dump into ${job.backup!.dump!.database}`,
    log,
    signal,
  )
}

/**
 * Loads a dump snapshot into a running container of `target` on its node, with the preset's (or the
 * given) command: `rds restore-dump` in a job there, streamed, no file written.
 */
export function loadDump(swarm: SwarmJobs, job: SwarmJob, load: { snapshotId: string; target: string; nodeId: string; command: string; rejected: readonly string[] }, log: Logger, signal?: AbortSignal) {
  return runToEnd(
    swarm,
    {
      name: `restore-dump-${job.name}`,
      docker: true,
      nodeId: load.nodeId,
      volumes: [],
      // "latest" in the job is the newest accepted dump, also where the server refused the tag.
      env: jobEnvironment(job, swarm.jobEnv, [...load.rejected]),
      command: ['rds', 'restore-dump', load.snapshotId, '--to-service', load.target, '--command', load.command],
    },
    `loading the dump into ${load.target}`,
    log,
    signal,
  )
}

/** Runs a restore hook (rds.backup.restore.pre-hook or post-hook) in the service's container on its node, as `rds hook` does. */
export function runRestoreHook(swarm: SwarmJobs, job: SwarmJob, which: 'pre' | 'post', nodeId: string, log: Logger, signal?: AbortSignal) {
  const command = job.backup!.restoreHooks[which]!
  return runToEnd(
    swarm,
    {
      name: `restore-${which}-hook-${job.name}`,
      docker: true,
      nodeId,
      volumes: [],
      env: [...restoreJobEnv(swarm.jobEnv, job.backup!.repoPath), `SERVICE_NAME=${job.service}`, `${which === 'pre' ? 'PRE_HOOK' : 'POST_HOOK'}=${command}`],
      command: ['rds', 'hook', which],
    },
    `the restore ${which}-hook (rds.backup.restore.${which}-hook) of ${job.service}`,
    log,
    signal,
  )
}

// What a safety snapshot leaves out of a backup's environment: the backup's hooks and pause (the
// service is stopped already, or must keep running for its dump), and the guard, whose verdict
// must not keep the damaged data from being saved.
const NOT_FOR_SAFETY = /^(PRE_HOOK|POST_HOOK|STOP_DURING_BACKUP|MIN_FILES|MAX_SHRINK)=/
const OTHER_PART = { volumes: /^(DUMP_COMMAND|DUMP_FILENAME|DUMP_DATABASE)=/, dump: /^(BACKUP_PATH|GUARD_FOLDERS)=/ }

/**
 * Saves what the service holds now, before a restore replaces it: its volumes (with the service
 * stopped) or its dump (with it running), as a backup tagged rds-safety (see findSafetySnapshot).
 */
export async function saveSafetySnapshot(swarm: SwarmJobs, job: SwarmJob, part: 'volumes' | 'dump', nodeId: string, log: Logger, signal?: AbortSignal): Promise<void> {
  const env = jobEnvironment(job, swarm.jobEnv).filter((variable) => !NOT_FOR_SAFETY.test(variable) && !OTHER_PART[part].test(variable))
  await runToEnd(
    swarm,
    {
      name: `safety-${job.name}`,
      docker: part === 'dump' && needsDocker(job.backup!),
      nodeId,
      volumes: part === 'volumes' ? job.backup!.volumes : [],
      ...(part === 'dump' ? { database: job.backup!.databaseVolume?.volume } : {}),
      env: [...env, 'MIN_FILES=0', 'MAX_SHRINK=100'],
      command: ['rds', 'backup', '--tag', SAFETY_TAG],
    },
    `the safety snapshot of ${job.service}'s ${part === 'volumes' ? 'volumes' : 'database'}`,
    log,
    signal,
  )
}

/** Removes volumes on a node (a rehearsal's copy's), waiting while a container that is going away holds one. */
export function removeVolumesOnNode(swarm: SwarmJobs, nodeId: string, names: string[], log: Logger, signal?: AbortSignal) {
  return runToEnd(swarm, { name: 'remove-volumes', docker: true, nodeId, volumes: [], env: [], command: ['rds', 'remove-volumes', ...names] }, `removing volumes ${names.join(', ')}`, log, signal)
}

/** Runs a rehearsal's probe (rds.backup.rehearse.probe) in a container of the copy's service on its node, as `rds hook` does. */
export function runProbe(swarm: SwarmJobs, probe: { service: string; command: string; repoPath: string; nodeId: string }, log: Logger, signal?: AbortSignal) {
  const env = [...restoreJobEnv(swarm.jobEnv, probe.repoPath), `SERVICE_NAME=${probe.service}`, `POST_HOOK=${probe.command}`]
  return runToEnd(swarm, { name: `probe-${probe.service}`, docker: true, nodeId: probe.nodeId, volumes: [], env, command: ['rds', 'hook', 'post'] }, `the probe (rds.backup.rehearse.probe) of ${probe.service}`, log, signal)
}
