import t from 'tap'
import { RunQueue, type Admission } from '../../lib/swarm/run-queue.js'
import { readRunLimits, type RunLimits } from '../../lib/config/run-limits.js'
import type { ScheduledJob } from '../../lib/swarm/controller-options.js'
import type { SwarmJob } from '../../lib/swarm/discover.js'
import { captureLogger } from '../fixtures/log.js'

const jobOf = (name: string, node: string | undefined, repoPath = 'swarm') => ({ name, service: name, node: node && { nodeId: `id-${node}`, nodeName: node }, backup: { repoPath } }) as unknown as SwarmJob
const scheduled = (name: string, node: string | undefined, repoPath = 'swarm'): ScheduledJob => ({ job: jobOf(name, node, repoPath) })

/** A queue on a clock the test sets (or the real one shifted); `admitted` lists the runs let start, in order. */
function queueOf(limits: RunLimits, now: () => Date, windowApplies = true) {
  const { log, text } = captureLogger()
  const queue = new RunQueue(limits, log, () => undefined, windowApplies, now)
  t.teardown(() => queue.close())
  const admitted: string[] = []
  const outcomes = new Map<string, Admission>()
  const enqueue = (job: ScheduledJob, signal = new AbortController().signal, where = job.job) =>
    queue.admit(job, where, now(), signal).then((admission) => {
      outcomes.set(job.job.name, admission)
      if (!admission.refused && !admission.stopped) admitted.push(job.job.name)
      return admission
    })
  return { queue, admitted, outcomes, enqueue, log: text }
}
const at = (hour: number, minute = 0, day = 6) => () => new Date(2026, 11, day, hour, minute)
const settle = () => new Promise((resolve) => setImmediate(resolve))
const until = async (what: string, check: () => boolean) => {
  for (let i = 0; i < 100 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 50))
  if (!check()) throw new Error(`timed out waiting for ${what}`)
}

t.test('MAX_JOBS_PER_NODE: runs on a busy node wait in the order they came, and hold back no other node', async (t) => {
  const { admitted, outcomes, enqueue, log } = queueOf({ perNode: 1 }, at(3))
  const jobs = [scheduled('a', 'n1'), scheduled('b', 'n1'), scheduled('c', 'n2'), scheduled('d', 'n1')]
  for (const job of jobs) void enqueue(job)
  await settle()
  t.same(admitted, ['a', 'c'])
  t.equal(jobs[1]!.queued, 'queued since 03:00:00: node n1 runs a (MAX_JOBS_PER_NODE=1)')
  t.match(log(), /controller: d: queued since 03:00:00: node n1 runs a \(MAX_JOBS_PER_NODE=1\)/)
  t.equal(outcomes.get('a')!.waited, false)
  outcomes.get('a')!.release()
  outcomes.get('a')!.release()
  await settle()
  t.same(admitted, ['a', 'c', 'b'], 'b, then d: a release twice frees one turn')
  t.equal(outcomes.get('b')!.waited, true)
  t.equal(jobs[1]!.queued, undefined)
  t.equal(jobs[3]!.queued, 'queued since 03:00:00: node n1 runs b (MAX_JOBS_PER_NODE=1)')
  outcomes.get('b')!.release()
  await settle()
  t.same(admitted, ['a', 'c', 'b', 'd'])
})

t.test('MAX_JOBS_PER_REPOSITORY: runs into a busy repository wait; a run due earlier on a node or repository is not overtaken there', async (t) => {
  const { admitted, outcomes, enqueue } = queueOf({ perNode: 1, perRepository: 1 }, at(3))
  const b = scheduled('b', 'n1', 'shared')
  const c = scheduled('c', 'n1', 'other')
  for (const job of [scheduled('a', 'n2', 'shared'), b, c, scheduled('d', 'n3', 'third')]) void enqueue(job)
  await settle()
  t.same(admitted, ['a', 'd'], 'c would find n1 and its repository free, but b was due first on n1')
  t.equal(b.queued, 'queued since 03:00:00: its repository shared takes a (MAX_JOBS_PER_REPOSITORY=1)')
  t.equal(c.queued, 'queued since 03:00:00: a run due before it on node n1 goes first')
  outcomes.get('a')!.release()
  await settle()
  t.same(admitted, ['a', 'd', 'b'])
  outcomes.get('b')!.release()
  await settle()
  t.same(admitted, ['a', 'd', 'b', 'c'])
})

t.test('a run due earlier holds one turn of what it waits for, not all: with room for two, a later run takes the other', async (t) => {
  const { admitted, enqueue } = queueOf({ perNode: 1, perRepository: 2 }, at(3))
  const blocked = scheduled('blocked', 'n1', 'shared')
  for (const job of [scheduled('a', 'n1', 'other'), blocked, scheduled('b', 'n2', 'shared')]) void enqueue(job)
  await settle()
  t.same(admitted, ['a', 'b'], 'b into the shared repository beside the turn blocked holds there')
  t.equal(blocked.queued, 'queued since 03:00:00: node n1 runs a (MAX_JOBS_PER_NODE=1)')
})

t.test('once closed (the controller stopping) nothing starts; the waiting runs are stopped by their signals', async (t) => {
  const { queue, admitted, outcomes, enqueue } = queueOf({ perNode: 1 }, at(3))
  const stop = new AbortController()
  void enqueue(scheduled('a', 'n1'), stop.signal)
  void enqueue(scheduled('b', 'n1'), stop.signal)
  await settle()
  queue.close()
  outcomes.get('a')!.release()
  await settle()
  t.same(admitted, ['a'], 'b did not start on a\'s release')
  stop.abort()
  await settle()
  t.match(outcomes.get('b'), { stopped: /^stopped while it waited for its turn/ })
})

t.test('a job rds stopped keeps its node\'s turn for the grace Docker gives it', async (t) => {
  const { admitted, outcomes, enqueue } = queueOf({ perNode: 1 }, at(3))
  void enqueue(scheduled('a', 'n1'))
  void enqueue(scheduled('b', 'n1'))
  await settle()
  outcomes.get('a')!.release(300)
  await settle()
  t.same(admitted, ['a'], 'not yet')
  await until('b to start', () => admitted.length === 2)
  t.same(admitted, ['a', 'b'])
})

t.test('BACKUP_WINDOW, on the clock: a run due outside it starts when it opens; one still waiting at its end is refused with a sentence', async (t) => {
  const window = readRunLimits({ BACKUP_WINDOW: '01:00-06:00' }, 'swarm').window!
  // Real time, shifted to just before the window opens: the queue's own timer must start it.
  const shifted = (to: Date) => {
    const offset = to.getTime() - Date.now()
    return () => new Date(Date.now() + offset)
  }
  const opening = queueOf({ perNode: 1, window }, shifted(new Date(2026, 11, 6, 0, 59, 59, 700)))
  const early = scheduled('early', 'n1')
  void opening.enqueue(early)
  await settle()
  t.same(opening.admitted, [])
  t.equal(early.queued, 'queued since 00:59:59: BACKUP_WINDOW 01:00-06:00 is closed')
  await until('the window to open', () => opening.admitted.length === 1)

  const closing = queueOf({ perNode: 1, window }, shifted(new Date(2026, 11, 6, 5, 59, 59, 700)))
  void closing.enqueue(scheduled('busy', 'n1'))
  const late = scheduled('late', 'n1')
  void closing.enqueue(late)
  await until('the window to close', () => closing.outcomes.has('late'))
  t.equal(closing.outcomes.get('late')!.refused, 'could not start within BACKUP_WINDOW 01:00-06:00: it was due at 05:59:59, and node n1 runs busy (MAX_JOBS_PER_NODE=1); start it by hand with rds backup --service late, or widen the window or the limits')
  t.equal(late.queued, undefined)
})

t.test('a run asked for by hand ignores the window; a run waiting when the controller stops (or its job is dropped) is stopped, not refused', async (t) => {
  const window = readRunLimits({ BACKUP_WINDOW: '22:00-05:00' }, 'swarm').window!
  const byHand = queueOf({ perNode: 1, window }, at(12), false)
  void byHand.enqueue(scheduled('a', 'n1'))
  await settle()
  t.same(byHand.admitted, ['a'])

  const { admitted, outcomes, enqueue } = queueOf({ perNode: 1 }, at(3))
  const stop = new AbortController()
  void enqueue(scheduled('a', 'n1'))
  void enqueue(scheduled('b', 'n1'), stop.signal)
  void enqueue(scheduled('c', 'n1'))
  await settle()
  stop.abort()
  await settle()
  t.same(outcomes.get('b'), { stopped: 'stopped while it waited for its turn (queued since 03:00:00)', waited: true, release: outcomes.get('b')!.release })
  outcomes.get('a')!.release()
  await settle()
  t.same(admitted, ['a', 'c'], 'b left the queue; its place went to c')
})

t.test('a run whose task moved while it waited is let start on its new node, keeping its place', async (t) => {
  const { queue, admitted, outcomes, enqueue } = queueOf({ perNode: 1 }, at(3))
  const moving = scheduled('moving', 'n1')
  void enqueue(scheduled('a', 'n1'))
  void enqueue(scheduled('b', 'n2'))
  void enqueue(moving)
  void enqueue(scheduled('c', 'n2'))
  await settle()
  t.same(admitted, ['a', 'b'])
  outcomes.get('a')!.release()
  await settle()
  t.same(admitted, ['a', 'b', 'moving'])
  // As swarm-run does: it waited, its task is on n2 now: its turn on n1 goes back, and it asks n2's,
  // due as it was (here a minute before c: on this test's clock all four came at one instant).
  outcomes.get('moving')!.release()
  void queue.admit(moving, jobOf('moving', 'n2'), new Date(2026, 11, 6, 2, 59), new AbortController().signal).then((admission) => outcomes.set('moving@n2', admission))
  await settle()
  t.equal(moving.queued, 'queued since 02:59:00: node n2 runs b (MAX_JOBS_PER_NODE=1)')
  outcomes.get('b')!.release()
  await settle()
  t.ok(outcomes.has('moving@n2') && !outcomes.has('c'), 'it goes before c, which came after it')
})

t.test('the limits are read, and refused where they do not apply', async (t) => {
  t.same(readRunLimits({}, 'swarm'), { perNode: 1, perRepository: undefined, window: undefined })
  t.same(readRunLimits({ MAX_JOBS_PER_NODE: '2', MAX_JOBS_PER_REPOSITORY: '3', BACKUP_WINDOW: '22:30-05:00' }, 'swarm'), { perNode: 2, perRepository: 3, window: { text: '22:30-05:00', start: 1350, end: 300 } })
  const cases: [Record<string, string>, string, RegExp][] = [
    [{ MAX_JOBS_PER_NODE: '0' }, 'swarm', /^MAX_JOBS_PER_NODE must be a whole number of jobs from 1 to 1000, not "0"\.$/],
    [{ MAX_JOBS_PER_REPOSITORY: 'many' }, 'swarm', /^MAX_JOBS_PER_REPOSITORY must be a whole number/],
    [{ BACKUP_WINDOW: '1-6' }, 'swarm', /^BACKUP_WINDOW must be two times of day such as "01:00-06:00"/],
    [{ BACKUP_WINDOW: '03:00-03:00' }, 'swarm', /^BACKUP_WINDOW "03:00-03:00" starts when it ends/],
    [{ MAX_JOBS_PER_NODE: '2' }, 'service', /^MAX_JOBS_PER_NODE is set but MODE is not swarm/],
  ]
  for (const [env, mode, expected] of cases) t.throws(() => readRunLimits(env, mode), { name: 'ConfigError', message: expected })
})
