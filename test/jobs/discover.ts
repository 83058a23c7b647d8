import t from 'tap'
import type { SwarmService } from '../../lib/docker/swarm.js'
import { discoverJobs } from '../../lib/jobs/discover.js'

const defaults = { runAt: '0 3 * * *', retention: { prune: false }, repoPath: 'swarm', maxRunTime: 86_400_000 }
const service = (name: string, labels: Record<string, string>, nodes: string[]): SwarmService => ({
  id: `id-${name}`,
  name,
  stack: 'app',
  serviceLabels: labels,
  containerLabels: {},
  volumes: ['app_data'],
  pinned: true,
  tasks: nodes.map((node) => ({ nodeId: `id-${node}`, hostname: node })),
})

t.test('a job per labelled service, named after it, on the node of its task; unlabelled services are not jobs', async (t) => {
  const jobs = discoverJobs([service('app_web', {}, ['n1']), service('app_db', { 'rds.backup': 'true' }, ['n2', 'n2'])], defaults)
  t.equal(jobs.length, 1)
  t.match(jobs[0], { name: 'app_db', service: 'app_db', node: { nodeId: 'id-n2', hostname: 'n2' }, backup: { volumes: [{ name: 'data' }] } })
})

t.test('tasks on several nodes: one job per node, each with its own snapshot host', async (t) => {
  const jobs = discoverJobs([service('app_cache', { 'rds.backup': 'true' }, ['n3', 'n1'])], defaults)
  t.same(jobs.map((job) => [job.name, job.node?.hostname]), [['app_cache@n1', 'n1'], ['app_cache@n3', 'n3']])
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

t.test('rds.backup.stop=scale on a service whose tasks run on several nodes is an error: one job cannot stop another node\'s', async (t) => {
  const [job, ...others] = discoverJobs([service('app_cache', { 'rds.backup': 'true', 'rds.backup.stop': 'scale' }, ['n3', 'n1'])], defaults)
  t.same(others, [])
  t.match(job, { name: 'app_cache', error: /^service app_cache: label rds\.backup\.stop=scale stops every task, but its tasks run on 2 nodes, each backed up by a job of its own; use rds\.backup\.stop=pause/ })
  t.match(discoverJobs([service('app_one', { 'rds.backup': 'true', 'rds.backup.stop': 'scale' }, ['n1', 'n1'])], defaults), [{ name: 'app_one', backup: { stop: 'scale' } }], 'two replicas on one node are fine')
})
