import { copyFile, link, mkdir, open, readFile, rename, rm } from 'node:fs/promises'
import { dirname } from 'node:path'
import lockfile from 'proper-lockfile'
import type { RunRecord } from './run-history.js'
import { rejectedIn, salvageRejected } from './rejected.js'

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
 * A table that cannot be read (edited by hand, damaged by a crash) is never overwritten: it is kept
 * aside for a person to mend, and a new table starts with the guard's verdicts it still shows ("latest"
 * must never become one of them). The update is made on the new table and fails saying so.
 */
async function setAside(file: string, error: Error): Promise<{ table: StatusTable; said: Error }> {
  const aside = `${file}.unreadable-${new Date().toISOString().replace(/[:.]/g, '-')}`
  const table = salvagedTable(await readFile(file, 'utf8'))
  // A second name for it, then the new table renamed over the first: at no moment is neither there,
  // and no space is needed. A file system without hard links gets a copy.
  await link(file, aside).catch(() => copyFile(file, aside))
  const count = rejectedIn(table).length
  const kept = count > 0 ? ` (with the ${count} rejected snapshot(s) it still shows)` : ''
  return { table, said: new Error(`STATUS_FILE ${file} could not be read (${error.message}); it was kept as ${aside} and a new one is started${kept}, so rds status has lost the jobs' history until you mend it`) }
}

/** Of a table that is not JSON, what it still shows that must not be lost: the guard's verdicts, each job's its own. */
function salvagedTable(text: string): StatusTable {
  const { jobs, gone } = salvageRejected(text)
  const now = new Date().toISOString()
  return { jobs: Object.fromEntries(Object.entries(jobs).map(([job, rejected]) => [job, { watchedSince: now, rejectedSnapshots: rejected }])), rejectedSnapshots: gone.length > 0 ? gone : undefined }
}

/** The table; of one that is not JSON (until the next update sets it aside), the verdicts it still shows. */
export async function readStatusOrVerdicts(file: string): Promise<StatusTable> {
  try {
    return await readStatus(file)
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error
    return salvagedTable(await readFile(file, 'utf8'))
  }
}

/** Written aside, flushed to the disk and renamed: a reader never sees half of it, nor a crash an empty one. */
async function writeWhole(file: string, table: StatusTable): Promise<void> {
  const partial = `${file}.${process.pid}.${++writes}.partial`
  try {
    const handle = await open(partial, 'w')
    try {
      await handle.writeFile(`${JSON.stringify(table, null, 2)}\n`)
      await handle.sync()
    } finally {
      await handle.close()
    }
    await rename(partial, file)
  } catch (error) {
    await rm(partial, { force: true })
    throw error
  }
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
    const { table, said } = await readStatus(file).then(
      (table) => ({ table, said: undefined }),
      (error: Error) => (error instanceof SyntaxError ? setAside(file, error) : Promise.reject(error)),
    )
    delete table.jobs[LEGACY_JOB]
    change(table)
    await writeWhole(file, table)
    if (said) throw said
    return table
  } finally {
    await release()
  }
}
