import { opendir } from 'node:fs/promises'
import { join } from 'node:path'
import { formatBytes, type BackupSummary } from '../restic/backup-summary.js'
import { EXIT, RunError } from '../errors.js'
import type { Job } from './job.js'
import type { Logger } from '../observe/log.js'
import { runRestic, type Restic } from '../restic/command.js'
import { isAccepted, REJECTED_TAG, rejectedAmong, resticJson, walkFolder, type SnapshotInfo } from '../restic/snapshots.js'


/** The guard's verdict on a snapshot that was saved whole but looks like lost data. */
export class GuardRejection extends RunError {
  override name = 'GuardRejection'
  constructor(
    message: string,
    /** The rejected snapshot's full ID. */
    readonly snapshotId: string | undefined,
  ) {
    super(message)
  }
}

/**
 * What a new backup is compared with: the job's snapshots the guard did not reject, newest first
 * (the new one may be among them, when the backup was quicker than the lookup), or why they are unknown.
 */
export type Reference = { accepted?: SnapshotInfo[]; unknown?: string }

/**
 * What a guarded backup saves: the job's files, or its dump (one file, `/<filename>`, tagged dump).
 * A dump is only ever compared with earlier dumps of the same name, the files with the files.
 */
export type Guarded = { kind: 'files'; path: string } | { kind: 'dump'; path: string; tag: string; service: string }

const percentFallen = (before: number, after: number) => (before > 0 ? Math.max(0, Math.round((1 - after / before) * 100)) : 0)

/**
 * Looks up the snapshots to compare with, meant to run beside the backup, so that opening the
 * repository a second time costs no wall time. Never rejects: a repository that does not exist yet
 * has no snapshots, and a lookup that fails says why.
 */
export async function findReference(job: Job, guarded: Guarded, restic: Restic, log: Logger): Promise<Reference> {
  if (job.guard.maxShrink >= 100) return {}
  const args = ['snapshots', '--json', '--no-lock', '--host', job.snapshotHost, '--path', guarded.path]
  if (guarded.kind === 'dump') args.push('--tag', guarded.tag)
  try {
    const snapshots = await resticJson<SnapshotInfo>(restic, args, log, [EXIT.noRepository])
    const rejected = rejectedAmong(snapshots, job.guard.rejected)
    const accepted = snapshots.filter((snapshot) => isAccepted(snapshot, rejected) && snapshot.summary)
    return { accepted: accepted.sort((a, b) => Date.parse(b.time) - Date.parse(a.time)) }
  } catch (error) {
    if (error instanceof RunError && error.exitCode === EXIT.noRepository) return {}
    return { unknown: error instanceof Error ? error.message : String(error) }
  }
}

/** Why a backup looks like a lost or emptied volume rather than the data, or undefined when it does not. */
/** Whether a folder holds a file anywhere below it; stops at the first. A folder that is not there holds none. */
async function holdsAFile(dir: string): Promise<boolean> {
  let entries
  try {
    entries = await opendir(dir)
  } catch {
    return false
  }
  for await (const entry of entries) {
    if (!entry.isDirectory()) return true
    if (await holdsAFile(join(dir, entry.name))) return true
  }
  return false
}

/** Whether a snapshot holds a file below a folder. */
async function heldAFile(restic: Restic, snapshot: SnapshotInfo, dir: string, log: Logger): Promise<boolean> {
  let found = false
  await walkFolder(restic, snapshot, dir, log, (node) => void (found ||= node.type !== 'dir'))
  return found
}

/**
 * A folder of GUARD_FOLDERS (one of a job's volumes) that holds no file where the last accepted
 * snapshot held files in it: a volume lost beside others, which the totals may not show.
 */
async function emptiedFolder(job: Job, guarded: Guarded, previous: SnapshotInfo | undefined, restic: Restic, log: Logger): Promise<string | undefined> {
  if (guarded.kind !== 'files' || !previous) return undefined
  for (const folder of job.guard.folders) {
    const dir = join(guarded.path, folder)
    if (await holdsAFile(dir)) continue
    if (await heldAFile(restic, previous, dir, log)) return `its folder ${dir} holds no file, where snapshot ${previous.short_id} of ${previous.time.slice(0, 19)} held files in it`
  }
  return undefined
}

async function rejection(job: Job, guarded: Guarded, summary: BackupSummary, reference: Reference, restic: Restic, log: Logger): Promise<string | undefined> {
  const { minFiles, maxShrink } = job.guard
  const files = summary.total_files_processed
  // A dump is one file, never empty (rds dump-stream refuses that): only its size tells.
  if (guarded.kind === 'files' && files < minFiles) return `it holds ${files} files, fewer than MIN_FILES (${minFiles})`
  if (reference.unknown !== undefined) {
    log.warn(`guard: the size was not compared with the previous snapshot, which could not be read (${reference.unknown})`)
    return undefined
  }
  const previous = reference.accepted?.find((snapshot) => snapshot.id !== summary.snapshot_id)
  if (maxShrink >= 100) return undefined
  const emptied = await emptiedFolder(job, guarded, previous, restic, log)
  if (emptied) return emptied
  if (!previous?.summary) return undefined
  const before = previous.summary
  const fallen = Math.max(
    percentFallen(before.total_bytes_processed, summary.total_bytes_processed),
    percentFallen(before.total_files_processed, files),
  )
  if (fallen <= maxShrink) return undefined
  if (guarded.kind === 'dump') {
    return (
      `it is ${formatBytes(summary.total_bytes_processed)} where the dump in snapshot ${previous.short_id} of ${previous.time.slice(0, 19)} ` +
      `was ${formatBytes(before.total_bytes_processed)}: ${fallen} % less, more than MAX_SHRINK (${maxShrink} %) allows`
    )
  }
  return (
    `it holds ${files} files and ${formatBytes(summary.total_bytes_processed)} where snapshot ${previous.short_id} of ${previous.time.slice(0, 19)} ` +
    `held ${before.total_files_processed} files and ${formatBytes(before.total_bytes_processed)}: ${fallen} % less, more than MAX_SHRINK (${maxShrink} %) allows`
  )
}

/**
 * Fails a run whose backup looks like a lost volume: fewer files than MIN_FILES, or a fall in size
 * or file count of more than MAX_SHRINK percent against the reference snapshot. The rejected
 * snapshot is kept (its data may matter) but tagged, so that later runs still compare against the
 * last good one, and the caller runs no retention after the failure.
 */
export async function guardBackup(job: Job, guarded: Guarded, restic: Restic, summary: BackupSummary, reference: Reference, log: Logger): Promise<void> {
  const reason = await rejection(job, guarded, summary, reference, restic, log)
  if (reason === undefined) return
  const id = summary.snapshot_id
  if (id) {
    // Read by the controller from the job's log: the verdict outlives a tag the server refuses (append-only).
    log.warn(`guard: rejected snapshot ${id}`)
    await runRestic(restic, ['tag', '--add', REJECTED_TAG, id], { log }).catch((error: Error) =>
      log.warn(`guard: could not tag snapshot ${id.slice(0, 8)} as ${REJECTED_TAG} (${error.message})`),
    )
  }
  if (guarded.kind === 'dump') {
    throw new GuardRejection(
      `the dump of ${guarded.service} (${guarded.path.slice(1)}) looks like one of an empty or another database: ${reason}; it was kept (tagged ${REJECTED_TAG}) and retention did not run. ` +
        `Check that the service runs on the volume that holds its data (a task moved to another node gets a new, empty one); if the data really shrank, raise MAX_SHRINK.`,
      id,
    )
  }
  throw new GuardRejection(
    `the backup of ${guarded.path} looks like a lost or emptied volume: ${reason}; it was kept (tagged ${REJECTED_TAG}) and retention did not run. ` +
      `Check that the right volume is mounted (a task moved to another node gets a new, empty one); if the data really shrank, lower MIN_FILES or raise MAX_SHRINK.`,
    id,
  )
}

