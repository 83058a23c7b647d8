import { inWindow, windowEnd, windowOpens, type RunLimits } from '../config/run-limits.js'
import type { Logger } from '../observe/log.js'
import type { ScheduledJob } from './controller-options.js'
import type { SwarmJob } from './discover.js'

/**
 * A run's turn: let start (release it when its job has ended on its node, `afterMs` later for a job
 * Docker may still be stopping), refused with the sentence its failure is recorded with (the window
 * ended), or stopped (the controller stopped, or the job was dropped, while it waited: nothing ran).
 */
export interface Admission {
  refused?: string
  stopped?: string
  /** Whether it waited for its turn (its task may have moved meanwhile). */
  waited: boolean
  release(afterMs?: number): void
}

interface Waiting {
  scheduled: ScheduledJob
  node?: string
  repository: string
  dueAt: Date
  /** When it must have started: the end of BACKUP_WINDOW; none without a window. */
  deadline?: Date
  settle: (admission: Omit<Admission, 'waited'>) => void
  waited: boolean
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
 * MAX_JOBS_PER_REPOSITORY, a run due earlier on the same node or repository going first (so none
 * starves) while other nodes go on; with BACKUP_WINDOW, only within the window, and one still
 * waiting at the window's end is refused, so that its run is recorded as failed, never silently
 * skipped. Why each waits is in its ScheduledJob (`queued`), for `rds jobs`.
 */
export class RunQueue {
  private readonly waiting: Waiting[] = []
  private readonly running: Running[] = []
  private timer?: NodeJS.Timeout
  private closed = false
  /** Who waits for a repository to have no backup running or waiting (whenIdle). */
  private readonly idleWaiters: { repository: string; resolve: () => void }[] = []

  constructor(
    private readonly limits: RunLimits,
    private readonly log: Logger,
    /** Told whenever a job's place in the queue changes. */
    private readonly onChange: () => void,
    /** False for runs asked for by hand (a controller without schedules): they ignore BACKUP_WINDOW. */
    private readonly windowApplies: boolean,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Resolves when the run may start on the node `where` runs on, or is refused or stopped. `dueAt` keeps its place. */
  admit(scheduled: ScheduledJob, where: SwarmJob, dueAt: Date, signal: AbortSignal): Promise<Admission> {
    const window = this.windowApplies ? this.limits.window : undefined
    return new Promise<Admission>((resolve) => {
      const entry: Waiting = { scheduled, node: where.node?.nodeName, repository: where.backup?.repoPath ?? '', dueAt, deadline: window && windowEnd(window, dueAt), waited: false, settle: () => undefined }
      const onAbort = () => {
        this.remove(entry)
        entry.settle({ stopped: `stopped while it waited for its turn (queued since ${time(dueAt)})`, release: () => undefined })
        if (!this.closed) this.pump()
      }
      entry.settle = (admission) => {
        signal.removeEventListener('abort', onAbort)
        scheduled.queued = undefined
        resolve({ ...admission, waited: entry.waited })
      }
      if (signal.aborted) return onAbort()
      signal.addEventListener('abort', onAbort, { once: true })
      // In the order they became due: one admitted again after its task moved keeps its place.
      const after = this.waiting.findIndex((waiting) => waiting.dueAt > dueAt)
      this.waiting.splice(after < 0 ? this.waiting.length : after, 0, entry)
      this.pump()
    })
  }

  /** Refuses the runs whose window has ended, lets start those whose turn it is, and says why the rest wait. */
  pump(): void {
    // Once the controller stops, nothing starts: the waiting runs are each stopped by their signal.
    if (this.closed) return
    const now = this.now()
    for (const entry of this.waiting.filter((waiting) => waiting.deadline && waiting.deadline <= now)) {
      this.remove(entry)
      const why = this.blocker(entry, new Map(), new Map()) ?? 'its turn came only as the window ended'
      entry.settle({ refused: `could not start within BACKUP_WINDOW ${this.limits.window!.text}: it was due at ${time(entry.dueAt)}, and ${why}; start it by hand with rds backup --service ${entry.scheduled.job.service}, or widen the window or the limits`, release: () => undefined })
    }
    const open = this.windowOpen(now)
    // What runs due earlier wait for, one turn each: a later run takes none of it before them.
    const nodes = new Map<string, number>()
    const repositories = new Map<string, number>()
    for (const entry of [...this.waiting]) {
      const blocker = open ? this.blocker(entry, nodes, repositories) : `BACKUP_WINDOW ${this.limits.window!.text} is closed`
      if (blocker === undefined) {
        this.remove(entry)
        this.start(entry)
        continue
      }
      if (entry.node !== undefined) nodes.set(entry.node, (nodes.get(entry.node) ?? 0) + 1)
      if (this.limits.perRepository !== undefined) repositories.set(entry.repository, (repositories.get(entry.repository) ?? 0) + 1)
      entry.waited = true
      const queued = `queued since ${time(entry.dueAt)}: ${blocker}`
      if (entry.scheduled.queued !== queued) this.log.info(`controller: ${entry.scheduled.job.name}: ${queued}`)
      entry.scheduled.queued = queued
    }
    this.onChange()
    this.wakeUp(now)
    this.tellIdle(open)
  }

  /**
   * Resolves once no backup into the repository runs or waits for its turn (while BACKUP_WINDOW is
   * open), or after `maxMs`, or as the controller stops.
   */
  whenIdle(repository: string, maxMs: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const waiter = { repository, resolve: () => undefined as void }
      // Not unref'd: a one-off run's process has nothing else to keep it alive meanwhile.
      const timer = setTimeout(() => waiter.resolve(), maxMs)
      waiter.resolve = () => {
        clearTimeout(timer)
        const at = this.idleWaiters.indexOf(waiter)
        if (at >= 0) this.idleWaiters.splice(at, 1)
        resolve()
      }
      this.idleWaiters.push(waiter)
      this.tellIdle(this.windowOpen(this.now()))
    })
  }

  /** Whether runs may start now: BACKUP_WINDOW is open, or does not apply. */
  private windowOpen(now: Date): boolean {
    return !this.windowApplies || !this.limits.window || inWindow(this.limits.window, now)
  }

  private tellIdle(open: boolean): void {
    for (const waiter of [...this.idleWaiters]) {
      const busy = this.running.some((run) => run.repository === waiter.repository) || (open && this.waiting.some((entry) => entry.repository === waiter.repository))
      if (this.closed || !busy) waiter.resolve()
    }
  }

  /** Nothing starts any more, and no timer is left: the controller is stopping. */
  close(): void {
    this.closed = true
    clearTimeout(this.timer)
    this.tellIdle(false)
  }

  private start(entry: Waiting): void {
    const running: Running = { name: entry.scheduled.job.name, node: entry.node, repository: entry.repository }
    this.running.push(running)
    let released = false
    entry.settle({
      release: (afterMs = 0) => {
        if (released) return
        released = true
        const free = () => {
          this.running.splice(this.running.indexOf(running), 1)
          if (!this.closed) this.pump()
        }
        if (afterMs > 0) setTimeout(free, afterMs).unref()
        else free()
      },
    })
  }

  private remove(entry: Waiting): void {
    const at = this.waiting.indexOf(entry)
    if (at >= 0) this.waiting.splice(at, 1)
  }

  /** Why a run cannot start now, in words (its node's jobs, its repository's, a run due before it); undefined when it can. */
  private blocker(entry: Waiting, claimedNodes: Map<string, number>, claimedRepositories: Map<string, number>): string | undefined {
    const { perNode, perRepository } = this.limits
    const names = (runs: Running[]) => runs.map((run) => run.name).join(', ')
    const onNode = this.running.filter((run) => entry.node !== undefined && run.node === entry.node)
    if (onNode.length >= perNode) return `node ${entry.node} runs ${names(onNode)} (MAX_JOBS_PER_NODE=${perNode})`
    const inRepository = this.running.filter((run) => run.repository === entry.repository)
    if (perRepository !== undefined && inRepository.length >= perRepository) return `its repository ${entry.repository} takes ${names(inRepository)} (MAX_JOBS_PER_REPOSITORY=${perRepository})`
    // A run due before it holds a turn of the node or repository it waits for: the rest may be used.
    if (entry.node !== undefined && onNode.length + (claimedNodes.get(entry.node) ?? 0) >= perNode) return `a run due before it on node ${entry.node} goes first`
    if (perRepository !== undefined && inRepository.length + (claimedRepositories.get(entry.repository) ?? 0) >= perRepository) return `a run due before it into its repository ${entry.repository} goes first`
    return undefined
  }

  /** Looks again when the window opens or a waiting run's window ends. */
  private wakeUp(now: Date): void {
    clearTimeout(this.timer)
    this.timer = undefined
    if (this.waiting.length === 0 || this.closed) return
    const times = this.waiting.flatMap((entry) => (entry.deadline ? [entry.deadline.getTime()] : []))
    if (!this.windowOpen(now)) times.push(windowOpens(this.limits.window!, now).getTime())
    if (times.length === 0) return
    this.timer = setTimeout(() => this.pump(), Math.max(0, Math.min(...times) - now.getTime()) + 50)
    this.timer.unref()
  }
}
