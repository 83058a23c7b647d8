import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { RunError } from '../../lib/errors.js'
import { readStatus, statusOf, writeStatus } from '../../lib/observe/status.js'

t.test('a run result becomes a status, written whole and read back', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rds-status-'))
  t.teardown(() => rm(dir, { recursive: true }))
  const file = join(dir, 'nested', 'status.json')
  t.equal(await readStatus(file), undefined, 'no status before the first run')

  const now = new Date('2026-01-02T03:04:05.000Z')
  const failed = statusOf({ exitCode: 12, error: new RunError('wrong password', 12) }, undefined, 'repo', now)
  t.same(failed, { ok: false, exitCode: 12, finishedAt: '2026-01-02T03:04:05.000Z', message: 'wrong password', snapshotId: undefined, lastSnapshot: undefined })
  await writeStatus(file, failed)
  t.same(await readStatus(file), { ok: false, exitCode: 12, finishedAt: '2026-01-02T03:04:05.000Z', message: 'wrong password' })

  const summary = { snapshot_id: 'abc', files_new: 0, files_changed: 0, files_unmodified: 0, data_added: 0, total_files_processed: 0, total_bytes_processed: 0, total_duration: 0 }
  const succeeded = statusOf({ exitCode: 0, summary }, failed, 'repo', now)
  await writeStatus(file, succeeded)
  t.match(JSON.parse(await readFile(file, 'utf8')), { ok: true, exitCode: 0, snapshotId: 'abc', lastSnapshot: { id: 'abc', repository: 'repo' } })
  const laterFailure = statusOf({ exitCode: 1, error: new RunError('server gone') }, succeeded, 'repo', now)
  t.same(laterFailure.lastSnapshot, { id: 'abc', savedAt: '2026-01-02T03:04:05.000Z', repository: 'repo' }, 'the last snapshot outlives a failed run')
  t.same(await readdir(join(dir, 'nested')), ['status.json'], 'no temporary file is left')

  await writeFile(file, '{half')
  await t.rejects(readStatus(file), SyntaxError)
})
