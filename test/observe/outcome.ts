import t from 'tap'
import { execa } from 'execa'
import type { JobStatus } from '../../lib/observe/status.js'
import { isRunning, outcomeOf, recordOutcome } from '../../lib/observe/outcome.js'

t.test('outcomes: the last success outlives failures, which are counted in a row', async (t) => {
  const status: JobStatus = { watchedSince: '2026-01-01T00:00:00.000Z', running: { since: 'x', pid: 1 } }
  const at = (iso: string) => new Date(iso)
  recordOutcome(status, outcomeOf(at('2026-01-01T03:00:00Z'), at('2026-01-01T03:00:12.34Z'), true, 'backed up', 0))
  t.same(status.lastSuccess, { startedAt: '2026-01-01T03:00:00.000Z', finishedAt: '2026-01-01T03:00:12.340Z', ok: true, exitCode: 0, message: 'backed up', durationSeconds: 12.3 })
  t.notOk(status.running)
  recordOutcome(status, outcomeOf(at('2026-01-02T03:00:00Z'), at('2026-01-02T03:00:01Z'), false, 'server gone', 1))
  recordOutcome(status, outcomeOf(at('2026-01-03T03:00:00Z'), at('2026-01-03T03:00:01Z'), false, 'server gone', 1))
  t.equal(status.failuresInARow, 2)
  t.equal(status.lastSuccess?.finishedAt, '2026-01-01T03:00:12.340Z')
  t.equal(status.lastAttempt?.message, 'server gone')
})

t.test('a run recorded as going is going only while its process lives', async (t) => {
  const child = execa('sleep', ['30'])
  t.ok(isRunning({ watchedSince: '', running: { since: '', pid: child.pid! } }))
  child.kill('SIGKILL')
  await child.catch(() => undefined)
  t.notOk(isRunning({ watchedSince: '', running: { since: '', pid: child.pid! } }), 'a killed run is not taken for a running one')
  t.notOk(isRunning({ watchedSince: '' }))
})
