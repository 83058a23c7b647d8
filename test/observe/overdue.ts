import t from 'tap'
import { isOverdue, longestGapMs, overdueAfterMs, overdueAt } from '../../lib/observe/overdue.js'
import { outcomeOf, recordOutcome } from '../../lib/observe/outcome.js'
import type { JobStatus } from '../../lib/observe/status.js'

const HOUR = 3_600_000

t.test("a schedule's longest gap: a day for a daily run, the weekend for weekdays only", async (t) => {
  const monday = new Date('2026-11-23T12:00:00')
  t.equal(longestGapMs('0 3 * * *', monday), 24 * HOUR)
  t.equal(longestGapMs('0 3 * * 1-5', monday), 72 * HOUR)
  t.equal(longestGapMs('*/15 * * * *', monday), 0.25 * HOUR)
})

t.test('OVERDUE_AFTER, when set, wins; else twice the longest gap; no schedule, no limit', async (t) => {
  t.equal(overdueAfterMs('0 3 * * *', undefined), 48 * HOUR)
  t.equal(overdueAfterMs('0 3 * * *', 26 * HOUR), 26 * HOUR)
  t.equal(overdueAfterMs(undefined, undefined), undefined)
  t.equal(overdueAfterMs(undefined, HOUR), HOUR)
})

t.test('a job is OVERDUE when its last success (or the start of watching) is older than its limit', async (t) => {
  const status: JobStatus = { watchedSince: '2026-01-01T00:00:00.000Z' }
  t.equal(overdueAt(status), undefined, 'no limit, never overdue')
  t.notOk(isOverdue(status, new Date('2030-01-01')))
  status.overdueAfterSeconds = 48 * 3600
  t.equal(overdueAt(status)?.toISOString(), '2026-01-03T00:00:00.000Z', 'never succeeded: counted from when it was first seen')
  t.notOk(isOverdue(status, new Date('2026-01-02T23:59:59Z')))
  t.ok(isOverdue(status, new Date('2026-01-03T00:00:00Z')))
  recordOutcome(status, outcomeOf(new Date('2026-01-02T03:00:00Z'), new Date('2026-01-02T03:01:00Z'), true, 'ok'))
  t.equal(overdueAt(status)?.toISOString(), '2026-01-04T03:01:00.000Z', 'a success moves it')
  recordOutcome(status, outcomeOf(new Date('2026-01-03T03:00:00Z'), new Date('2026-01-03T03:01:00Z'), false, 'failed'))
  t.equal(overdueAt(status)?.toISOString(), '2026-01-04T03:01:00.000Z', 'a failure does not')
})
