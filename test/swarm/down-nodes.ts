// A node going down is told once: at once while the controller runs, and after a restart only for
// the jobs whose last attempt did not already fail there.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { DownNodes } from '../../lib/swarm/down-nodes.js'
import type { SwarmJob } from '../../lib/swarm/discover.js'
import { Reporter } from '../../lib/observe/reporter.js'
import { readStatus } from '../../lib/observe/status-file.js'
import { outcomeOf } from '../../lib/observe/outcome.js'
import { captureLogger } from '../fixtures/log.js'

const backup = { schedule: '0 3 * * *', volumes: [], hooks: {}, excludes: [], retention: { prune: false }, repoPath: 'repo', maxRunTime: 1000 } as unknown as SwarmJob['backup']
const job = (name: string, nodeId: string): SwarmJob => ({ name, service: name, node: { nodeId, nodeName: nodeId.replace('id-', '') }, backup })
const nodes = (n3: string) => [
  { id: 'id-n1', name: 'n1', state: 'ready', availability: 'active' },
  { id: 'id-n3', name: 'n3', state: n3, availability: 'active' },
]

t.test('a node down is told once per going down, and a restarted controller does not tell it again', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rds-down-'))
  t.teardown(() => rm(dir, { recursive: true }))
  const statusFile = join(dir, 'status.json')
  const { log, text } = captureLogger()
  const reporter = new Reporter({ statusFile, log })
  const jobs = [job('a', 'id-n3'), job('b', 'id-n3'), job('c', 'id-n1')]
  await reporter.watch(jobs.map(({ name }) => ({ name })))
  // Before any controller saw it: a's last run already failed on n3's account.
  const before = new Date('2026-12-01T03:00:00Z')
  await reporter.finished({ job: 'a', kind: 'backup', outcome: outcomeOf(before, before, false, 'the job did not finish: its node n3 is down (unreachable), so the backup there cannot finish', 1) })

  const first = new DownNodes(log, reporter)
  await first.notice(nodes('down'), jobs)
  t.match(text(), /WARN\s+controller: node n3 went down: the data of b on it cannot be backed up until the node is back\./, 'at start, only the job not yet failing there')
  t.match((await readStatus(statusFile)).jobs.a?.lastAttempt, { message: /^the job did not finish/ }, "a's failure is not recorded again")
  t.match((await readStatus(statusFile)).jobs.b?.lastAttempt, { ok: false, message: /^node n3 went down/ })
  await first.notice(nodes('down'), jobs)
  t.equal(text().match(/went down/g)?.length, 1, 'still down: not told again')

  const restarted = new DownNodes(log, reporter)
  await restarted.notice(nodes('down'), jobs)
  t.equal(text().match(/went down/g)?.length, 1, 'a restarted controller does not tell it again')

  await restarted.notice(nodes('ready'), jobs)
  await restarted.notice(nodes('down'), jobs)
  t.match(text(), /node n3 went down: the data of a, b on it/, 'down again after it was back: told of every job there')
})
