import { JOB_STOP_GRACE_MS, runJobService, type JobOutcome } from './job-service.js'
import { jobEnvironment, needsDocker } from './job-environment.js'
import type { SwarmJob } from './discover.js'
import type { ControllerOptions, ScheduledJob } from './controller-options.js'
import type { RepositoryWork } from './repository-work.js'
import type { Admission, RunQueue } from './run-queue.js'
import type { RetentionBatches } from './retention-batch.js'
import { interruptedRestore, scaleBack, scaleDown } from './scale.js'
import { keepingTail, type Logger } from '../observe/log.js'
import { outcomeOf, snapshotRecord } from '../observe/outcome.js'
import { DEFINITION_TAG, lastAccepted } from '../restic/snapshots.js'
import { copyAfterRun } from './copy-run.js'
import { EXIT, type RunError } from '../errors.js'

/** What one run needs of the controller: its options, a fresh discovery, the jobs it found, and each repository's queue. */
export interface SwarmRunContext {
  options: ControllerOptions
  /** Discovers the jobs again; resolves to its error, if it failed. */
  sync: (why: string) => Promise<Error | undefined>
  /** The job of this name as the last discovery found it; undefined once it is gone. */
  current: (name: string) => SwarmJob | undefined
  repositories: RepositoryWork
  /** Where a run waits for its node's and repository's turn, and for BACKUP_WINDOW. */
  queue: RunQueue
  /** Where a run's retention waits for its repository's other backups, and runs with theirs. */
  retentions: RetentionBatches
}

/**
 * One run of a job as a Swarm job on the node that holds its data, recorded when it is decided:
 * the service scaled down and back if asked, the job service started and followed, then the
 * retention of an accepted backup and the snapshot it saved.
 */
export async function runSwarmJob(context: SwarmRunContext, scheduled: ScheduledJob, signal: AbortSignal, lock: () => Promise<() => Promise<void>>): Promise<void> {
  const turn: Turn = {}
  try {
    await runInTurn(context, scheduled, signal, turn, lock)
  } finally {
    turn.slot?.release()
    await turn.unlock?.()
  }
}

/** What a run holds while it runs: its node's and repository's turn, and the job's run lock. */
interface Turn {
  slot?: Admission
  unlock?: () => Promise<void>
}

async function runInTurn(context: SwarmRunContext, scheduled: ScheduledJob, signal: AbortSignal, turn: Turn, lock: () => Promise<() => Promise<void>>): Promise<void> {
  const { options, repositories } = context
  const { docker, template, jobEnv, reporter } = options
  const { log, tail } = keepingTail(options.log)
  const job = scheduled.job
  const due = new Date()
  // When it began, once its turn came: what its duration is counted from.
  let began = due
  let backupStartedAt: string | undefined
  let saved: { snapshot?: ReturnType<typeof snapshotRecord>; snapshots?: number } = {}
  let downtimeSeconds: number | undefined
  let rejected: string[] | undefined
  let definitionSavedAt: string | undefined
  const finish = async (ok: boolean, message: string, exitCode?: number) => {
    scheduled.last = { startedAt: due.toISOString(), backupStartedAt, finishedAt: new Date().toISOString(), ok, message, exitCode: exitCode ?? (ok ? 0 : 1) }
    if (ok) log.info(`controller: ${job.name}: ${message}`)
    else log.error(`controller: ${job.name}: ${message}`)
    await reporter.finished({ job: job.name, kind: 'backup', outcome: outcomeOf(began, new Date(), ok, message, exitCode ?? (ok ? 0 : 1)), ...saved, downtimeSeconds, rejected, definitionSavedAt, logTail: tail() })
  }
  // Where the service runs now: a task may have moved since the last discovery.
  let unread = job.error ? undefined : await context.sync('before a run')
  const found = unread ? job : context.current(job.name)
  // Gone since the last discovery (its service removed or unlabelled, its node forgotten): nothing to record.
  if (!found) return log.info(`controller: ${job.name}: dropped before its run`)
  let current: SwarmJob = found
  // Its repository is checked while it waits for its turn, not after: its node is idle meanwhile.
  let checked = checkBeforeRun(context, current)
  // Its turn on the node it runs on (a job with a bad label fails at once, and takes none).
  while (!current.error && !unread) {
    turn.slot = await context.queue.admit(scheduled, current, due, signal)
    if (turn.slot.stopped) return log.info(`controller: ${job.name}: not started: ${turn.slot.stopped}`)
    if (turn.slot.refused || !turn.slot.waited) break
    // It waited: its task may have moved meanwhile, and its turn is then the new node's.
    unread = await context.sync('after waiting for its turn')
    const now: SwarmJob | undefined = unread ? current : context.current(job.name)
    if (!now) return log.info(`controller: ${job.name}: dropped while it waited for its turn`)
    const moved = now.node?.nodeId !== current.node?.nodeId
    current = now
    if (unread || !moved) break
    turn.slot.release()
  }
  if (turn.slot?.refused) {
    await reporter.started(job.name, 'backup')
    return finish(false, `${turn.slot.refused}.`)
  }
  // Stopped as its turn came: it never began.
  if (signal.aborted) return log.info(`controller: ${job.name}: not started: the controller is stopping`)
  // Throws a RunError (exit code 11) while another process runs this job: nothing is recorded, as for a tick skipped.
  turn.unlock = await lock()
  began = new Date()
  await reporter.started(job.name, 'backup')
  if (current.error) return finish(false, current.error, 2)
  if (unread) return finish(false, `could not read where service ${job.service} runs now (${unread.message}); the run is skipped rather than started on a node that may no longer hold its data.`)
  if (current.restoring !== undefined) return finish(false, interruptedRestore(current.service, current.restoring, current.name))
  if (current.unavailable) return finish(false, current.unavailable)
  if (!current.node) return finish(false, `service ${current.service} has no running task, so there is nothing to back up; the run is skipped.`)
  // Not checked yet (it had no task when it became due), or its labels named another repository meanwhile.
  if (checked.repoPath !== current.backup?.repoPath) checked = checkBeforeRun(context, current)
  const checkFailure = await checked.failure
  // A repository that vanished fails the run; anything else the job meets again, and says.
  if (checkFailure?.exitCode === EXIT.noRepository) return finish(false, checkFailure.message, EXIT.noRepository)
  if (checkFailure) log.warn(`controller: ${job.name}: could not check its repository: ${checkFailure.message}`)
  log.info(`controller: ${job.name}: starting on ${current.node.nodeName}`)
  const scale = current.backup!.stop === 'scale'
  let outcome: JobOutcome | undefined
  let startFailure: string | undefined
  let scaledDownAt: number | undefined
  let scaleFailure: string | undefined
  try {
    if (scale) {
      scaledDownAt = Date.now()
      await scaleDown(docker, current.service, log, current.node.nodeId)
    }
    // Stopped while the service was being scaled down: no job starts, and the service comes back.
    outcome = signal.aborted
      ? { reason: 'stopped' }
      : await runJobService(docker, template, options.ledger, { name: current.name, nodeId: current.node.nodeId, volumes: current.backup!.volumes, database: current.backup!.databaseVolume?.volume, env: jobEnvironment(current, jobEnv, await reporter.rejectedFor(current.name)), maxRunMs: current.backup!.maxRunTime, docker: needsDocker(current.backup!), onExited: () => turn.slot?.release() }, log, signal)
  } catch (error) {
    startFailure = `the job could not be started: ${(error as Error).message}`
  } finally {
    // Whatever happened to the backup, also when the controller is being stopped.
    if (scaledDownAt !== undefined) {
      await scaleBack(docker, current.service, log, current.node.nodeId).catch((error: Error) => (scaleFailure = error.message))
      downtimeSeconds = (Date.now() - scaledDownAt) / 1000
      log.info(`controller: ${job.name}: ${current.service} was scaled to 0 for ${downtimeSeconds.toFixed(1)} s (downtime)`)
    }
    // The node's and the repository's turn passes on once the job has ended there (retention runs in
    // the controller); a job rds stopped may run on until Docker kills it.
    turn.slot?.release(outcome?.exitCode === undefined ? JOB_STOP_GRACE_MS : 0)
  }
  downtimeSeconds ??= outcome?.downtimeSeconds
  rejected = outcome?.rejectedSnapshots
  backupStartedAt = outcome?.backupStartedAt
  const seconds = ((Date.now() - began.getTime()) / 1000).toFixed(1)
  // Neither failure hides the other: the service left at 0 and what became of the backup.
  const backupResult = !outcome ? startFailure! : outcome.exitCode === 0 ? 'the backup itself succeeded' : outcome.exitCode === undefined ? `the job did not finish: ${outcome.reason}` : `the backup failed with exit code ${outcome.exitCode}`
  if (scaleFailure) return finish(false, `${current.service} was not scaled back after the backup: ${scaleFailure}; ${backupResult}.`, outcome?.exitCode || undefined)
  if (!outcome) return finish(false, startFailure!)
  // A run that failed after a complete, accepted backup (its post-hook) still has its retention, as in MODE=service.
  if (outcome.exitCode !== 0 && !outcome.backupAccepted) {
    return finish(false, outcome.exitCode === undefined ? `the job did not finish: ${outcome.reason}` : `the backup failed with exit code ${outcome.exitCode} after ${seconds} s; its log is above.`, outcome.exitCode)
  }
  const repoPath = current.backup!.repoPath
  // Its data without its definition cannot be deployed again: a failure of the run, as retention's is.
  // Saved as its job ends (a night's jobs end apart), not once its retention is done (theirs end together).
  const definitionFailure = await repositories.limited(repoPath, async () => options.saveDefinition?.(current)).then(
    () => void (definitionSavedAt = options.saveDefinition ? new Date().toISOString() : undefined),
    (error: Error) => error.message.replace(/\.$/, ''),
  )
  const unsaved = definitionFailure ? `its service definition was not saved: ${definitionFailure}` : undefined
  try {
    // This run's verdicts (recorded only when it is reported, below); the recorded ones are read as the retention starts.
    await context.retentions.retain(current, rejected ?? [])
  } catch (error) {
    return finish(false, `backed up, but retention failed: ${(error as Error).message}${unsaved ? `; and ${unsaved}` : ''}`, (error as RunError).exitCode)
  }
  saved = await repositories.limited(repoPath, () => savedSnapshot(options, current, log))
  if (outcome.exitCode !== 0) {
    const after = outcome.exitCode === undefined ? `the job did not finish: ${outcome.reason}` : `it failed with exit code ${outcome.exitCode}`
    await finish(false, `backed up on ${current.node.nodeName} in ${seconds} s, but what came after the backup failed (${after})${unsaved ? `, and ${unsaved}` : ''}; its log is above.`, outcome.exitCode)
  } else if (unsaved) {
    await finish(false, `backed up on ${current.node.nodeName} in ${seconds} s, but ${unsaved}.`)
  } else {
    await finish(true, `backed up on ${current.node.nodeName} in ${seconds} s`)
  }
  // Its accepted backup, copied once the run is recorded: a copy never changes the run's outcome, and
  // runs beside the next runs; a one-off run (rds backup --service) waits for its copies.
  // They outlive the run: the controller's stop, not the run's, ends them.
  const copies = copyAfterRun(options, repositories, current, options.stop)
  if (options.schedule === false) await copies
}

/**
 * beforeRun for the job's repository, joined by the runs into it that come while it goes (a night's
 * runs share one): which repository, and its failure. None for a job that cannot run now.
 */
function checkBeforeRun(context: SwarmRunContext, job: SwarmJob): { repoPath?: string; failure: Promise<RunError | undefined> } {
  const { beforeRun } = context.options
  if (!beforeRun || job.error || !job.node || !job.backup) return { failure: Promise.resolve(undefined) }
  const failure = context.repositories.joined(`check before a run: ${job.backup.repoPath}`, () => beforeRun(job)).then(
    () => undefined,
    (error: RunError) => error,
  )
  return { repoPath: job.backup.repoPath, failure }
}

/** What the job saved, as its repository says (the job's own summary stays in the job). */
async function savedSnapshot(options: ControllerOptions, job: SwarmJob, log: Logger): Promise<{ snapshot?: ReturnType<typeof snapshotRecord>; snapshots?: number }> {
  try {
    const { snapshots, repository } = await options.snapshotsOf(job)
    const latest = lastAccepted(snapshots, await options.reporter.rejectedSnapshots())
    return { snapshot: latest && snapshotRecord(latest, repository), snapshots: snapshots.filter((snapshot) => !snapshot.tags?.includes(DEFINITION_TAG)).length }
  } catch (error) {
    log.warn(`controller: ${job.name}: could not read its snapshots for the status: ${(error as Error).message}`)
    return {}
  }
}
