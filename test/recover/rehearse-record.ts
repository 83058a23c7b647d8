// Which stacks REHEARSE_AT rehearses, and how a rehearsal that cannot even start is recorded.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { rehearsalLock, rehearseAndRecord, rehearsedStacks, scheduleRehearsals } from '../../lib/recover/rehearse-record.js'
import type { SwarmService } from '../../lib/swarm/cluster.js'
import type { SwarmJob } from '../../lib/swarm/discover.js'
import type { RunReport } from '../../lib/observe/run-report.js'
import { Reporter } from '../../lib/observe/reporter.js'
import { runRestic, type Restic } from '../../lib/restic/command.js'
import { urlRepository } from '../../lib/restic/repository.js'
import { captureLogger } from '../fixtures/log.js'

const service = (name: string, stack?: string): SwarmService => ({ id: name, name, stack, serviceLabels: {}, containerLabels: {}, volumes: [], tasks: [], perNode: false })
const job = (name: string, backup = true) => ({ name, service: name, backup: backup ? { repoPath: 'swarm', volumes: [] } : undefined }) as unknown as SwarmJob

t.test('the stacks that have a labelled service, each once', async (t) => {
  const services = [service('shop_db', 'shop'), service('shop_front', 'shop'), service('blog_web', 'blog'), service('lonely'), service('wiki_app', 'wiki')]
  const jobs = [job('shop_db'), job('blog_web'), job('lonely'), job('wiki_app', false)]
  t.same(rehearsedStacks({ services, jobs }), ['blog', 'shop'])
})

t.test('a stack with no saved definitions fails its rehearsal, recorded for each of its labelled services', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rds-rehearse-'))
  t.teardown(() => rm(dir, { recursive: true, force: true, maxRetries: 10 }))
  const { log } = captureLogger()
  const restic: Restic = { binary: 'restic', repository: urlRepository(join(dir, 'repository'), join(dir, 'password')) }
  await writeFile(join(dir, 'password'), 'test password')
  await runRestic(restic, ['init'], { log })
  const reports: RunReport[] = []
  const reporter = new Reporter({ statusFile: join(dir, 'status.json'), log, listeners: [{ started: async () => undefined, overdue: async () => [], finished: async (report) => void reports.push(report) }] })
  const context = { deps: { resticFor: () => restic } as never, lockDir: dir, jobs: [job('shop_db'), job('shop_cache')], services: [service('shop_db', 'shop'), service('shop_cache', 'shop')], repoPaths: ['swarm'], defaults: {} as never, rejected: [], env: {}, reporter }
  const result = await rehearseAndRecord(context, 'shop', log)
  t.equal(result.ok, false)
  t.match(result.report, [/^FAILED: stack shop has no definitions in the repositories swarm/])
  t.same(reports.map((report) => [report.job, report.kind, report.outcome.ok]), [['shop_db', 'rehearsal', false], ['shop_cache', 'rehearsal', false]])
  const status = JSON.parse(await readFile(join(dir, 'status.json'), 'utf8'))
  t.match(status.jobs.shop_db.lastRehearsal, { ok: false, message: /^the rehearsal of stack shop failed: stack shop has no definitions/ })

  // REHEARSE_AT: each time, every stack with a labelled service, until stopped.
  reports.length = 0
  const stop = new AbortController()
  const captured = captureLogger()
  scheduleRehearsals('* * * * * *', async () => context, captured.log, stop.signal)
  t.match(captured.text(), /controller: stacks rehearsed "\* \* \* \* \* \*" \(REHEARSE_AT\), next at \S+/)
  // Its line is logged once both are recorded: waited for, not the records.
  for (const deadline = Date.now() + 30_000; !/rehearsal of stack shop FAILED/.test(captured.text()) && Date.now() < deadline; ) await new Promise((done) => setTimeout(done, 200))
  stop.abort()
  t.match(captured.text(), /ERROR +controller: rehearsal of stack shop FAILED: FAILED: stack shop has no definitions/)
  t.same(reports.slice(0, 2).map((report) => report.job), ['shop_db', 'shop_cache'])
})

t.test("a second rehearsal of a stack while one goes is not started, and not recorded: it would remove the first one's copy", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rds-rehearse-'))
  t.teardown(() => rm(dir, { recursive: true, force: true, maxRetries: 10 }))
  const { log } = captureLogger()
  const reports: RunReport[] = []
  const reporter = new Reporter({ statusFile: join(dir, 'status.json'), log, listeners: [{ started: async () => undefined, overdue: async () => [], finished: async (report) => void reports.push(report) }] })
  const resticFor = () => t.fail('the second rehearsal looked for definitions')
  const context = { deps: { resticFor } as never, lockDir: dir, jobs: [job('shop_db')], services: [service('shop_db', 'shop')], repoPaths: ['swarm'], defaults: {} as never, rejected: [], env: {}, reporter }
  const first = await rehearsalLock(dir, 'shop', log)
  await t.rejects(rehearseAndRecord(context, 'shop', log), { exitCode: 11, message: /^another run of the rehearsal of stack shop is in progress \(process \d+, since \S+\); this one was not started/ })
  t.same(reports, [], 'nothing recorded')
  // A rehearsal of another stack is not held up by it.
  await rehearsalLock(dir, 'blog', log).then((release) => release())
  await first()
})
