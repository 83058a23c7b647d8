import { inWindow, windowEnd, windowOpens, type RunLimits } from '../config/run-limits.js'
import type { Logger } from '../observe/log.js'
import type { ScheduledJob } from './controller-options.js'

/** A run let start (release it when its job has ended), or refused with the sentence its failure is recorded with. */
export interface Admission {
  refused?: string
  release(): void
}

interface Waiting {
  scheduled: ScheduledJob
  node?: string
  repository: string
  dueAt: Date
  /** When it must have started: the end of BACKUP_WINDOW; none without a window. */
  deadline?: Date
  settle: (admission: Admission) => void
}

interface Running {
  name: string
  node?: string
  repository: string
}

const time = (at: Date) => at.toTimeString().slice(0, 8)

/**
 * The fair queue of the controller's backups: runs start in the order they became due, each as
 * soon as its node has fewer than MAX_JOBS_PER_NODE jobs and its repository fewer than
 * MAX_JOBS_PER_REPOSITORY (a run whose node is busy holds back no other node's), and, with
 * BACKUP_WINDOW, only within the window: one still waiting at the window's end is refused, so
 * that its run is recorded as failed, never silently skipped. The reason each waits is in its
 * ScheduledJob (`queued`), for `rds jobs`.
 */
export class RunQueue {
  private readonly waiting: Waiting[] = []
  private readonly running: Running[] = []
  private timer?: NodeJS.Timeout

  constructor(
    private readonly limits: RunLimits,
    private readonly log: Logger,
    /** Told whenever a job's place in the queue changes. */
    private readonly onChange: () => void,
    /** False for runs asked for by hand (a controller without schedules): they ignore BACKUP_WINDOW. */
    private readonly windowApplies: boolean,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Resolves when the run may start, or is refused (the window ended, the controller stopped). */
  admit(scheduled: ScheduledJob, signal: AbortSignal): Promise<Admission> {
    const { job } = scheduled
    const dueAt = this.now()
    const window = this.windowApplies ? this.limits.window : undefined
    return new Promise<Admission>((resolve) => {
      const entry: Waiting = { scheduled, node: job.node?.nodeName, repository: job.backup?.repoPath ?? '', dueAt, deadline: window && windowEnd(window, dueAt), settle: resolve }
      const onAbort = () => this.refuse(entry, `the controller stopped while it waited to start (queued since ${time(dueAt)})`)
      signal.addEventListener('abort', onAbort, { once: true })
      entry.settle = (admission) => {
        signal.removeEventListener('abort', onAbort)
        scheduled.queued = undefined
        resolve(admission)
      }
      if (signal.aborted) return onAbort()
      this.waiting.push(entry)
      this.pump()
    })
  }

  /** Refuses the runs whose window has ended, lets start those that may, and says why the rest wait. */
  pump(): void {
    const now = this.now()
    for (const entry of this.waiting.filter((waiting) => waiting.deadline && waiting.deadline <= now)) {
      this.refuse(entry, `could not start within BACKUP_WINDOW ${this.limits.window!.text}: it was due at ${time(entry.dueAt)}, and ${this.reason(entry, now, false)} until the window ended; start it by hand with rds backup --service ${entry.scheduled.job.service}, or widen the window or the limits`)
    }
    const open = !this.windowApplies || !this.limits.window || inWindow(this.limits.window, now)
    for (const entry of open ? [...this.waiting] : []) {
      if (this.busy(entry)) continue
      this.waiting.splice(this.waiting.indexOf(entry), 1)
      const running: Running = { name: entry.scheduled.job.name, node: entry.node, repository: entry.repository }
      this.running.push(running)
      let released = false
      entry.settle({
        release: () => {
          if (released) return
          released = true
          this.running.splice(this.running.indexOf(running), 1)
          this.pump()
        },
      })
    }
    for (const entry of this.waiting) {
      const queued = `queued since ${time(entry.dueAt)}: ${this.reason(entry, now)}`
      if (entry.scheduled.queued !== queued) this.log.info(`controller: ${entry.scheduled.job.name}: ${queued}`)
      entry.scheduled.queued = queued
    }
    this.onChange()
    this.wakeUp(now)
  }

  private refuse(entry: Waiting, refused: string): void {
    const at = this.waiting.indexOf(entry)
    if (at >= 0) this.waiting.splice(at, 1)
    entry.settle({ refused, release: () => undefined })
  }

  private busy(entry: Waiting): boolean {
    const { perNode, perRepository } = this.limits
    const onNode = entry.node === undefined ? 0 : this.running.filter((run) => run.node === entry.node).length
    const inRepository = this.running.filter((run) => run.repository === entry.repository).length
    return onNode >= perNode || (perRepository !== undefined && inRepository >= perRepository)
  }

  /** Why a run waits, in words: the window (unless `window` is false), its node's jobs, or its repository's. */
  private reason(entry: Waiting, now: Date, window = true): string {
    const { perNode, perRepository } = this.limits
    if (window && this.windowApplies && this.limits.window && !inWindow(this.limits.window, now)) return `BACKUP_WINDOW ${this.limits.window.text} is closed`
    const names = (runs: Running[]) => runs.map((run) => run.name).join(', ')
    const onNode = this.running.filter((run) => run.node === entry.node)
    if (entry.node !== undefined && onNode.length >= perNode) return `node ${entry.node} runs ${names(onNode)} (MAX_JOBS_PER_NODE=${perNode})`
    const inRepository = this.running.filter((run) => run.repository === entry.repository)
    if (perRepository !== undefined && inRepository.length >= perRepository) return `its repository ${entry.repository} takes ${names(inRepository)} (MAX_JOBS_PER_REPOSITORY=${perRepository})`
    return `${this.waiting.indexOf(entry)} runs due before it come first`
  }

  /** Looks again when the window opens or a waiting run's window ends. */
  private wakeUp(now: Date): void {
    clearTimeout(this.timer)
    this.timer = undefined
    if (this.waiting.length === 0) return
    const times = this.waiting.flatMap((entry) => (entry.deadline ? [entry.deadline.getTime()] : []))
    if (this.windowApplies && this.limits.window && !inWindow(this.limits.window, now)) times.push(windowOpens(this.limits.window, now).getTime())
    if (times.length === 0) return
    this.timer = setTimeout(() => this.pump(), Math.max(0, Math.min(...times) - now.getTime()) + 50)
    this.timer.unref()
  }
}
