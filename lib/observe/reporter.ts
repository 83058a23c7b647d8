import { hostname } from 'node:os'
import type { Logger } from './log.js'
import { runRecord, withRun } from './run-history.js'
import { recordsAttempts, type RunKind, type RunListener, type RunReport, type WatchedJob } from './run-report.js'
import { HEARTBEAT_MS, jobStatus, type JobStatus, type Outcome, type SnapshotRecord, type StatusTable } from './status.js'
import { readStatusOrSalvage, readVerdicts, rejectedSnapshots, StatusSetAside, updateStatus } from './status-file.js'
import { isOverdue, overdueAt } from './overdue.js'
import { recordOutcome } from './outcome.js'

// How many rejected snapshots a job's status remembers: years of nights, weeks of hours of a lost volume.
const REJECTED_KEPT = 1000

/** After how many minutes an OVERDUE notice that did not reach every destination is sent again: 1, 2, 4... at most 60. */
const retryMinutes = (unsent: number) => Math.min(2 ** (unsent - 1), 60)

/**
 * Where runs are reported: STATUS_FILE (if set) records them for `rds status`, `rds health` and the
 * metrics, and the listeners (notifications) hear of them. Reporting never fails a run: a problem
 * is logged.
 */
export class Reporter {
  constructor(
    private readonly options: { statusFile?: string; listeners?: RunListener[]; log: Logger },
  ) {}

  /** Whether runs are recorded anywhere (STATUS_FILE is set). */
  get recording(): boolean {
    return this.options.statusFile !== undefined
  }

  private async update(change: (table: StatusTable) => void): Promise<StatusTable | undefined> {
    const file = this.options.statusFile
    if (!file) return undefined
    try {
      return await updateStatus(file, change)
    } catch (error) {
      // Damaged, kept aside, and the change made on a new table: written, and said loudly.
      if (error instanceof StatusSetAside && error.table) {
        this.options.log.error(`status: ${error.message}`)
        return error.table
      }
      this.options.log.warn(`status: cannot write STATUS_FILE ${file}: ${(error as Error).message}`)
      return undefined
    }
  }

  private async tellListeners(tell: (listener: RunListener) => Promise<void>): Promise<void> {
    await Promise.all((this.options.listeners ?? []).map((listener) => tell(listener).catch((error) => this.options.log.warn(`notify: ${(error as Error).message}`))))
  }

  /** The jobs there are now: new ones start their overdue clock, and those gone are dropped. */
  async watch(jobs: WatchedJob[]): Promise<void> {
    const now = new Date().toISOString()
    await this.update((table) => {
      const names = new Set(jobs.map((job) => job.name))
      for (const name of Object.keys(table.jobs)) {
        if (names.has(name)) continue
        // A job that is gone keeps its verdicts: its snapshots are still in the repository.
        const rejected = table.jobs[name]!.rejectedSnapshots ?? []
        if (rejected.length > 0) table.rejectedSnapshots = [...(table.rejectedSnapshots ?? []), ...rejected].slice(-10 * REJECTED_KEPT)
        delete table.jobs[name]
      }
      for (const job of jobs) {
        const status: JobStatus = (table.jobs[job.name] ??= { watchedSince: now })
        status.schedule = job.schedule
        status.overdueAfterSeconds = job.overdueAfterMs === undefined ? undefined : job.overdueAfterMs / 1000
        status.error = job.error
        // Forgotten (rds jobs --forget) by a discovery that read the jobs before: it is not kept
        // again; a job whose service runs on its node again is no longer forgotten.
        const forgotten = table.forgottenJobs?.includes(job.name)
        if (forgotten && job.runsThere) table.forgottenJobs = table.forgottenJobs!.filter((name) => name !== job.name)
        status.keptNode = forgotten && !job.runsThere ? undefined : job.keptNode
        // A destination no longer copied into: its record (a failure among them) would stand for ever.
        for (const destination of Object.keys(status.copies ?? {})) if (job.copyTo && !job.copyTo.includes(destination)) delete status.copies![destination]
      }
      table.heartbeatAt = now
    })
  }

  /**
   * Keeps the heartbeat going until `stop` is aborted (`rds health` takes silence for a hung
   * agent), and with each beat notices the jobs that have become OVERDUE.
   */
  keepHeartbeat(stop: AbortSignal, { overdue = true } = {}): void {
    // A controller in standby only beats: the one that runs the jobs tells of them.
    const once = () => void (overdue ? this.noticeOverdue() : this.update((table) => void (table.heartbeatAt = new Date().toISOString())))
    // The first beat at once: rds health takes a table that never had one for an agent that hangs before it.
    once()
    const beat = setInterval(once, HEARTBEAT_MS)
    beat.unref()
    stop.addEventListener('abort', () => clearInterval(beat), { once: true })
  }

  /**
   * Writes the heartbeat, and tells the listeners of each job that has become OVERDUE since it was
   * last told (once per episode: the next success ends it, with a recovery). A job never becomes
   * OVERDUE while a run of it is going.
   */
  async noticeOverdue(now = new Date()): Promise<void> {
    // One round at a time: a round still sending (a destination that hangs) is not sent again.
    if (this.noticing) return void (await this.update((table) => void (table.heartbeatAt = now.toISOString())))
    this.noticing = this.noticeOverdueOnce(now).finally(() => (this.noticing = undefined))
    await this.noticing
  }

  private noticing?: Promise<void>

  private async noticeOverdueOnce(now: Date): Promise<void> {
    const due: { report: RunReport; to?: string[] }[] = []
    const at = now.toISOString()
    await this.update((table) => {
      table.heartbeatAt = at
      for (const [name, status] of Object.entries(table.jobs)) {
        if (!isOverdue(status, now) || status.running) continue
        // Told already, unless a destination did not get it: then again after 1, 2, 4... minutes, at most an hour apart.
        const unsent = status.overdueUnsent ?? 0
        if (status.overdueNotifiedAt && (unsent === 0 || now.getTime() < Date.parse(status.overdueNotifiedAt) + retryMinutes(unsent) * 60_000)) continue
        const to = status.overdueNotifiedAt ? status.overdueUnsentTo : undefined
        // Counted as not sent until it is: a controller that dies while sending sends it again.
        status.overdueNotifiedAt = at
        status.overdueUnsent = unsent + 1
        const since = status.lastSuccess ? `since ${status.lastSuccess.finishedAt}` : `since it was first seen at ${status.watchedSince} (it has never succeeded)`
        const message = `no successful backup of ${name} ${since}: OVERDUE at ${overdueAt(status)!.toISOString()} (OVERDUE_AFTER)${status.lastAttempt && !status.lastAttempt.ok ? `; its last run failed: ${status.lastAttempt.message}` : ''}`
        due.push({ report: { job: name, kind: 'backup', outcome: { startedAt: overdueAt(status)!.toISOString(), finishedAt: at, ok: false, message, durationSeconds: 0 }, snapshot: status.lastSnapshot }, to })
      }
    })
    for (const { report, to } of due) {
      if (!to) this.options.log.error(`status: ${report.job} is OVERDUE: ${report.outcome.message}`)
      // Only the destinations that did not get it before; undefined: every destination.
      let missed: string[] | undefined = []
      for (const listener of this.options.listeners ?? []) {
        const failed = await listener.overdue(report, to).catch((error: Error) => (this.options.log.warn(`notify: ${error.message}`), undefined))
        missed = failed && missed ? [...missed, ...failed] : undefined
      }
      let unsent = 0
      await this.update((table) => {
        const status = table.jobs[report.job]
        // A success may have ended the episode meanwhile, or another try started.
        if (status?.overdueNotifiedAt !== at) return
        if (missed?.length === 0) {
          delete status.overdueUnsent
          delete status.overdueUnsentTo
        } else {
          unsent = status.overdueUnsent ?? 1
          status.overdueUnsentTo = missed
        }
      })
      if (unsent > 0) this.options.log.warn(`status: that ${report.job} is OVERDUE did not reach ${missed ? missed.join(', ') : 'every destination'}; it is told again in ${retryMinutes(unsent)} minute(s)`)
    }
  }

  async started(job: string, kind: RunKind): Promise<void> {
    const since = new Date().toISOString()
    if (recordsAttempts(kind)) {
      await this.update((table) => void ((table.jobs[job] ??= { watchedSince: since }).running = { since, pid: process.pid, hostname: hostname() }))
    }
    await this.tellListeners((listener) => listener.started(job, kind))
  }

  /** Each job's last outcome by kind, for a recovery to be told also where nothing is recorded. */
  private readonly lastOutcomes = new Map<string, Outcome>()

  async finished(report: RunReport): Promise<void> {
    // The report may learn in the status that it ends an OVERDUE episode.
    const key = `${report.kind} ${report.job}${report.copied ? ` ${report.copied.destination}` : ''}`
    let previous = this.lastOutcomes.get(key)
    this.lastOutcomes.set(key, report.outcome)
    await this.update((table) => {
      if (report.kind === 'prune' && report.checked) {
        table.repositories ??= {}
        const repository = (table.repositories[report.checked.repository] ??= {})
        previous = repository.lastPrune
        repository.lastPrune = report.outcome
        return
      }
      if (report.checked) {
        const { repository, sizeBytes, jobs } = report.checked
        table.repositories ??= {}
        previous = table.repositories[repository]?.lastCheck
        table.repositories[repository] = { ...table.repositories[repository], lastCheck: report.outcome, sizeBytes: sizeBytes ?? table.repositories[repository]?.sizeBytes }
        for (const job of jobs) if (table.jobs[job]) table.jobs[job].lastCheck = report.outcome
        return
      }
      const status = (table.jobs[report.job] ??= { watchedSince: report.outcome.startedAt })
      status.history = withRun(status.history, runRecord(report))
      if (recordsAttempts(report.kind)) {
        previous = status.lastAttempt
        if (report.outcome.ok && status.overdueNotifiedAt) {
          report = { ...report, endsOverdue: true }
          delete status.overdueNotifiedAt
          delete status.overdueUnsent
          delete status.overdueUnsentTo
        }
        recordOutcome(status, report.outcome)
        if (report.snapshot) status.lastSnapshot = report.snapshot
        if (report.rejected?.length) status.rejectedSnapshots = [...(status.rejectedSnapshots ?? []), ...report.rejected].slice(-REJECTED_KEPT)
        if (report.snapshots !== undefined) status.snapshots = report.snapshots
        if (report.downtimeSeconds !== undefined) status.lastDowntimeSeconds = report.downtimeSeconds
        if (report.definitionSavedAt !== undefined) status.lastDefinitionAt = report.definitionSavedAt
      } else if (report.kind === 'copy' && report.copied) {
        const copy = ((status.copies ??= {})[report.copied.destination] ??= {})
        previous = copy.lastAttempt
        copy.lastAttempt = report.outcome
        if (report.copied.newest) {
          copy.newest = report.copied.newest
          ;(table.copiedInto ??= {})[report.copied.destination] = { ...report.copied.newest, by: report.job }
        }
      } else if (report.kind === 'check') {
        previous = status.lastCheck
        status.lastCheck = report.outcome
      } else if (report.kind === 'rehearsal') {
        previous = status.lastRehearsal
        status.lastRehearsal = report.outcome
      } else {
        previous = status.lastDrill
        status.lastDrill = report.outcome
      }
    })
    await this.tellListeners((listener) => listener.finished(report, previous))
  }

  /** A snapshot recorded as saved in this repository (by its name) by any job, if one was. */
  async savedIn(repository: string): Promise<{ id: string; time: string; by: string } | undefined> {
    const file = this.options.statusFile
    if (!file) return undefined
    const table = await readStatusOrSalvage(file)
    for (const [name, status] of Object.entries(table.jobs)) {
      const saved = status.lastSnapshot
      if (saved?.repository === repository) return { id: saved.id, time: saved.time, by: name }
    }
    return undefined
  }

  /** A snapshot recorded as copied into this repository (by its name), or saved there, by any job, if one was. */
  async copiedInto(name: string, describe: string): Promise<{ id: string; time: string; by: string } | undefined> {
    const file = this.options.statusFile
    if (!file) return undefined
    const copied = (await readStatusOrSalvage(file)).copiedInto?.[name]
    return copied ? { ...copied, by: `${copied.by} (a copy)` } : this.savedIn(describe)
  }

  /** Every snapshot any job's guard rejected, as recorded. */
  rejectedSnapshots(): Promise<string[]> {
    return rejectedSnapshots({ statusFile: this.options.statusFile, rejectedSnapshots: [] })
  }

  /** The per-node jobs that have saved a snapshot: their nodes hold backed-up data, so their jobs stay. */
  async keptNodes(): Promise<{ service: string; nodeId: string }[]> {
    const file = this.options.statusFile
    if (!file) return []
    // Of a table that is not JSON, what can still be read (the next update sets it aside, and says so).
    const table = await readStatusOrSalvage(file)
    return Object.values(table.jobs).flatMap((status) => (status.keptNode && status.lastSnapshot ? [status.keptNode] : []))
  }

  /**
   * A per-node job found in its repository while its task is gone (no STATUS_FILE knew it): kept
   * from now on, with its last snapshot there as its last success. Resolves to whether it was written.
   */
  async keepNode(job: string, keptNode: { service: string; nodeId: string }, snapshot: SnapshotRecord, snapshots: number): Promise<boolean> {
    const written = await this.update((table) => {
      const status = (table.jobs[job] ??= { watchedSince: new Date().toISOString() })
      status.keptNode = keptNode
      status.lastSnapshot ??= snapshot
      status.snapshots ??= snapshots
      status.lastSuccess ??= { startedAt: snapshot.time, finishedAt: snapshot.time, ok: true, message: `snapshot ${snapshot.id.slice(0, 8)}, found in the repository`, durationSeconds: 0 }
    })
    return written !== undefined
  }

  /** The per-node jobs ended by rds jobs --forget, which are not to be kept again from their snapshots. */
  async forgottenJobs(): Promise<string[]> {
    const file = this.options.statusFile
    return file ? ((await readStatusOrSalvage(file).catch(() => ({ jobs: {} }) as StatusTable)).forgottenJobs ?? []) : []
  }

  /**
   * The snapshots a job's guard must never compare with: the job's own verdicts, and those the table
   * keeps under no job (of forgotten jobs, or salvaged from a damaged table); another job's ID never
   * matches this job's snapshots. A STATUS_FILE that cannot be read fails, saying so.
   */
  async rejectedFor(job: string): Promise<string[]> {
    const file = this.options.statusFile
    if (!file) return []
    const table = await readVerdicts(file)
    return [...new Set([...(jobStatus(table, job)?.rejectedSnapshots ?? []), ...(table.rejectedSnapshots ?? [])])]
  }

  /** What is recorded of a job, if anything. */
  async status(job: string): Promise<JobStatus | undefined> {
    const file = this.options.statusFile
    return file ? jobStatus(await readStatusOrSalvage(file).catch(() => ({ jobs: {} })), job) : undefined
  }

  /**
   * A snapshot found in the repository for a job with no recorded success (a new container, a
   * controller moved to another manager): the overdue clock then starts from that snapshot.
   */
  async foundInRepository(job: string, snapshot: SnapshotRecord, snapshots: number): Promise<void> {
    await this.update((table) => {
      const status = table.jobs[job]
      if (!status || (status.lastSuccess && Date.parse(status.lastSuccess.finishedAt) >= Date.parse(snapshot.time))) return
      status.lastSnapshot ??= snapshot
      status.snapshots ??= snapshots
      status.lastSuccess = { startedAt: snapshot.time, finishedAt: snapshot.time, ok: true, message: `snapshot ${snapshot.id.slice(0, 8)}, found in the repository`, durationSeconds: 0 }
    })
  }
}
