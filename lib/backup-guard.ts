import { RunError } from './errors.js'
import type { Job } from './job.js'
import type { Logger } from './log.js'
import { runRestic, type Restic } from './restic.js'
import { resticJson, type SnapshotInfo } from './snapshots.js'
import { formatBytes, type BackupSummary } from './backup-summary.js'

/** The tag a snapshot gets when the guard rejects it; later runs compare against the others. */
export const REJECTED_TAG = 'rds-rejected'

const percentFallen = (before: number, after: number) => (before > 0 ? Math.max(0, Math.round((1 - after / before) * 100)) : 0)

/** The newest snapshot of the job before this one that the guard did not reject. */
async function previousAccepted(job: Job, restic: Restic, newId: string, log: Logger): Promise<SnapshotInfo | undefined> {
  const snapshots = await resticJson<SnapshotInfo>(restic, ['snapshots', '--json', '--host', job.snapshotHost, '--path', job.backupPath], log)
  return snapshots
    .filter((snapshot) => snapshot.id !== newId && !snapshot.tags?.includes(REJECTED_TAG) && snapshot.summary)
    .sort((a, b) => b.time.localeCompare(a.time))[0]
}

/** Why a backup looks like a lost or emptied volume rather than the data, or undefined when it does not. */
async function rejection(job: Job, restic: Restic, summary: BackupSummary, log: Logger): Promise<string | undefined> {
  const { minFiles, maxShrink } = job.guard
  const files = summary.total_files_processed
  if (files < minFiles) return `it holds ${files} files, fewer than MIN_FILES (${minFiles})`
  if (maxShrink >= 100 || !summary.snapshot_id) return undefined
  const previous = await previousAccepted(job, restic, summary.snapshot_id, log)
  if (!previous?.summary) return undefined
  const before = previous.summary
  const fallen = Math.max(
    percentFallen(before.total_bytes_processed, summary.total_bytes_processed),
    percentFallen(before.total_files_processed, files),
  )
  if (fallen <= maxShrink) return undefined
  return (
    `it holds ${files} files and ${formatBytes(summary.total_bytes_processed)} where snapshot ${previous.short_id} of ${previous.time.slice(0, 19)} ` +
    `held ${before.total_files_processed} files and ${formatBytes(before.total_bytes_processed)}: ${fallen} % less, more than MAX_SHRINK (${maxShrink} %) allows`
  )
}

/**
 * Fails a run whose backup looks like a lost volume: fewer files than MIN_FILES, or a fall in size
 * or file count of more than MAX_SHRINK percent against the last accepted snapshot of this job. The
 * rejected snapshot is kept (its data may matter) but tagged, so that later runs still compare
 * against the last good one, and the caller runs no retention after the failure.
 */
export async function guardBackup(job: Job, restic: Restic, summary: BackupSummary, log: Logger): Promise<void> {
  const reason = await rejection(job, restic, summary, log)
  if (reason === undefined) return
  const id = summary.snapshot_id
  if (id) {
    await runRestic(restic, ['tag', '--add', REJECTED_TAG, id], { log }).catch((error: Error) =>
      log.warn(`guard: could not tag snapshot ${id.slice(0, 8)} as ${REJECTED_TAG} (${error.message})`),
    )
  }
  throw new RunError(
    `the backup of ${job.backupPath} looks like a lost or emptied volume: ${reason}; it was kept (tagged ${REJECTED_TAG}) and retention did not run. ` +
      `Check that the right volume is mounted (a task moved to another node gets a new, empty one); if the data really shrank, lower MIN_FILES or raise MAX_SHRINK.`,
  )
}
