import t from 'tap'
import { nameNodes, type SwarmNode, type SwarmService } from '../../lib/swarm/cluster.js'
import { awaitingTasks, discoverJobs } from '../../lib/swarm/discover.js'
import { spreadSchedule } from '../../lib/config/spread-schedule.js'

const defaults = { runAt: '0 3 * * *', retention: { prune: false }, repoPath: 'swarm', maxRunTime: 86_400_000 }
const service = (name: string, labels: Record<string, string>, nodes: string[], perNode = nodes.length > 1): SwarmService => ({
  id: `id-${name}`,
  name,
  stack: 'app',
  serviceLabels: labels,
  containerLabels: {},
  volumes: ['app_data'],
  pinned: !perNode,
  perNode,
  tasks: nodes.map((node) => ({ nodeId: `id-${node}`, nodeName: node })),
})
const node = (name: string, state = 'ready', availability = 'active'): SwarmNode => ({ id: `id-${name}`, name, state, availability })
const nodes = [node('n1'), node('n2'), node('n3')]

t.test('a job per labelled service, named after it, on the node of its task; unlabelled services are not jobs', async (t) => {
  const jobs = discoverJobs([service('app_web', {}, ['n1']), service('app_db', { 'rds.backup': 'true' }, ['n2', 'n2'])], defaults)
  t.equal(jobs.length, 1)
  t.match(jobs[0], { name: 'app_db', service: 'app_db', node: { nodeId: 'id-n2', nodeName: 'n2' }, backup: { volumes: [{ name: 'data' }] } })
})

t.test('tasks on several nodes: one job per node, each with its own snapshot host', async (t) => {
  const jobs = discoverJobs([service('app_cache', { 'rds.backup': 'true' }, ['n3', 'n1'])], defaults)
  t.same(jobs.map((job) => [job.name, job.node?.nodeName]), [['app_cache@n1', 'n1'], ['app_cache@n3', 'n3']])
})

t.test('no running task: a job with no node, still listed', async (t) => {
  const [job] = discoverJobs([service('app_db', { 'rds.backup': 'true' }, [])], defaults)
  t.equal(job?.node, undefined)
  t.ok(job?.backup)
})

t.test('a bad label makes a job with an error; the other services are still jobs', async (t) => {
  const jobs = discoverJobs([service('app_bad', { 'rds.backup': 'true', 'rds.backup.keep-daily': 'x' }, ['n1']), service('app_db', { 'rds.backup': 'true' }, ['n1'])], defaults)
  t.same(
    jobs.map((job) => [job.name, job.error ?? 'ok']),
    [
      ['app_bad', 'service app_bad: label rds.backup.keep-daily must be a whole number of snapshots to keep (or -1 for all), not "x".'],
      ['app_db', 'ok'],
    ],
  )
})

t.test('rds.backup.stop=scale on a service whose tasks may run on several nodes is an error: one job cannot stop another node\'s', async (t) => {
  const [job, ...others] = discoverJobs([service('app_cache', { 'rds.backup': 'true', 'rds.backup.stop': 'scale' }, ['n3', 'n1'])], defaults)
  t.same(others, [])
  t.match(job, { name: 'app_cache', error: /^service app_cache: label rds\.backup\.stop=scale .*use rds\.backup\.stop=pause\.$/ })
  const shared = { ...service('app_nfs', { 'rds.backup': 'true', 'rds.backup.stop': 'scale' }, ['n3', 'n1']), sharedVolumes: ['app_data'] }
  t.match(discoverJobs([shared], defaults), [{ name: 'app_nfs', error: /stops every task, but its tasks may run on several nodes, each backed up by a job of its own/ }], 'also with shared volumes')
  const oneNodeSwarm = { ...service('app_two', { 'rds.backup': 'true', 'rds.backup.stop': 'scale' }, ['n1', 'n1'], true), pinned: true }
  t.match(discoverJobs([oneNodeSwarm], defaults, [node('n1')]), [{ name: 'app_two@n1', backup: { stop: 'scale' } }], 'on a Swarm of one node, replicas may be scaled')
  t.match(discoverJobs([service('app_one', { 'rds.backup': 'true', 'rds.backup.stop': 'scale' }, ['n1', 'n1'], false)], defaults), [{ name: 'app_one', backup: { stop: 'scale' } }], 'two replicas pinned to one node are fine')
})

t.test('a per-node service keeps its per-node name with one task left, and its job of a node it left data on', async (t) => {
  const labels = { 'rds.backup': 'true' }
  const jobs = discoverJobs([service('app_cache', labels, ['n1'], true)], defaults, nodes, [{ service: 'app_cache', nodeId: 'id-n3' }, { service: 'app_other', nodeId: 'id-n2' }])
  t.same(
    jobs.map((job) => [job.name, job.node?.nodeId, job.unavailable ?? 'runs']),
    [
      ['app_cache@n1', 'id-n1', 'runs'],
      ['app_cache@n3', 'id-n3', 'service app_cache has no running task on node n3, so its data there is not backed up; start it there again, or end the job with rds jobs --forget app_cache@n3.'],
    ],
    'never renamed to app_cache, and n3 is not silently dropped',
  )
  const drained = discoverJobs([service('app_cache', labels, ['n1'], true)], defaults, [node('n1'), node('n3', 'ready', 'drain')], [{ service: 'app_cache', nodeId: 'id-n3' }])
  t.match(drained[1]?.unavailable, /on node n3 \(the node's availability is drain\)/)
  const removed = discoverJobs([service('app_cache', labels, ['n1'], true)], defaults, [node('n1')], [{ service: 'app_cache', nodeId: 'id-n3' }])
  t.same(removed.map((job) => job.name), ['app_cache@n1'], 'a node removed from the Swarm takes its job with it')
})

t.test('a per-node service stopped on a node by an in-place restore keeps that job, though nothing was saved there, says why it cannot run, and carries its mark', async (t) => {
  const labels = { 'rds.backup': 'true', 'rds.stopped-on.id-n2': 'restore', 'rds.restoring.id-n2': 'snapshot abc' }
  const jobs = discoverJobs([service('app_cache', labels, ['n1', 'n3'])], defaults, nodes)
  t.same(jobs.map((job) => job.name), ['app_cache@n1', 'app_cache@n2', 'app_cache@n3'])
  t.match(jobs[1], { node: { nodeId: 'id-n2', nodeName: 'n2' }, taskGone: true, restoring: 'snapshot abc', unavailable: /^service app_cache is stopped on node n2 by an in-place restore of its volumes there \(rds\.stopped-on\.id-n2\)/ })
  t.same([jobs[0]?.restoring, jobs[0]?.unavailable], [undefined, undefined], 'its other nodes run on, unmarked')
})

t.test('a per-node service running nowhere yet is one job with no node, awaited; so is one whose tasks are still starting, and one a restore that ended left stopped on a node', async (t) => {
  const labels = { 'rds.backup': 'true' }
  const created = { ...service('app_cache', labels, [], true), starting: 3 }
  const jobs = discoverJobs([created], defaults, nodes)
  t.match(jobs, [{ name: 'app_cache', service: 'app_cache', node: undefined, backup: {} }])
  t.notOk(jobs[0]?.perNode, 'not a job of one node')
  t.ok(awaitingTasks([created], jobs))
  const half = { ...service('app_cache', labels, ['n1'], true), starting: 2 }
  t.ok(awaitingTasks([half], discoverJobs([half], defaults, nodes)), 'two of its tasks still start')
  const all = service('app_cache', labels, ['n1', 'n2'])
  t.notOk(awaitingTasks([all], discoverJobs([all], defaults, nodes)), 'every task runs')
  const unlabelled = { ...service('app_other', {}, [], true), starting: 1 }
  t.notOk(awaitingTasks([unlabelled], discoverJobs([unlabelled], defaults, nodes)), 'nobody waits for an unlabelled one')
  const stopped = service('app_cache', { ...labels, 'rds.stopped-on.id-n2': 'restore' }, ['n1', 'n3'])
  t.ok(awaitingTasks([stopped], discoverJobs([stopped], defaults, nodes)), 'a stop of a restore that no longer runs waits to be lifted')
  const marked = service('app_cache', { ...labels, 'rds.stopped-on.id-n2': 'restore', 'rds.restoring.id-n2': 'volumes from abc' }, ['n1', 'n3'])
  t.notOk(awaitingTasks([marked], discoverJobs([marked], defaults, nodes)), 'one marked stays stopped until a restore of it')
})

t.test('a job whose node is down cannot run, and says so', async (t) => {
  const labels = { 'rds.backup': 'true' }
  const down = [node('n1'), node('n2', 'down'), node('n3')]
  const [perNode, other] = discoverJobs([service('app_cache', labels, ['n1', 'n2'])], defaults, down)
  t.same([perNode?.unavailable, other?.unavailable], [undefined, 'node n2 is down, so the data of service app_cache on it cannot be backed up until the node is back (or is removed from the Swarm with docker node rm).'])
  const [single] = discoverJobs([service('app_db', labels, ['n2'])], defaults, down)
  t.match(single, { name: 'app_db', node: { nodeId: 'id-n2' }, unavailable: /^node n2 is down/ })
  const [moved] = discoverJobs([service('app_db', labels, ['n2', 'n3'], false)], defaults, down)
  t.match(moved, { node: { nodeId: 'id-n3' }, unavailable: undefined }, 'a replacement task on a node that is up is where it runs')
})

t.test('nodes that share a host name get names of their own; the oldest keeps the plain one', async (t) => {
  const named = nameNodes([
    { ID: 'zzzzzzzzzz2', CreatedAt: '2026-02-01T00:00:00Z', Description: { Hostname: 'worker' }, Status: { State: 'ready' } },
    { ID: 'aaaaaaaaaa1', CreatedAt: '2026-01-01T00:00:00Z', Description: { Hostname: 'worker' }, Status: { State: 'down' }, Spec: { Availability: 'drain' } },
    { ID: 'bbbbbbbbbb3', CreatedAt: '2026-03-01T00:00:00Z', Description: { Hostname: 'manager' } },
  ])
  t.same(named, [
    { id: 'zzzzzzzzzz2', name: 'worker-zzzzzzzz', state: 'ready', availability: 'active' },
    { id: 'aaaaaaaaaa1', name: 'worker', state: 'down', availability: 'drain' },
    { id: 'bbbbbbbbbb3', name: 'manager', state: 'unknown', availability: 'active' },
  ])
})

t.test('an H in a schedule is a time of each job\'s own: a labelled one, the controller\'s RUN_AT, and each node of a per-node service', async (t) => {
  const jobs = discoverJobs(
    [
      service('app_db', { 'rds.backup': 'true', 'rds.backup.run-at': 'H 3 * * *' }, ['n1']),
      service('app_cache', { 'rds.backup': 'true' }, ['n1', 'n2']),
      service('app_bad', { 'rds.backup': 'true', 'rds.backup.run-at': 'H(70-80) 3 * * *' }, ['n1']),
    ],
    { ...defaults, runAt: 'H(0-29) 2 * * *' },
  )
  const schedules = Object.fromEntries(jobs.map((job) => [job.name, job.backup?.schedule ?? job.error]))
  t.equal(schedules['app_db'], spreadSchedule('H 3 * * *', 'app_db', 'RUN_AT'))
  t.equal(schedules['app_cache@n1'], spreadSchedule('H(0-29) 2 * * *', 'app_cache@n1', 'RUN_AT'))
  t.equal(schedules['app_cache@n2'], spreadSchedule('H(0-29) 2 * * *', 'app_cache@n2', 'RUN_AT'))
  t.same([schedules['app_cache@n1'], schedules['app_cache@n2']], ['17 2 * * *', '3 2 * * *'], 'each node of it has its own minute')
  for (const name of ['app_db', 'app_cache@n1', 'app_cache@n2']) t.match(schedules[name], /^\d+ [23] \* \* \*$/, `${name}: ${schedules[name]}`)
  t.match(schedules["app_bad"], /^service app_bad: label rds\.backup\.run-at "H\(70-80\) 3 \* \* \*" has the field "H\(70-80\)"/, 'a bad H is a label error of that service only')
})
