import { formatBytes, type BackupSummary } from '../restic/backup-summary.js'
import { findReference, GuardRejection, guardBackup, type Guarded } from './guard.js'
import { EXIT, RunError } from '../errors.js'
import type { Job } from './job.js'
import type { Restic } from '../restic/command.js'
import { withLockCare } from './stale-locks.js'
import type { OwnerCheck } from '../restic/locks.js'
import type { JobStatus } from '../observe/status.js'
import { dumpBackupArgs, dumpFailure, dumpStderrTail, sqliteBackupArgs } from './dump.js'
import { DUMP_TAG, type Dump } from '../dumps/presets.js'
import { chooseHookContainer } from './hooks.js'
import { backupCreatingRepository, type BackupSource } from './restic-backup.js'
import type { RunContext } from './run-context.js'

/**
 * Backs up one source (the files, or the dump), then holds its snapshot against the guard, beside
 * a lookup of the snapshots it is compared with. onSummary sees the summary also when restic then
 * fails: an incomplete snapshot (exit code 3) was still saved.
 */
export async function saveGuarded(
  job: Job,
  guarded: Guarded,
  source: BackupSource,
  restic: Restic,
  context: RunContext,
  previous: JobStatus | undefined,
  ownerIsDead: OwnerCheck,
  onSummary: (summary: BackupSummary) => void,
): Promise<BackupSummary | undefined> {
  const reference = findReference(job, guarded, restic, context.log)
  try {
    let saved: BackupSummary | undefined
    const keep = (summary: BackupSummary) => {
      saved = summary
      onSummary(summary)
    }
    await withLockCare(restic, ownerIsDead, context.log, (locking) => backupCreatingRepository(job, locking, context, previous, keep, source))
    if (saved) await guardBackup(job, guarded, restic, saved, await reference, context.log)
    return saved
  } finally {
    // Never left running behind the run; it cannot fail.
    await reference
  }
}

/**
 * Streams the dump from a container of the job's service into a snapshot of its own (tagged
 * dump), held against the service's last accepted dump; a dump that fails throws with its own
 * last words, and no snapshot of it is saved.
 */
export async function saveDump(job: Job, dump: Dump, restic: Restic, context: RunContext, previous: JobStatus | undefined, ownerIsDead: OwnerCheck): Promise<BackupSummary | undefined> {
  const { log } = context
  const stderr = dumpStderrTail()
  let args: string[]
  if (dump.database !== undefined) {
    log.info(`dump: streaming sqlite3's .dump of ${dump.database} into ${dump.filename}`)
    args = sqliteBackupArgs(dump, job.tags)
  } else {
    const { containerId } = await chooseHookContainer(await context.engine(), job.hooks.service!)
    log.info(`dump: streaming ${dump.preset ?? 'DUMP_COMMAND'} from container ${containerId.slice(0, 12)} of ${job.hooks.service} into ${dump.filename}`)
    args = dumpBackupArgs(dump, containerId, job.tags)
  }
  const source = { args, onStderrLine: stderr.onStderrLine }
  const guarded: Guarded = { kind: 'dump', path: `/${dump.filename}`, tag: DUMP_TAG, service: job.hooks.service ?? dump.database! }
  const describe = (saved: BackupSummary) =>
    log.info(`dump: ${formatBytes(saved.total_bytes_processed)} saved as ${dump.filename} in snapshot ${saved.snapshot_id?.slice(0, 8)}, ${formatBytes(saved.data_added)} of it new`)
  return saveGuarded(job, guarded, source, restic, context, previous, ownerIsDead, describe).catch((error) => {
    const failedToRun = error instanceof RunError && !(error instanceof GuardRejection) && !context.signal?.aborted && error.exitCode !== EXIT.locked
    throw failedToRun ? dumpFailure(dump, error, stderr.tail()) : error
  })
}
