// Per-node jobs found again in a real restic repository on this machine's disk: the nodes whose
// host has an accepted snapshot, never a node with only rejected ones, a job already there, a node
// gone from the Swarm or a job forgotten with rds jobs --forget.
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import type { SwarmNode, SwarmService } from '../../lib/swarm/cluster.js'
import { discoverJobs } from '../../lib/swarm/discover.js'
import { KeptNodeFinder } from '../../lib/swarm/kept-nodes.js'
import type { ControllerOptions } from '../../lib/swarm/controller-options.js'
import { Reporter } from '../../lib/observe/reporter.js'
import { updateStatus } from '../../lib/observe/status-file.js'
import { runRestic, type Restic } from '../../lib/restic/command.js'
import { urlRepository } from '../../lib/restic/repository.js'
import { snapshotsOfHosts } from '../../lib/restic/snapshots.js'
import { captureLogger } from '../fixtures/log.js'

const defaults = { runAt: '0 3 * * *', retention: { prune: false }, repoPath: 'swarm', maxRunTime: 86_400_000 }
const node = (name: string): SwarmNode => ({ id: `id-${name}`, name, state: 'ready', availability: 'active' })
// A global service that runs on n1 only now.
const cache: SwarmService = { id: 'id-cache', name: 'app_cache', serviceLabels: { 'rds.backup': 'true' }, containerLabels: {}, volumes: ['app_data'], global: true, perNode: true, tasks: [{ nodeId: 'id-n1', nodeName: 'n1' }] }

t.test('the nodes a per-node service left are found in its repository, once, and only those with an accepted snapshot', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rds-kept-'))
  t.teardown(() => rm(dir, { recursive: true }))
  const { log, text } = captureLogger()
  const restic: Restic = { binary: 'restic', repository: urlRepository(join(dir, 'repository'), join(dir, 'password')) }
  await writeFile(join(dir, 'password'), 'test password')
  await runRestic(restic, ['init'], { log })
  await writeFile(join(dir, 'file'), 'data')
  // n1 runs it now; n2 and n3 ran it; n4 ran it but only its rejected snapshot is there; n5 is gone from the Swarm.
  for (const host of ['app_cache@n1', 'app_cache@n2', 'app_cache@n3', 'app_cache@n4', 'app_cache@n5']) await runRestic(restic, ['backup', '--host', host, join(dir, 'file')], { log })
  const rejected = (await snapshotsOfHosts(restic, ['app_cache@n4'], log)).map((snapshot) => snapshot.id)
  const statusFile = join(dir, 'status.json')
  const reporter = new Reporter({ statusFile, log })
  await updateStatus(statusFile, (table) => void ((table.rejectedSnapshots = rejected), (table.forgottenJobs = ['app_cache@n3'])))
  const lookedUp: string[][] = []
  const stop = new AbortController()
  const options = {
    defaults,
    reporter,
    log,
    stop: stop.signal,
    snapshotsOfHosts: async (_repoPath: string, hosts: string[], signal: AbortSignal) => {
      lookedUp.push(hosts)
      return { snapshots: await snapshotsOfHosts({ ...restic, signal }, hosts, log), repository: 'the repository' }
    },
  } as unknown as ControllerOptions
  let rediscovered: Promise<void> | undefined
  const finder = new KeptNodeFinder(options, (keep) => void (rediscovered = keep()))
  const nodes = ['n1', 'n2', 'n3', 'n4'].map(node)
  const found = discoverJobs([cache], defaults, nodes)
  finder.notice([cache], nodes, found)
  for (let i = 0; i < 300 && !rediscovered; i++) await new Promise((resolve) => setTimeout(resolve, 100))
  await rediscovered
  t.same(lookedUp, [['app_cache@n2', 'app_cache@n3', 'app_cache@n4']], 'one lookup of the nodes in the Swarm without a job')
  t.same((await reporter.keptNodes()).map((kept) => kept.nodeId), ['id-n2'], 'n2 is kept: n3 was forgotten, n4 holds only a rejected snapshot')
  t.match(text(), /WARN\s+controller: app_cache@n2: its task is gone, but its snapshots are in the repository/)
  finder.notice([cache], nodes, found)
  t.equal(lookedUp.length, 1, 'not looked up again while the service stays per-node')
})

t.test('a repository that cannot be read is said, and looked up again only after a while', async (t) => {
  const { log, text } = captureLogger()
  let calls = 0
  const options = {
    defaults,
    reporter: new Reporter({ statusFile: join(tmpdir(), `rds-kept-unused-${process.pid}.json`), log }),
    log,
    stop: new AbortController().signal,
    snapshotsOfHosts: async () => {
      calls++
      throw new Error('ssh: connect to host backup-server port 22: Connection refused')
    },
  } as unknown as ControllerOptions
  const finder = new KeptNodeFinder(options, () => t.fail('nothing to keep'))
  const nodes = ['n1', 'n2'].map(node)
  finder.notice([cache], nodes, discoverJobs([cache], defaults, nodes))
  for (let i = 0; i < 100 && !/could not look up/.test(text()); i++) await new Promise((resolve) => setTimeout(resolve, 50))
  t.match(text(), /WARN\s+controller: could not look up the per-node jobs of app_cache in their repository \(ssh: connect to host backup-server port 22: Connection refused\); trying again in 5 minutes/)
  finder.notice([cache], nodes, discoverJobs([cache], defaults, nodes))
  t.equal(calls, 1, 'not at every discovery')
})
