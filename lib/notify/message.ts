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

const WHAT = { backup: 'backup', check: 'repository check', drill: 'restore drill', rehearsal: 'rehearsal of the stack', maintenance: 'server maintenance', prune: 'prune', copy: 'copy' } as const

export function subjectOf({ event, report }: Notification): string {
  const what = `${WHAT[report.kind]} of ${report.job}${report.copied ? ` into ${report.copied.destination}` : ''}`
  if (event === 'failure') return `[rds] FAILED: ${what}`
  if (event === 'overdue') return `[rds] OVERDUE: ${what}`
  if (event === 'recovery') return `[rds] recovered: ${what} succeeded again`
  return `[rds] ${what} succeeded`
}

/** A failure or an OVERDUE job: what push services show loudly; a recovery or a success is quiet. */
export const isAlarm = ({ event }: Notification) => event === 'failure' || event === 'overdue'

/**
 * The plain text of a notification: what happened, when, what was saved, and the log's tail.
 * `subject: false` leaves out the subject (for services that show it as a title); `maxChars` and
 * `maxBytes` (UTF-8) fit it to a service's limit by dropping the oldest lines of the log's tail
 * first (its last lines say why).
 */
export function textOf(notification: Notification, { subject = true, maxChars = Infinity, maxBytes = Infinity }: { subject?: boolean; maxChars?: number; maxBytes?: number } = {}): string {
  const { report, agent } = notification
  const { outcome } = report
  const head = [
    `${outcome.ok ? 'Result' : 'Error'}: ${outcome.message}`,
    `Started: ${outcome.startedAt}; ended: ${outcome.finishedAt} (${outcome.durationSeconds} s)${outcome.exitCode === undefined ? '' : `; exit code ${outcome.exitCode}`}`,
  ]
  if (subject) head.unshift(subjectOf(notification), '')
  if (report.snapshot) head.push(`Snapshot: ${report.snapshot.id.slice(0, 8)} in ${report.snapshot.repository}${report.snapshots === undefined ? '' : `, ${report.snapshots} snapshots in all`}`)
  head.push(`Agent: ${agent}`)
  const tail = [...(report.logTail ?? [])]
  const text = () => `${[...head, ...(tail.length ? ['', 'The end of its log:', ...tail] : [])].join('\n')}\n`
  const fits = (candidate: string) => candidate.length <= maxChars && Buffer.byteLength(candidate) <= maxBytes
  while (tail.length > 0 && !fits(text())) tail.shift()
  let fitted = text()
  // No log left to drop: the message itself is cut.
  while (!fits(fitted)) fitted = `${fitted.slice(0, Math.max(0, Math.min(fitted.length, maxChars) - 100)).trimEnd()}…\n`
  return fitted
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
    ...(report.copied ? { copied: report.copied } : {}),
    logTail: report.logTail ?? [],
  }
}
