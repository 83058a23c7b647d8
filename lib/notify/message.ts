import type { RunReport } from '../observe/run-report.js'

/**
 * Why a notification is sent: a run failed, a job went without a success for longer than its limit
 * (OVERDUE), a run succeeded after a failure or an OVERDUE spell, or (NOTIFY_ON) succeeded.
 */
export type NotifyEvent = 'failure' | 'overdue' | 'recovery' | 'success'

export interface Notification {
  event: NotifyEvent
  report: RunReport
  /** The agent that sends it: the container's host name. */
  agent: string
}

const WHAT = { backup: 'backup', check: 'repository check', drill: 'restore drill', rehearsal: 'rehearsal of the stack', maintenance: 'server maintenance', prune: 'prune' } as const

export function subjectOf({ event, report }: Notification): string {
  const what = `${WHAT[report.kind]} of ${report.job}`
  if (event === 'failure') return `[rds] FAILED: ${what}`
  if (event === 'overdue') return `[rds] OVERDUE: ${what}`
  if (event === 'recovery') return `[rds] recovered: ${what} succeeded again`
  return `[rds] ${what} succeeded`
}

/** The plain text of a notification: what happened, when, what was saved, and the log's tail. */
export function textOf(notification: Notification): string {
  const { report, agent } = notification
  const { outcome } = report
  const lines = [
    subjectOf(notification),
    '',
    `${outcome.ok ? 'Result' : 'Error'}: ${outcome.message}`,
    `Started: ${outcome.startedAt}; ended: ${outcome.finishedAt} (${outcome.durationSeconds} s)${outcome.exitCode === undefined ? '' : `; exit code ${outcome.exitCode}`}`,
  ]
  if (report.snapshot) lines.push(`Snapshot: ${report.snapshot.id.slice(0, 8)} in ${report.snapshot.repository}${report.snapshots === undefined ? '' : `, ${report.snapshots} snapshots in all`}`)
  lines.push(`Agent: ${agent}`)
  if (report.logTail?.length) lines.push('', 'The end of its log:', ...report.logTail)
  return `${lines.join('\n')}\n`
}

/** The JSON body of a webhook. */
export function jsonOf({ event, report, agent }: Notification): Record<string, unknown> {
  return {
    event,
    kind: report.kind,
    job: report.job,
    agent,
    ...report.outcome,
    snapshot: report.snapshot,
    snapshots: report.snapshots,
    logTail: report.logTail ?? [],
  }
}
