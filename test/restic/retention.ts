import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { describeRetention, forgetArgs, keepArgs, verdicts } from '../../lib/restic/retention.js'
import { lastAccepted, REJECTED_TAG, rejectedAmong, SAFETY_TAG, snapshotsOfHost, type SnapshotInfo } from '../../lib/restic/snapshots.js'
import { runRestic, type Restic } from '../../lib/restic/command.js'
import { urlRepository } from '../../lib/restic/repository.js'
import { captureLogger } from '../fixtures/log.js'

t.test('no KEEP_* means no forget at all', async (t) => {
  t.same(keepArgs({ prune: true }), [])
  t.equal(forgetArgs({ prune: true }, 'h'), undefined)
  t.match(describeRetention({ prune: false }), /^none: every snapshot is kept/)
})

t.test('the policy becomes restic forget options for this host only', async (t) => {
  const retention = { last: 2, daily: 7, monthly: -1, within: '30d', prune: false }
  t.same(forgetArgs(retention, 'app_db'), ['forget', '--host', 'app_db', '--group-by', 'host,paths,tags', '--keep-last', '2', '--keep-daily', '7', '--keep-monthly', '-1', '--keep-within', '30d'])
  t.same(forgetArgs({ weekly: 4, prune: true }, 'h'), ['forget', '--host', 'h', '--group-by', 'host,paths,tags', '--keep-weekly', '4', '--prune'])
  t.equal(describeRetention(retention), 'keep-last 2, keep-daily 7, keep-monthly -1, keep-within 30d (forget only; set PRUNE=true to free space)')
  t.equal(describeRetention({ hourly: 24, yearly: 1, prune: true }), 'keep-hourly 24, keep-yearly 1, then prune')
})

t.test("the guard's verdicts: copies of rejected snapshots are rejected, and only rejections an accepted snapshot has followed are forgotten", async (t) => {
  const snapshot = (id: string, time: string, extra: Partial<SnapshotInfo> = {}): SnapshotInfo => ({ id, short_id: id, time, hostname: 'a', paths: ['/volumes'], ...extra })
  const good = snapshot('good', '2026-12-01T03:00:00Z')
  const emptied = snapshot('emptied', '2026-12-02T03:00:00Z')
  const tagged = snapshot('tagged', '2026-12-02T03:00:00Z', { tags: [REJECTED_TAG], original: 'emptied' })
  const copied = snapshot('copied', '2026-12-02T03:00:00Z', { original: 'tagged' })
  const copiedAgain = snapshot('again', '2026-12-02T03:00:00Z', { original: 'copied' })
  t.same(rejectedAmong([good, emptied, tagged, copied, copiedAgain]).sort(), ['again', 'copied', 'emptied', 'tagged'])
  t.same(verdicts([good, emptied, tagged]), { rejected: [], heldHosts: ['a'] }, 'the newest is rejected: nothing forgotten, retention held')
  const later = snapshot('later', '2026-12-03T03:00:00Z')
  t.same(verdicts([good, emptied, tagged, later]).rejected.map((s) => s.id), ['emptied', 'tagged'])
  t.same(verdicts([good, emptied, tagged, later]).heldHosts, [])
  const otherPaths = snapshot('dump', '2026-12-03T03:00:00Z', { paths: ['/pg_dumpall.sql'] })
  t.same(verdicts([good, emptied, tagged, otherPaths]).rejected, [], 'an accepted snapshot of other paths does not count')
})

t.test("a safety snapshot (what an in-place restore replaced) is never the last good one, but retention neither forgets it early nor waits for it", async (t) => {
  const snapshot = (id: string, time: string, extra: Partial<SnapshotInfo> = {}): SnapshotInfo => ({ id, short_id: id, time, hostname: 'a', paths: ['/volumes'], ...extra })
  const good = snapshot('good', '2026-12-01T03:00:00Z')
  const safety = snapshot('safety', '2026-12-02T10:00:00Z', { tags: [SAFETY_TAG] })
  t.equal(lastAccepted([good, safety])?.id, 'good')
  t.same(verdicts([good, safety]), { rejected: [], heldHosts: [] })
  t.same(verdicts([good, safety, snapshot('later', '2026-12-03T03:00:00Z')]).rejected, [], 'kept by the policy like any other')
})

t.test('a restore\'s safety snapshots never take the places of backups in a policy: keep-last 2 keeps two backups and two safety snapshots', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rds-retention-'))
  t.teardown(() => rm(dir, { recursive: true }))
  const { log } = captureLogger()
  const restic: Restic = { binary: 'restic', repository: urlRepository(join(dir, 'repository'), join(dir, 'password')) }
  await writeFile(join(dir, 'password'), 'test password')
  await runRestic(restic, ['init'], { log })
  const data = join(dir, 'volumes')
  await mkdir(data)
  for (const tags of [[], [], [], [SAFETY_TAG], [SAFETY_TAG], [SAFETY_TAG]]) {
    await writeFile(join(data, 'file'), `${Math.random()}`)
    await runRestic(restic, ['backup', '--host', 'app_web', ...tags.flatMap((tag) => ['--tag', tag]), data], { log })
  }
  await runRestic(restic, forgetArgs({ last: 2, prune: false }, 'app_web')!, { log })
  const left = await snapshotsOfHost(restic, 'app_web', log)
  t.same(left.map((snapshot) => (snapshot.tags ?? []).join(',')).sort(), ['', '', SAFETY_TAG, SAFETY_TAG])
  t.ok(lastAccepted(left), 'a backup is still "latest"')
})
