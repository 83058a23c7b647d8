import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { RetentionBatches, retentionsIn } from '../../lib/swarm/retention-batch.js'
import { RepositoryWork } from '../../lib/swarm/repository-work.js'
import { RunQueue } from '../../lib/swarm/run-queue.js'
import type { ControllerOptions, ScheduledJob } from '../../lib/swarm/controller-options.js'
import type { SwarmJob } from '../../lib/swarm/discover.js'
import type { Retention } from '../../lib/config/environment.js'
import { runRestic, type Restic } from '../../lib/restic/command.js'
import { urlRepository } from '../../lib/restic/repository.js'
import { snapshotsOfHosts } from '../../lib/restic/snapshots.js'
import { captureLogger } from '../fixtures/log.js'
import { recordingRestic } from '../fixtures/restic-argv.js'

const job = (name: string, repoPath = 'swarm', retention: Retention = { last: 1, prune: false }) =>
  ({ name, service: name, node: { nodeId: `id-${name}`, nodeName: `node-${name}` }, backup: { repoPath, retention, volumes: [] } }) as unknown as SwarmJob

t.test("a run's retention waits while other backups of its repository run or wait, and then runs with theirs, once; another repository's does not wait", async (t) => {
  const { log } = captureLogger()
  const batches: string[][] = []
  const options = {
    log,
    reporter: { rejectedSnapshots: async () => ['recorded-1'] },
    applyRetention: async (repoPath: string, jobs: SwarmJob[], rejected: readonly string[]) => {
      batches.push([repoPath, ...jobs.map((each) => each.name), ...rejected])
      return new Map(jobs.filter((each) => each.name === 'c').map((each) => [each.name, new Error('c failed')]))
    },
  } as unknown as ControllerOptions
  const queue = new RunQueue({ perNode: 1 }, log, () => undefined, true)
  const batchesOf = new RetentionBatches(options, new RepositoryWork(options, () => []), queue)
  const stop = new AbortController()
  const scheduled = (of: SwarmJob) => ({ job: of }) as ScheduledJob
  // b runs on its own node, and d waits for b's node: both back up into a's repository.
  const b = await queue.admit(scheduled(job('b')), job('b'), new Date(), stop.signal)
  const d = queue.admit(scheduled(job('d')), job('b'), new Date(), stop.signal)
  const settled: string[] = []
  const a = batchesOf.retain(job('a'), ['rejected-1']).then(() => void settled.push('a'))
  // Elsewhere, nothing runs: its retention goes ahead.
  await batchesOf.retain(job('x', 'offsite'), [])
  t.same(batches, [['offsite', 'x', 'recorded-1']], "the other repository's retention ran at once, with the verdicts recorded")
  b.release()
  const dTurn = await d
  const c = batchesOf.retain(job('c'), []).catch((error: Error) => void settled.push(error.message))
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.same(settled, [], 'a and c still wait: d backs up into their repository')
  dTurn.release()
  await Promise.all([a, c])
  t.same(batches, [['offsite', 'x', 'recorded-1'], ['swarm', 'a', 'c', 'recorded-1', 'rejected-1']], 'one retention for both once the repository was idle, with the verdicts recorded and those of its runs')
  t.same(settled.sort(), ['a', 'c failed'], "each run gets its own outcome: c's failure is c's alone")
  await batchesOf.retain(job('a'), [])
  t.equal(batches.length, 3, 'a later run makes a batch of its own')
})

t.test('a run without a retention policy (append-only, or no keep-*) is recorded at once, though backups of its repository run', async (t) => {
  const { log } = captureLogger()
  let retentions = 0
  const options = { log, reporter: { rejectedSnapshots: async () => [] }, applyRetention: async () => { retentions++; return new Map() } } as unknown as ControllerOptions
  const queue = new RunQueue({ perNode: 1 }, log, () => undefined, true)
  const stop = new AbortController()
  const b = await queue.admit({ job: job('b') } as ScheduledJob, job('b'), new Date(), stop.signal)
  await new RetentionBatches(options, new RepositoryWork(options, () => []), queue).retain(job('n', 'swarm', { prune: false }), ['rejected-1'])
  t.equal(retentions, 0, 'no retention waited for b, nor ran')
  b.release()
})

t.test('whenIdle gives up waiting after its bound, and as the controller stops', async (t) => {
  const { log } = captureLogger()
  const queue = new RunQueue({ perNode: 1 }, log, () => undefined, true)
  const stop = new AbortController()
  await queue.admit({ job: job('b') } as ScheduledJob, job('b'), new Date(), stop.signal)
  let idle = false
  await queue.whenIdle('swarm', 100).then(() => (idle = true))
  t.ok(idle, 'resolved after 100 ms though b still runs')
  const waiting = queue.whenIdle('swarm', 60_000)
  queue.close()
  await waiting
  t.pass('resolved as the queue closed')
})

t.test("retentionsIn: one restic session for the jobs of a batch, one forget per policy, each job's snapshots kept by its own; the rejected ones forgotten first; a policy that fails fails its jobs alone", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rds-retention-batch-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const { log } = captureLogger()
  const wrapped = await recordingRestic(dir)
  const restic: Restic = { binary: wrapped.binary, repository: urlRepository(join(dir, 'repository'), join(dir, 'password')) }
  await writeFile(join(dir, 'password'), 'test password')
  await runRestic(restic, ['init'], { log })
  const data = join(dir, 'volumes')
  await mkdir(data)
  for (const host of ['a', 'b', 'c', 'd', 'e']) {
    for (let i = 0; i < 3; i++) {
      await writeFile(join(data, 'file'), `${host} ${i}`)
      await runRestic(restic, ['backup', '--host', host, data], { log })
    }
  }
  // a's oldest snapshot is one the guard rejected: kept, it would be a group of its own for keep-last.
  const rejected = (await snapshotsOfHosts(restic, ['a'], log)).sort((x, y) => x.time.localeCompare(y.time))[0]!.id
  const jobs = [job('a'), job('b'), job('c', 'swarm', { last: 2, prune: false }), job('d', 'swarm', { within: 'not-a-duration', prune: false })]
  const failures = await retentionsIn(restic, jobs, [rejected], async () => undefined, log)
  t.same([...failures.keys()], ['d'], "only d's policy failed")
  const left = (await snapshotsOfHosts(restic, ['a', 'b', 'c', 'd', 'e'], log)).reduce<Record<string, number>>((counts, snapshot) => ({ ...counts, [snapshot.hostname]: (counts[snapshot.hostname] ?? 0) + 1 }), {})
  t.same(left, { a: 1, b: 1, c: 2, d: 3, e: 3 }, 'a and b keep 1, c keeps 2, d (failed) and e (not in the batch) keep all')
  const forgets = (await wrapped.recorded()).split('\n').filter((line) => / forget /.test(line))
  t.equal(forgets.length, 4, "a's rejected snapshot, then one forget per policy (a and b together)")
  t.match(forgets[0], new RegExp(`forget ${rejected}$`))
  t.match(forgets.join('\n'), /forget --host a --host b --group-by/, 'a and b in one forget')
  t.equal((await wrapped.recorded()).split('\n').filter((line) => / snapshots /.test(line)).length, 3, 'one listing of the batch (and the two of this test)')
})
