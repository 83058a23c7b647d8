import type { SwarmJob } from './discover.js'
import type { ControllerOptions } from './controller-options.js'
import type { RepositoryWork } from './repository-work.js'
import { keepingTail } from '../observe/log.js'
import { type Outcome } from '../observe/status.js'
import { outcomeOf } from '../observe/outcome.js'
import { lastAccepted, worthCopying } from '../restic/snapshots.js'
import type { RunError } from '../errors.js'

/**
 * After a run whose backup was accepted, and once that run is recorded: the job's snapshots copied
 * into each repository of rds.backup.copy-to (or COPY_TO), each destination in its repository's
 * queue, recorded and notified as a run of its own (kind copy). A copy never fails, undoes or holds
 * up the backup: it runs beside the job's next runs (a copy still going for a destination takes the
 * next run's place there), and the next copy takes what a failed one did not. Never rejects.
 */
export async function copyAfterRun(options: ControllerOptions, repositories: RepositoryWork, job: SwarmJob, signal: AbortSignal): Promise<void> {
  const destinations = job.backup?.copyTo ?? []
  if (destinations.length === 0 || !options.copySnapshots) return
  await Promise.all(destinations.map((destination) => repositories.once(`copy ${job.name} ${destination}`, () => copyInto(options, repositories, job, destination, signal)) ?? options.log.info(`controller: ${job.name}: its copy into ${destination} of an earlier run is still going; the next run's copy takes this one along`)))
}

async function copyInto(options: ControllerOptions, repositories: RepositoryWork, job: SwarmJob, destination: string, signal: AbortSignal): Promise<void> {
  const stopping = () => options.log.warn(`controller: ${job.name}: not copied into ${destination}: the controller is stopping; the next run copies it`)
  if (signal.aborted) return stopping()
  const { log, tail } = keepingTail(options.log)
  const started = new Date()
  let outcome: Outcome
  let newest: { id: string; time: string } | undefined
  try {
    await options.reporter.started(job.name, 'copy')
    const refused = job.backup?.copyRefused?.[destination]
    if (refused) throw new Error(refused)
    // Read after the run saved its definition, which goes along (a stack comes back from the copy too).
    const rejected = await options.reporter.rejectedSnapshots()
    const copied = worthCopying((await options.snapshotsOf(job)).snapshots, rejected)
    log.info(`controller: ${job.name}: copying ${copied.length} snapshot(s) into ${destination}`)
    await repositories.inRetentionQueue(destination, () => (signal.aborted ? Promise.reject(new Error('stopped')) : options.copySnapshots!(job, destination, copied.map((snapshot) => snapshot.id), signal)))
    const last = lastAccepted(copied, rejected)
    newest = last && { id: last.id, time: last.time }
    outcome = outcomeOf(started, new Date(), true, `copied into ${destination}${last ? `: the newest snapshot copied is ${last.short_id} of ${last.time}` : ''}`, 0)
    log.info(`controller: ${job.name}: ${outcome.message}`)
  } catch (error) {
    // Cut off by the controller's stop: no failure of the copy, which the next run makes.
    if (signal.aborted) return stopping()
    outcome = outcomeOf(started, new Date(), false, `the copy into ${destination} failed: ${(error as Error).message.replace(/\.$/, '')}; the backup in ${job.backup!.repoPath} stands, and the next run copies again.`, (error as RunError).exitCode ?? 1)
    log.error(`controller: ${job.name}: ${outcome.message}`)
  }
  await options.reporter.finished({ job: job.name, kind: 'copy', outcome, copied: { destination, newest }, logTail: tail() })
}
