import t from 'tap'
import { ExpiringSessions } from '../../lib/console/session-store.js'

const session = (expiresInMs: number) => ({ cookie: { originalMaxAge: expiresInMs, expires: new Date(Date.now() + expiresInMs) } })
const get = (store: ExpiringSessions, id: string) => new Promise((resolve) => store.get(id, (_error, found) => resolve(found)))
const set = (store: ExpiringSessions, id: string, value: ReturnType<typeof session>) => new Promise<void>((resolve) => store.set(id, value, () => resolve()))

t.test('an expired session is never given back, and is forgotten at the next save, whether or not its cookie comes back', async (t) => {
  const store = new ExpiringSessions()
  await set(store, 'gone', session(-1000))
  await set(store, 'live', session(60_000))
  t.equal(await get(store, 'gone'), null)
  t.ok(await get(store, 'live'))
  await set(store, 'abandoned', session(-1))
  await set(store, 'another', session(60_000))
  t.equal(store.size, 2, 'the expired ones are gone from memory')
})

t.test('at most 10,000 sessions are kept: the oldest go first', async (t) => {
  const store = new ExpiringSessions()
  for (let i = 0; i < 10_005; i++) await set(store, `s${i}`, session(60_000))
  t.equal(store.size, 10_000)
  t.equal(await get(store, 's0'), null)
  t.ok(await get(store, 's10004'))
})
