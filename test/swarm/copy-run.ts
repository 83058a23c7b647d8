// The copies after a run (rds.backup.copy-to): each destination recorded in STATUS_FILE and notified
// as a run of its own kind, a failed one never thrown at the run; what rds status and the metrics
// show of them. The copies themselves, restic's, are test/restic/copy.ts; in a Swarm with S3 and
// REST repositories, test/3-node/swarm.ts.
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { copyAfterRun } from '../../lib/swarm/copy-run.js'
import { RepositoryWork } from '../../lib/swarm/repository-work.js'
import type { ControllerOptions } from '../../lib/swarm/controller-options.js'
import type { SwarmJob } from '../../lib/swarm/discover.js'
import { Reporter } from '../../lib/observe/reporter.js'
import { readStatus } from '../../lib/observe/status-file.js'
import { statusMetrics } from '../../lib/observe/metrics.js'
import { notifications } from '../../lib/notify/listener.js'
import { describeJob } from '../../lib/cli/status.js'
import type { SnapshotInfo } from '../../lib/restic/snapshots.js'
import { captureLogger } from '../fixtures/log.js'

const dir = await mkdtemp(join(tmpdir(), 'rds-copy-run-'))
t.teardown(() => rm(dir, { recursive: true, force: true }))

// A webhook that keeps what it is sent.
const received: { event: string; kind: string; job: string; message: string; copied?: { destination: string } }[] = []
const hook = createServer((request, response) => {
  let body = ''
  request.on('data', (chunk: Buffer) => (body += chunk.toString()))
  request.on('end', () => {
    received.push(JSON.parse(body))
    response.end()
  })
})
await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve))
t.teardown(() => new Promise<void>((resolve) => (hook.close(() => resolve()), hook.closeAllConnections())))

const snapshot = (id: string, time: string, tags?: string[]): SnapshotInfo => ({ id: id.repeat(64 / id.length), short_id: id.repeat(8 / id.length), time, hostname: 'app', paths: ['/volumes'], tags })
const listed = [
  snapshot('a', '2026-12-01T03:00:00Z'),
  snapshot('b', '2026-12-02T03:00:00Z'),
  snapshot('c', '2026-12-02T03:00:01Z', ['rds-definition']),
  snapshot('d', '2026-12-02T09:00:00Z', ['rds-safety']),
  snapshot('e', '2026-12-03T03:00:00Z', ['rds-rejected']),
]
const job = { name: 'app', service: 'app', backup: { repoPath: 'primary', copyTo: ['offsite', 'archive'] } } as unknown as SwarmJob

const { log, text } = captureLogger()
const statusFile = join(dir, 'status.json')
const reporter = new Reporter({ statusFile, log, listeners: [notifications(`http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`, undefined, log)!] })
const copied: Record<string, string[]> = {}
let archiveFails = true
const options = {
  reporter,
  log,
  snapshotsOf: async () => ({ snapshots: listed, repository: 'primary' }),
  copySnapshots: async (_job: SwarmJob, destination: string, ids: string[]) => {
    if (destination === 'archive' && archiveFails) throw new Error('Fatal: unable to open repository at rest:http://127.0.0.1:1/: connection refused.')
    copied[destination] = ids
  },
} as unknown as ControllerOptions
const repositories = new RepositoryWork(options, () => [job])

t.test('each destination is copied, recorded and notified on its own; a failed one is a failure of the copy, never thrown', async (t) => {
  await copyAfterRun(options, repositories, job, new AbortController().signal)
  t.same(copied.offsite, [listed[0]!.id, listed[1]!.id, listed[2]!.id], 'the accepted backups and the saved definition; never a safety or a rejected snapshot')
  const status = (await readStatus(statusFile)).jobs.app!
  t.match(status.copies?.offsite, { lastAttempt: { ok: true, message: 'copied into offsite: the newest snapshot copied is bbbbbbbb of 2026-12-02T03:00:00Z' }, newest: { id: listed[1]!.id, time: listed[1]!.time } })
  t.match(status.copies?.archive, { lastAttempt: { ok: false, message: /^the copy into archive failed: Fatal: unable to open repository at rest:http:\/\/127\.0\.0\.1:1\/: connection refused; the backup in primary stands, and the next run copies again\.$/ } })
  t.notOk(status.copies?.archive?.newest, 'nothing is said to be there')
  t.notOk(status.lastAttempt, 'the backup run is not touched by its copies')
  t.match(received, [{ event: 'failure', kind: 'copy', job: 'app', copied: { destination: 'archive' } }], 'the failed copy is notified, with its destination')
  t.match(text(), /ERROR +controller: app: the copy into archive failed/)

  const line = describeJob('app', status, new Date('2026-12-02T05:00:00Z'))
  t.match(line, /copy into archive: none there yet, last copy FAILED \S+: the copy into archive failed/)
  t.match(line, /copy into offsite: newest snapshot copied bbbbbbbb of 2026-12-02T03:00:00Z \(2 h old\)/)
  const metrics = await statusMetrics().render(await readStatus(statusFile))
  t.match(metrics, /^rds_last_copy_status\{job="app",destination="offsite"\} 1$/m)
  t.match(metrics, /^rds_last_copy_status\{job="app",destination="archive"\} 0$/m)
  t.match(metrics, new RegExp(`^rds_copy_newest_snapshot_timestamp_seconds\\{job="app",destination="offsite"\\} ${Date.parse(listed[1]!.time) / 1000}$`, 'm'))
})

t.test('the next copy that succeeds is a recovery, per destination', async (t) => {
  archiveFails = false
  received.length = 0
  await copyAfterRun(options, repositories, job, new AbortController().signal)
  t.match((await readStatus(statusFile)).jobs.app!.copies?.archive, { lastAttempt: { ok: true }, newest: { id: listed[1]!.id } })
  t.match(received, [{ event: 'recovery', kind: 'copy', copied: { destination: 'archive' } }], 'archive recovered; offsite, which never failed, says nothing')
})

t.test('a controller that is stopping copies nothing, and says so', async (t) => {
  delete copied.offsite
  const stopping = new AbortController()
  stopping.abort()
  await copyAfterRun(options, repositories, job, stopping.signal)
  t.notOk(copied.offsite)
  t.match(text(), /WARN +controller: app: not copied into offsite: the controller is stopping; the next run copies it/)
  t.match(text(), /WARN +controller: app: not copied into archive: the controller is stopping/)
})

t.test("a copy still going for a destination takes the next run's place there; a pair restic cannot copy between fails each copy with why", async (t) => {
  let release!: () => void
  const slow = { ...options, copySnapshots: () => new Promise<void>((resolve) => (release = resolve)) } as unknown as ControllerOptions
  const one = { ...job, backup: { repoPath: 'primary', copyTo: ['offsite'] } } as unknown as SwarmJob
  const first = copyAfterRun(slow, repositories, one, new AbortController().signal)
  await new Promise((resolve) => setTimeout(resolve, 100))
  await copyAfterRun(slow, repositories, one, new AbortController().signal)
  t.match(text(), /INFO +controller: app: its copy into offsite of an earlier run is still going; the next run's copy takes this one along/)
  release()
  await first
  const refused = { ...job, backup: { repoPath: 'primary', copyTo: ['archive'], copyRefused: { archive: 'COPY_TO names archive, which sets AWS_ACCESS_KEY_ID otherwise than primary' } } } as unknown as SwarmJob
  delete copied.archive
  await copyAfterRun(options, repositories, refused, new AbortController().signal)
  t.notOk(copied.archive, 'nothing copied')
  t.match((await readStatus(statusFile)).jobs.app!.copies?.archive?.lastAttempt, { ok: false, message: /^the copy into archive failed: COPY_TO names archive, which sets AWS_ACCESS_KEY_ID otherwise than primary; the backup in primary stands/ })
})

t.test("a copy's repository is pruned at PRUNE_AT when the service prunes, or when its own section says prune", async (t) => {
  const { log: pruneLog, text: pruned } = captureLogger()
  const prunes = { prune: true, last: 3 }
  const jobs = [
    { name: 'pruning', service: 'pruning', backup: { repoPath: 'primary', copyTo: ['offsite'], retention: prunes } },
    { name: 'keeping', service: 'keeping', backup: { repoPath: 'other/path', copyTo: ['nas', 'archive'], retention: { last: 3 } } },
  ] as unknown as SwarmJob[]
  const work = new RepositoryWork({ log: pruneLog, pruneAt: '0 4 * * *', pruneRepository: async () => undefined, copyRetention: (name: string) => (name === 'archive' ? { daily: 30, prune: true } : undefined) } as unknown as ControllerOptions, () => jobs)
  work.schedule(jobs)
  work.stop()
  const repositories = [...pruned().matchAll(/controller: repository (\S+): pruned "0 4 \* \* \*"/g)].map((match) => match[1]).sort()
  t.same(repositories, ['archive', 'offsite', 'primary'], "the pruning service's repository and copy, and the archive that says prune; never nas")
})
