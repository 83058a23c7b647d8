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
  private next = 1

  constructor(
    private readonly audit: AuditLog,
    private readonly stop: AbortSignal,
  ) {}

  /** Whether an action on the job is still going. */
  busy(job: string): boolean {
    return this.actions.some((action) => action.job === job && action.state === 'running')
  }

  /** Every action's end, once the actions going now have ended (a stop makes them end soon). */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.running])
  }

  /** Starts `run`; undefined when an action on the job is still going. */
  start(kind: string, job: string, account: { name: string; role: string }, target: string, run: (signal: AbortSignal) => Promise<string>): Action | undefined {
    if (this.busy(job)) return undefined
    const action: Action = { id: this.next++, kind, job, who: account.name, startedAt: new Date().toISOString(), state: 'running' }
    this.actions.push(action)
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
