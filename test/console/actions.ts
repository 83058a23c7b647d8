import t from 'tap'
import { Actions } from '../../lib/console/actions.js'
import { AuditLog } from '../../lib/console/audit.js'
import { captureLogger } from '../fixtures/log.js'

const alice = { name: 'alice', role: 'operator' }

t.test('a recovery runs alone; the console waits for every action to end, and its stop reaches them', async (t) => {
  const { log, text } = captureLogger()
  const stop = new AbortController()
  const actions = new Actions(new AuditLog(log), stop.signal)
  let seen: AbortSignal | undefined
  const recovery = actions.start('recover a node', 'node node-2', alice, 'node-2', (signal) => {
    seen = signal
    return new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(new Error('stopped midway'))))
  }, true)
  t.ok(recovery)
  t.ok(actions.busy('web'), 'every job is busy while a recovery goes')
  t.equal(actions.start('restore in place', 'web', alice, 'web', async () => 'done'), undefined)
  t.equal(actions.start('recover a node', 'node node-3', alice, 'node-3', async () => 'done', true), undefined, 'nor a second recovery')
  let settled = false
  const waiting = actions.settled().then(() => void (settled = true))
  await new Promise((resolve) => setImmediate(resolve))
  t.notOk(settled, 'settled waits for the recovery')
  stop.abort()
  await waiting
  t.ok(seen?.aborted)
  t.match(actions.list(), [{ kind: 'recover a node', state: 'failed', message: 'stopped midway' }])
  t.match(text(), /recover a node node-2: started[\s\S]*recover a node node-2: failed: stopped midway/)
  t.ok(actions.start('restore in place', 'web', alice, 'web', async () => 'done'), 'once it has ended, the others may start')
})
