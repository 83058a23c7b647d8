import { Cron } from 'croner'
import type { JobStatus } from './status.js'

/** How many of a schedule's next runs are looked at to find its longest gap. */
const RUNS_LOOKED_AT = 12

/**
 * The longest gap between a schedule's next runs, in ms: for "0 3 * * *" a day, for weekdays only
 * the weekend's three days. Undefined for a schedule that runs fewer than twice more.
 */
export function longestGapMs(schedule: string, from = new Date()): number | undefined {
  const runs = new Cron(schedule, { paused: true }).nextRuns(RUNS_LOOKED_AT, from)
  let longest: number | undefined
  for (let i = 1; i < runs.length; i++) longest = Math.max(longest ?? 0, runs[i]!.getTime() - runs[i - 1]!.getTime())
  return longest
}

/**
 * How long after its last success a job is OVERDUE: OVERDUE_AFTER when set, else twice the longest
 * gap of its schedule, so that one failed run is reported but not yet overdue, and two in a row are.
 */
export function overdueAfterMs(schedule: string | undefined, configuredMs: number | undefined): number | undefined {
  if (configuredMs !== undefined) return configuredMs
  if (schedule === undefined) return undefined
  const gap = longestGapMs(schedule)
  return gap === undefined ? undefined : 2 * gap
}

/** The moment the job becomes OVERDUE, if it has a limit. */
export function overdueAt(status: JobStatus): Date | undefined {
  if (status.overdueAfterSeconds === undefined) return undefined
  const since = Date.parse(status.lastSuccess?.finishedAt ?? status.watchedSince)
  return new Date(since + status.overdueAfterSeconds * 1000)
}

export const isOverdue = (status: JobStatus, now = new Date()) => (overdueAt(status)?.getTime() ?? Infinity) <= now.getTime()
