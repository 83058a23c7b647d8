import { copyFile, mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import lockfile from 'proper-lockfile'
import type { RunRecord } from './run-history.js'
import { salvageRejected } from './rejected.js'

/** How one attempt of something (a backup, a check, a drill) ended. */
export interface Outcome {
  startedAt: string
  finishedAt: string
  ok: boolean
  exitCode?: number
  /** The error, or what the attempt achieved, in one line. */
  message: string
  durationSeconds: number
}

/** A snapshot a job saved, as the repository or restic's summary describes it. */
export interface SnapshotRecord {
  id: string
  time: string
  /** Where it was saved: a repository that later vanishes is then noticed. */
  repository: string
  files?: number
  bytesAdded?: number
  bytesProcessed?: number
}

/** What STATUS_FILE keeps of one job, for `rds status`, `rds health` and the metrics. */
export interface JobStatus {
  schedule?: string
  /** When this agent first saw the job: its overdue clock starts there until a backup succeeds. */
  watchedSince: string
  /** Seconds after the last success (or watchedSince) at which the job is OVERDUE (OVERDUE_AFTER). */
  overdueAfterSeconds?: number
  /** Present while a run is going; left behind by a run that was killed. */
  running?: { since: string; pid: number; hostname?: string }
  lastAttempt?: Outcome
  lastSuccess?: Outcome
  /** The last snapshot saved, which outlives failed runs. */
  lastSnapshot?: SnapshotRecord
  /** How many snapshots of this job the repository held after its last run. */
  snapshots?: number
  failuresInARow?: number
  /** How many runs ended, by result, since the status was first recorded: rds_runs_total. */
  runs?: { success: number; failure: number }
  lastCheck?: Outcome
  lastDrill?: Outcome
  /** Its copies (rds.backup.copy-to), by the destination's name: the last attempt, and the newest snapshot copied there. */
  copies?: Record<string, CopyStatus>
  /** The last rehearsal of its stack (rds rehearse): a copy deployed from its backups, and whether it ran. */
  lastRehearsal?: Outcome
  /** When its service's definition was last saved with a backup (MODE=swarm): what rds stack restore needs. */
  lastDefinitionAt?: string
  /** How long its service was last stopped (scaled to 0 or paused) for a backup, in seconds. */
  lastDowntimeSeconds?: number
  /** A label error: the job cannot run until it is mended. */
  error?: string
  /**
   * Snapshots the guard rejected, newest last: the verdict kept where an append-only server cannot
   * refuse it (it refuses the tag), so that "latest" and the guard's comparisons skip them.
   */
  rejectedSnapshots?: string[]
  /** When the job was noticed OVERDUE and notified (once per episode); cleared by its next success. */
  overdueNotifiedAt?: string
  /** How many times in a row the OVERDUE notice did not reach every destination (it is tried again). */
  overdueUnsent?: number
  /** The destinations (by their place in NOTIFY_URLS and description) still owed the OVERDUE notice; absent while none was tried. */
  overdueUnsentTo?: string[]
  /**
   * A job of one node of a service with data on every node (MODE=swarm): once it has saved a
   * snapshot, the job stays while the service's task is gone from the node, until `rds jobs --forget`.
   */
  keptNode?: { service: string; nodeId: string }
  /** Its newest runs of every kind (backups, drills, copies, rehearsals), newest first, with their logs' last lines. */
  history?: RunRecord[]
}

/** The copies of a job's snapshots into one other repository. */
export interface CopyStatus {
  lastAttempt?: Outcome
  /** The newest of its snapshots there (its ID in the job's own repository): a copy's age is counted from it. */
  newest?: { id: string; time: string }
}

/** What STATUS_FILE holds: every job's status, and the agent's heartbeat. */
export interface StatusTable {
  /** When the agent last wrote the table: `rds health` takes a long silence for a hung agent. */
  heartbeatAt?: string
  jobs: Record<string, JobStatus>
  /** Snapshots rejected by the guard of jobs that are gone (a service removed): still never "latest". */
  rejectedSnapshots?: string[]
  /**
   * Per-node jobs ended by `rds jobs --forget` (SERVICE@NODE): their snapshots stay in the
   * repository, where they are not taken for a job to keep again, until the service runs there again.
   */
  forgottenJobs?: string[]
  /**
   * The newest snapshot copied into each repository (by its name) by any job, kept when the job is
   * gone: a repository that held copies and vanished is a loud failure, never created afresh.
   */
  copiedInto?: Record<string, { id: string; time: string; by: string }>
  /** What the last `restic check` of each repository found, by the repository's name. */
  repositories?: Record<string, { lastCheck?: Outcome; sizeBytes?: number; lastPrune?: Outcome }>
}

/** The heartbeat is written this often; a table older than HEARTBEAT_LIMIT_MS means a hung agent. */
export const HEARTBEAT_MS = 60_000
export const HEARTBEAT_LIMIT_MS = 5 * HEARTBEAT_MS

/** The table, or an empty one when nothing has been recorded yet. */
export async function readStatus(file: string): Promise<StatusTable> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { jobs: {} }
    throw error
  }
  const parsed = JSON.parse(text) as Partial<StatusTable> & LegacyStatus
  return parsed.jobs ? (parsed as StatusTable) : fromLegacy(parsed)
}

/** STATUS_FILE as versions before the status table wrote it: one job, unnamed. */
interface LegacyStatus {
  lastSnapshot?: { id: string; savedAt: string; repository: string }
}

/** The one thing of an old status that matters is the last snapshot (the vanished-repository guard). */
function fromLegacy(legacy: LegacyStatus): StatusTable {
  const saved = legacy.lastSnapshot
  return { jobs: saved ? { [LEGACY_JOB]: { watchedSince: saved.savedAt, lastSnapshot: { id: saved.id, time: saved.savedAt, repository: saved.repository } } } : {} }
}

/** The name a status written before jobs had names is read under; see jobStatus. */
const LEGACY_JOB = ''

/** A job's status, falling back to a status written before the table had names. */
export function jobStatus(table: StatusTable, name: string): JobStatus | undefined {
  return table.jobs[name] ?? table.jobs[LEGACY_JOB]
}

let writes = 0

/**
 * A table that cannot be read (cut short, edited by hand) is never overwritten: it is moved aside,
 * kept for a person to mend, and the update fails saying so; the next one starts a new table.
 */
async function setAside(file: string, error: Error): Promise<never> {
  const aside = `${file}.unreadable-${new Date().toISOString().replace(/[:.]/g, '-')}`
  const rejected = salvageRejected(await readFile(file, 'utf8'))
  // The rejected snapshots it still shows go on in the new table ("latest" must never become one of
  // them), which replaces it in one rename: at no moment is neither there.
  if (rejected.length > 0) {
    await copyFile(file, aside)
    await writeWhole(file, { jobs: {}, rejectedSnapshots: rejected })
  } else {
    await rename(file, aside)
  }
  const kept = rejected.length > 0 ? ` (with the ${rejected.length} rejected snapshot(s) it still shows)` : ''
  throw new Error(`STATUS_FILE ${file} could not be read (${error.message}); it was moved to ${aside} and a new one is started${kept}, so rds status has lost the jobs' history until you mend it`)
}

/** Written aside and renamed: a reader never sees half of it. */
async function writeWhole(file: string, table: StatusTable): Promise<void> {
  const partial = `${file}.${process.pid}.${++writes}.partial`
  await writeFile(partial, `${JSON.stringify(table, null, 2)}\n`)
  await rename(partial, file)
}

/**
 * Reads the table, lets `change` edit it, and writes it back whole (a reader never sees half of
 * it), under a lock that every process writing STATUS_FILE shares: the agent, and an `rds backup`
 * started beside it with docker exec, each change their own job's entry.
 */
export async function updateStatus(file: string, change: (table: StatusTable) => void): Promise<StatusTable> {
  await mkdir(dirname(file), { recursive: true })
  const release = await lockfile.lock(file, { realpath: false, lockfilePath: `${file}.lock`, stale: 10_000, retries: { retries: 50, minTimeout: 20, maxTimeout: 200 } })
  try {
    // Only a table that is not JSON is set aside; a file that cannot be read now (EACCES, EIO) fails this update alone.
    const table = await readStatus(file).catch((error: Error) => (error instanceof SyntaxError ? setAside(file, error) : Promise.reject(error)))
    delete table.jobs[LEGACY_JOB]
    change(table)
    await writeWhole(file, table)
    return table
  } finally {
    await release()
  }
}

/** The moment the job becomes OVERDUE, if it has a limit. */
export function overdueAt(status: JobStatus): Date | undefined {
  if (status.overdueAfterSeconds === undefined) return undefined
  const since = Date.parse(status.lastSuccess?.finishedAt ?? status.watchedSince)
  return new Date(since + status.overdueAfterSeconds * 1000)
}

export const isOverdue = (status: JobStatus, now = new Date()) => (overdueAt(status)?.getTime() ?? Infinity) <= now.getTime()

/** Whether a run recorded as going is really going: its process may have been killed. */
export function isRunning(status: JobStatus): boolean {
  if (!status.running) return false
  try {
    process.kill(status.running.pid, 0)
    return true
  } catch (error) {
    // EPERM: the process exists but is not ours to signal.
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** The attempt's outcome in the table: the last attempt, and the last success or one more failure in a row. */
export function recordOutcome(status: JobStatus, outcome: Outcome): void {
  status.lastAttempt = outcome
  delete status.running
  status.runs ??= { success: 0, failure: 0 }
  status.runs[outcome.ok ? 'success' : 'failure']++
  if (outcome.ok) {
    status.lastSuccess = outcome
    status.failuresInARow = 0
  } else {
    status.failuresInARow = (status.failuresInARow ?? 0) + 1
  }
}

export function outcomeOf(startedAt: Date, finishedAt: Date, ok: boolean, message: string, exitCode?: number): Outcome {
  return {
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    ok,
    exitCode,
    message,
    durationSeconds: Math.round((finishedAt.getTime() - startedAt.getTime()) / 100) / 10,
  }
}

/** A snapshot as `restic snapshots --json` lists it, as the status keeps it. */
export function snapshotRecord(snapshot: { id: string; time: string; summary?: { total_files_processed: number; total_bytes_processed: number; data_added?: number } }, repository: string): SnapshotRecord {
  return {
    id: snapshot.id,
    time: snapshot.time,
    repository,
    files: snapshot.summary?.total_files_processed,
    bytesAdded: snapshot.summary?.data_added,
    bytesProcessed: snapshot.summary?.total_bytes_processed,
  }
}
