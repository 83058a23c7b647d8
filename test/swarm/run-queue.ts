import t from 'tap'
import { RunQueue, type Admission } from '../../lib/swarm/run-queue.js'
import { readRunLimits, type RunLimits } from '../../lib/config/run-limits.js'
import type { ScheduledJob } from '../../lib/swarm/controller-options.js'
import { captureLogger } from '../fixtures/log.js'

const scheduled = (name: string, node: string | undefined, repoPath = 'swarm'): ScheduledJob =>
  ({ job: { name, service: name, node: node && { nodeId: `id-${node}`, nodeName: node }, backup: { repoPath } } }) as unknown as ScheduledJob

/** A queue on a clock the test sets; `admitted` lists the runs let start, in order. */
function queueOf(limits: RunLimits, at = new Date(2026, 11, 6, 3, 0), windowApplies = true) {
  const clock = { now: at }
  const { log, text } = captureLogger()
  const queue = new RunQueue(limits, log, () => undefined, windowApplies, () => clock.now)
  const admitted: string[] = []
  const outcomes = new Map<string, Admission>()
  const enqueue = (job: ScheduledJob, signal = new AbortController().signal) =>
    queue.admit(job, signal).then((admission) => {
      outcomes.set(job.job.name, admission)
      if (!admission.refused) admitted.push(job.job.name)
      return admission
    })
  return { queue, clock, admitted, outcomes, enqueue, log: text }
}
const settle = () => new Promise((resolve) => setImmediate(resolve))

t.test('MAX_JOBS_PER_NODE: runs on a busy node wait in the order they came, and hold back no other node', async (t) => {
  const { admitted, outcomes, enqueue, log } = queueOf({ perNode: 1 })
  const jobs = [scheduled('a', 'n1'), scheduled('b', 'n1'), scheduled('c', 'n2'), scheduled('d', 'n1')]
  for (const job of jobs) void enqueue(job)
  await settle()
  t.same(admitted, ['a', 'c'])
  t.equal(jobs[1]!.queued, 'queued since 03:00:00: node n1 runs a (MAX_JOBS_PER_NODE=1)')
  t.match(log(), /controller: d: queued since 03:00:00: node n1 runs a \(MAX_JOBS_PER_NODE=1\)/)
  outcomes.get('a')!.release()
  outcomes.get('a')!.release()
  await settle()
  t.same(admitted, ['a', 'c', 'b'], 'b, then d: a release twice frees one turn')
  t.equal(jobs[1]!.queued, undefined)
  t.equal(jobs[3]!.queued, 'queued since 03:00:00: node n1 runs b (MAX_JOBS_PER_NODE=1)')
  outcomes.get('b')!.release()
  await settle()
  t.same(admitted, ['a', 'c', 'b', 'd'])
})

t.test('MAX_JOBS_PER_REPOSITORY: runs into a busy repository wait, whatever their node', async (t) => {
  const { admitted, enqueue } = queueOf({ perNode: 5, perRepository: 1 })
  const b = scheduled('b', 'n2', 'shared')
  for (const job of [scheduled('a', 'n1', 'shared'), b, scheduled('c', 'n3', 'other')]) void enqueue(job)
  await settle()
  t.same(admitted, ['a', 'c'])
  t.equal(b.queued, 'queued since 03:00:00: its repository shared takes a (MAX_JOBS_PER_REPOSITORY=1)')
})

t.test('BACKUP_WINDOW: a run due outside it waits for it to open; one still waiting at its end is refused with a sentence', async (t) => {
  const window = readRunLimits({ MAX_JOBS_PER_NODE: '1', BACKUP_WINDOW: '01:00-06:00' }, 'swarm').window!
  const { queue, clock, admitted, outcomes, enqueue } = queueOf({ perNode: 1, window }, new Date(2026, 11, 6, 7, 0))
  const early = scheduled('early', 'n1')
  void enqueue(early)
  await settle()
  t.same(admitted, [])
  t.equal(early.queued, 'queued since 07:00:00: BACKUP_WINDOW 01:00-06:00 is closed')
  clock.now = new Date(2026, 11, 7, 1, 0)
  queue.pump()
  await settle()
  t.same(admitted, ['early'], 'started once the window opened')

  clock.now = new Date(2026, 11, 7, 5, 59)
  const late = scheduled('late', 'n1')
  void enqueue(late)
  await settle()
  clock.now = new Date(2026, 11, 7, 6, 0, 1)
  queue.pump()
  await settle()
  t.equal(outcomes.get('late')!.refused, 'could not start within BACKUP_WINDOW 01:00-06:00: it was due at 05:59:00, and node n1 runs early (MAX_JOBS_PER_NODE=1) until the window ended; start it by hand with rds backup --service late, or widen the window or the limits')
  t.equal(late.queued, undefined)
})

t.test('a run asked for by hand ignores the window; a run waiting when the controller stops is refused', async (t) => {
  const window = readRunLimits({ BACKUP_WINDOW: '22:00-05:00' }, 'swarm').window!
  const byHand = queueOf({ perNode: 1, window }, new Date(2026, 11, 6, 12, 0), false)
  void byHand.enqueue(scheduled('a', 'n1'))
  await settle()
  t.same(byHand.admitted, ['a'])

  const { admitted, outcomes, enqueue } = queueOf({ perNode: 1 })
  const stop = new AbortController()
  void enqueue(scheduled('a', 'n1'), stop.signal)
  void enqueue(scheduled('b', 'n1'), stop.signal)
  await settle()
  stop.abort()
  await settle()
  t.same(admitted, ['a'])
  t.equal(outcomes.get('b')!.refused, 'the controller stopped while it waited to start (queued since 03:00:00)')
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
