import t from 'tap'
import type { NodeVolumes } from '../../lib/swarm/volume-survey.js'
import { computeCoverage } from '../../lib/swarm/coverage.js'
import type { SwarmJob } from '../../lib/swarm/discover.js'

const retention = { prune: false }
const job = (name: string, node: string, volumes: string[], error?: string): SwarmJob => ({
  name,
  service: name.split('@')[0]!,
  node: { nodeId: `id-${node}`, nodeName: node },
  backup: error ? undefined : { service: name, schedule: '0 3 * * *', volumes: volumes.map((source) => ({ name: source.replace(/^app_/, ''), source })), repoPath: 'r', hooks: {}, restoreHooks: {}, excludes: [], retention, maxRunTime: 86_400_000 },
  error,
})
const user = (service: string | undefined, running = true) => ({ container: `${service ?? 'plain'}.1`, service, running })

const surveys: NodeVolumes[] = [
  {
    node: 'n1',
    volumes: [
      { name: 'app_db', driver: 'local', usedBy: [user('app_db')] },
      { name: 'app_dump', driver: 'local', usedBy: [user('app_db')] },
      { name: 'app_cache', driver: 'local', usedBy: [user('app_web')] },
      { name: 'a'.repeat(64), driver: 'local', usedBy: [user(undefined)] },
      { name: 'old', driver: 'local', usedBy: [] },
      { name: 'app_bad', driver: 'local', usedBy: [user('app_bad')] },
    ],
  },
  { node: 'n2', volumes: [{ name: 'app_db', driver: 'local', usedBy: [] }] },
]
const jobs = [job('app_db', 'n1', ['app_dump']), job('app_bad', 'n1', [], 'service app_bad: label rds.backup.keep-daily must be ...')]

t.test('each volume on each node: covered, excluded, NOT COVERED or unused, with what is worth a look', async (t) => {
  const rows = computeCoverage(surveys, jobs, new Map([['app_db', '2026-11-24T03:00:00Z']]))
  t.same(
    rows.map((row) => [row.node, row.volume.slice(0, 8), row.status, row.job ?? '', row.lastSnapshot ?? '', row.flags.join('; ')]),
    [
      ['n1', 'app_db', 'excluded', '', '', 'on 2 nodes'],
      ['n1', 'app_dump', 'covered', 'app_db', '2026-11-24T03:00:00Z', ''],
      ['n1', 'app_cach', 'NOT COVERED', '', '', ''],
      ['n1', 'aaaaaaaa', 'NOT COVERED', '', '', 'anonymous'],
      ['n1', 'old', 'unused', '', '', ''],
      ['n1', 'app_bad', 'NOT COVERED', '', '', 'label error: service app_bad: label rds.backup.keep-daily must be ...'],
      ['n2', 'app_db', 'unused', '', '', 'on 2 nodes'],
    ],
  )
})

t.test("a job covers a volume only on its own node: the same name elsewhere is another volume", async (t) => {
  const moved: NodeVolumes[] = [{ node: 'n2', volumes: [{ name: 'app_dump', driver: 'local', usedBy: [user('app_db', false)] }] }]
  t.equal(computeCoverage(moved, [job('app_db', 'n1', ['app_dump'])], new Map())[0]?.status, 'NOT COVERED')
})

t.test('a volume of a service labelled rds.backup=false is excluded, not NOT COVERED', async (t) => {
  const server: NodeVolumes[] = [{ node: 'n1', volumes: [{ name: 'backup_repositories', driver: 'local', usedBy: [user('backup_server')] }] }]
  t.equal(computeCoverage(server, [], new Map(), new Set(['backup_server']))[0]?.status, 'excluded')
  t.equal(computeCoverage(server, [], new Map())[0]?.status, 'NOT COVERED')
})

t.test('a job covers the volume of its node by ID: two nodes with one host name are two nodes', async (t) => {
  const twins: NodeVolumes[] = [
    { node: 'worker', nodeId: 'id-worker', volumes: [{ name: 'app_dump', driver: 'local', usedBy: [user('app_db')] }] },
    { node: 'worker', nodeId: 'id2', volumes: [{ name: 'app_dump', driver: 'local', usedBy: [user('app_db')] }] },
  ]
  t.same(computeCoverage(twins, [job('app_db@worker', 'worker', ['app_dump'])], new Map()).map((row) => [row.node, row.status]), [['worker', 'covered'], ['worker', 'NOT COVERED']])
})

t.test('a node that was not surveyed is a row of its own, NOT SURVEYED, with why; one that is down with what brings its services back', async (t) => {
  const rows = computeCoverage(surveys.slice(1), [], new Map(), new Set(), [{ node: 'n3', why: 'it is down' }, { node: 'n4', why: 'its availability is drain, so no job runs there' }])
  t.same(rows.map((row) => [row.node, row.volume, row.status, row.flags.join('; ')]), [
    ['n2', 'app_db', 'unused', ''],
    ['n3', '', 'NOT SURVEYED', 'it is down; if it is lost: rds recover --node n3'],
    ['n4', '', 'NOT SURVEYED', 'its availability is drain, so no job runs there'],
  ])
})
