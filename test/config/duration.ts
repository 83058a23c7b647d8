import t from 'tap'
import { describeDuration, goDurationMs } from '../../lib/config/duration.js'

t.test('durations in words, for messages', async (t) => {
  t.equal(describeDuration(3_600_000), '1 h')
  t.equal(describeDuration(5_400_000), '1 h 30 min')
  t.equal(describeDuration(90_000), '1 min 30 s')
  t.equal(describeDuration(15_000), '15 s')
  t.equal(describeDuration(1500), '1 s')
  t.equal(describeDuration(250), '250 ms')
})

t.test("restic's --retry-lock durations", async (t) => {
  t.equal(goDurationMs('5m'), 300_000)
  t.equal(goDurationMs('1h30m'), 5_400_000)
  t.equal(goDurationMs('2.5s'), 2500)
  t.equal(goDurationMs('500ms'), 500)
})
