import { type JobStatus } from './status.js'
import { isOverdue } from './overdue.js'
import { isRunning } from './outcome.js'

/** A job's state in one word, worst first: what needs a person's attention shows. */
export function stateOf(status: JobStatus, now = new Date()): 'LABEL ERROR' | 'OVERDUE' | 'RUNNING' | 'FAILING' | 'OK' | 'WAITING' {
  if (status.error) return 'LABEL ERROR'
  if (isOverdue(status, now)) return 'OVERDUE'
  if (isRunning(status)) return 'RUNNING'
  if (status.lastAttempt && !status.lastAttempt.ok) return 'FAILING'
  return status.lastSuccess ? 'OK' : 'WAITING'
}
