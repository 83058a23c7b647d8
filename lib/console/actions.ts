import type { AuditLog } from './audit.js'

/** A long action a console user started (a backup, a restore, a drill): how it goes, for the pages to follow. */
export interface Action {
  id: number
  kind: string
  job: string
  who: string
  startedAt: string
  state: 'running' | 'succeeded' | 'failed'
  finishedAt?: string
  /** What it did, or why it failed, in one sentence. */
  message?: string
}

const KEPT = 100

/**
 * The console's long actions: each runs on after its request has been answered, one at a time for a
 * job, until it ends or the controller stops; its end is logged like its start.
 */
export class Actions {
  private readonly actions: Action[] = []
  private readonly running = new Set<Promise<void>>()
  private readonly alone = new WeakSet<Action>()
  private next = 1

  constructor(
    private readonly audit: AuditLog,
    private readonly stop: AbortSignal,
  ) {}

  /** Whether an action on the job, or one that runs alone (a recovery, which moves many jobs), is still going. */
  busy(job: string): boolean {
    return this.actions.some((action) => action.state === 'running' && (action.job === job || this.alone.has(action)))
  }

  /** Every action's end, once the actions going now have ended (a stop makes them end soon). */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.running])
  }

  /** Starts `run`; undefined when the job is busy, or, for an action that runs `alone`, when any action is going. */
  start(kind: string, job: string, account: { name: string; role: string }, target: string, run: (signal: AbortSignal) => Promise<string>, alone = false): Action | undefined {
    if (this.busy(job) || (alone && this.actions.some((other) => other.state === 'running'))) return undefined
    const action: Action = { id: this.next++, kind, job, who: account.name, startedAt: new Date().toISOString(), state: 'running' }
    this.actions.push(action)
    if (alone) this.alone.add(action)
    const oldestEnded = this.actions.findIndex((old) => old.state !== 'running')
    if (this.actions.length > KEPT && oldestEnded !== -1) this.actions.splice(oldestEnded, 1)
    this.audit.record({ who: account.name, role: account.role, action: kind, target, outcome: 'started' })
    const ended: Promise<void> = run(this.stop).then(
      (message) => this.end(action, account, target, 'succeeded', message),
      (error: Error) => this.end(action, account, target, 'failed', error.message),
    ).finally(() => this.running.delete(ended))
    this.running.add(ended)
    return action
  }

  private end(action: Action, account: { name: string; role: string }, target: string, state: 'succeeded' | 'failed', message: string): void {
    Object.assign(action, { state, message, finishedAt: new Date().toISOString() })
    this.audit.record({ who: account.name, role: account.role, action: action.kind, target, outcome: `${state}: ${message}` })
  }

  /** The newest first. */
  list(): Action[] {
    return [...this.actions].reverse()
  }
}
