import t from 'tap'
import { longestGapMs, overdueAfterMs } from '../../lib/observe/overdue.js'

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
