import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { execa } from 'execa'
import { RDS, RUNRESTIC, runBin } from '../fixtures/cli.js'
import { addRandomFiles } from '../fixtures/data.js'
import { useServerAndData } from '../fixtures/sftp-server.js'

const fixture = useServerAndData(t)

async function freshVolume(t: Test, files = 10): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'rds-guard-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await addRandomFiles(dir, files, 100_000)
  return dir
}

async function snapshots(env: Record<string, string>): Promise<{ short_id: string; tags?: string[] }[]> {
  const listed = await runBin(RUNRESTIC, ['snapshots', '--json'], env)
  return JSON.parse(listed.stdout)
}

t.test('an emptied volume fails the run, and retention forgets nothing', async (t) => {
  const volume = await freshVolume(t)
  const env = fixture.server.env(volume, { REPO_PATH: 'emptied', KEEP_LAST: '1', PRUNE: 'true' })
  t.equal((await runBin(RDS, ['backup'], env)).exitCode, 0)
  // What Docker gives a task rescheduled onto a node that never had the volume: the same path, empty.
  for (const file of await readdir(volume)) await rm(join(volume, file))
  const empty = await runBin(RDS, ['backup'], env)
  t.equal(empty.exitCode, 1)
  t.match(empty.stderr, /the backup of \S+ looks like a lost or emptied volume: it holds 0 files, fewer than MIN_FILES \(1\); it was kept \(tagged rds-rejected\) and retention did not run/)
  t.notMatch(empty.stderr, /retention:/)
  const again = await runBin(RDS, ['backup'], env)
  t.equal(again.exitCode, 1, 'every later empty run fails too')
  const kept = await snapshots(env)
  t.equal(kept.length, 3, 'nothing was forgotten')
  t.same(kept.map((snapshot) => snapshot.tags ?? []), [[], ['rds-rejected'], ['rds-rejected']])
  const target = await mkdtemp(join(tmpdir(), 'rds-guard-restore-'))
  t.teardown(() => rm(target, { recursive: true, force: true }))
  const restored = await runBin(RDS, ['restore', 'latest', '--target', target], env)
  t.equal(restored.exitCode, 0, restored.stderr)
  t.equal((await readdir(join(target, volume))).length, 10, 'latest is the last accepted snapshot, with its 10 files, not the empty one')

  const accepted = await runBin(RDS, ['backup'], { ...env, MIN_FILES: '0', MAX_SHRINK: '100' })
  t.equal(accepted.exitCode, 0, 'MIN_FILES=0 and MAX_SHRINK=100 accept it')
})

t.test('a volume that shrank by more than MAX_SHRINK fails every run until the data is back or accepted', async (t) => {
  const volume = await freshVolume(t, 10)
  const env = fixture.server.env(volume, { REPO_PATH: 'shrunk', KEEP_LAST: '1' })
  t.equal((await runBin(RDS, ['backup'], env)).exitCode, 0)
  for (const file of (await readdir(volume)).slice(0, 8)) await rm(join(volume, file))
  const shrunk = await runBin(RDS, ['backup'], env)
  t.equal(shrunk.exitCode, 1)
  t.match(shrunk.stderr, /it holds 2 files and 195\.3 KiB where snapshot [0-9a-f]{8} of \S+ held 10 files and 976\.6 KiB: 80 % less, more than MAX_SHRINK \(50 %\) allows/)
  // The next run compares with the last accepted snapshot, not with the rejected one.
  t.equal((await runBin(RDS, ['backup'], env)).exitCode, 1)
  t.equal((await runBin(RDS, ['backup'], { ...env, MAX_SHRINK: '90' })).exitCode, 0, 'a higher MAX_SHRINK accepts it')
  t.equal((await snapshots(env)).length, 1, 'retention ran again after an accepted backup')
  await addRandomFiles(volume, 1, 10_000, 'small')
  t.equal((await runBin(RDS, ['backup'], env)).exitCode, 0, 'growth is never a problem')
})

t.test('retention never counts a rejected snapshot as kept: it is forgotten first, and the accepted ones keep their places', async (t) => {
  const volume = await freshVolume(t, 10)
  const env = fixture.server.env(volume, { REPO_PATH: 'places', KEEP_LAST: '2' })
  t.equal((await runBin(RDS, ['backup'], env)).exitCode, 0)
  t.equal((await runBin(RDS, ['backup'], env)).exitCode, 0)
  const good = (await snapshots(env)).map((snapshot) => snapshot.short_id)
  const moved = await mkdtemp(join(tmpdir(), 'rds-guard-aside-'))
  t.teardown(() => rm(moved, { recursive: true, force: true }))
  const files = await readdir(volume)
  for (const file of files.slice(0, 8)) await execa('mv', [join(volume, file), moved])
  t.equal((await runBin(RDS, ['backup'], env)).exitCode, 1, 'rejected')
  for (const file of files.slice(0, 8)) await execa('mv', [join(moved, file), volume])
  const back = await runBin(RDS, ['backup'], env)
  t.equal(back.exitCode, 0, back.stderr)
  t.match(back.stderr, /retention: forgetting 1 snapshot\(s\) the guard rejected, which would otherwise take the places of accepted ones/)
  const kept = await snapshots(env)
  t.same(kept.map((snapshot) => snapshot.tags ?? []), [[], []], 'no rejected snapshot is left to take a place')
  t.equal(kept[0]?.short_id, good[1], 'the newer accepted snapshot before the rejection is kept with the new one (keep-last 2)')
})

t.test('GUARD_FOLDERS: a volume emptied beside another that grew fails the run, though the totals did not shrink', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'rds-guard-folders-'))
  t.teardown(() => rm(root, { recursive: true, force: true }))
  for (const [folder, files] of [['site', 10], ['uploads', 2]] as const) {
    await mkdir(join(root, folder, 'deep'), { recursive: true })
    await addRandomFiles(join(root, folder, 'deep'), files, 10_000)
  }
  const env = fixture.server.env(root, { REPO_PATH: 'folders', GUARD_FOLDERS: 'site,uploads', KEEP_LAST: '1' })
  t.equal((await runBin(RDS, ['backup'], env)).exitCode, 0)
  // uploads lost (its folder empty, as a fresh volume is), while site grew: 10 + 2 files before, 20 after.
  await rm(join(root, 'uploads', 'deep'), { recursive: true })
  await addRandomFiles(join(root, 'site'), 10, 10_000)
  const lost = await runBin(RDS, ['backup'], env)
  t.equal(lost.exitCode, 1, 'rejected')
  t.match(lost.stderr, new RegExp(`the backup of ${root} looks like a lost or emptied volume: its folder ${join(root, 'uploads')} holds no file, where snapshot [0-9a-f]{8} of \\S+ held files in it; it was kept`))
  t.equal((await snapshots(env)).length, 2, 'retention did not run')
  await writeFile(join(root, 'uploads', 'new.txt'), 'back\n')
  t.equal((await runBin(RDS, ['backup'], env)).exitCode, 0, 'a file in it again is accepted')
  t.match(await runBin(RDS, ['backup'], { ...env, GUARD_FOLDERS: 'site,/etc' }), { exitCode: 2, stderr: /^rds: GUARD_FOLDERS must list names of folders directly in BACKUP_PATH, separated by commas, not "\/etc"\.\n$/m })
  t.match(await runBin(RDS, ['backup'], { ...env, GUARD_FOLDERS: 'site,uplods' }), { exitCode: 2, stderr: /^rds: GUARD_FOLDERS names uplods, which is not a folder in BACKUP_PATH \(\S+\); name the folders that are there, each a volume\.\n$/m })
})

t.test('a repository that vanished under an agent that has backed up to it is not silently started afresh', async (t) => {
  const volume = await freshVolume(t, 2)
  const state = await mkdtemp(join(tmpdir(), 'rds-guard-state-'))
  t.teardown(() => rm(state, { recursive: true, force: true }))
  const env = fixture.server.env(volume, { REPO_PATH: 'vanishing', STATUS_FILE: join(state, 'status.json') })
  t.equal((await runBin(RDS, ['backup'], env)).exitCode, 0)
  await rm(join(fixture.server.home, 'vanishing'), { recursive: true })
  const gone = await runBin(RDS, ['backup'], env)
  t.equal(gone.exitCode, 10)
  t.match(gone.stderr, /the repository vanishing on \S+ is gone, although snapshot [0-9a-f]{8} of \S+ was saved there at \S+; refusing to start a new, empty one/)
  await t.rejects(stat(join(fixture.server.home, 'vanishing')), 'no new repository was made')
  const status = await runBin(RDS, ['status'], env)
  t.equal(status.exitCode, 1)
  t.match(status.stdout, /FAILING; last success \S+; last run FAILED \S+ \(exit 10\): the repository vanishing .* is gone/)
})

t.test('a repository that vanished while STATUS_FILE was damaged by hand is not started afresh either: its last snapshot is read from what is whole', async (t) => {
  const volume = await freshVolume(t, 2)
  const state = await mkdtemp(join(tmpdir(), 'rds-guard-state-'))
  t.teardown(() => rm(state, { recursive: true, force: true }))
  const file = join(state, 'status.json')
  const env = fixture.server.env(volume, { REPO_PATH: 'vanishing-damaged', STATUS_FILE: file })
  t.equal((await runBin(RDS, ['backup'], env)).exitCode, 0)
  // A hand edit gone wrong inside the job's history: the table is no longer JSON.
  const text = await readFile(file, 'utf8')
  t.match(text, /\n {6}"history": \[\n/)
  await writeFile(file, text.replace(/\n( {6}"history": \[)\n/, '\n$1\n        oops\n'))
  await rm(join(fixture.server.home, 'vanishing-damaged'), { recursive: true })
  const gone = await runBin(RDS, ['backup'], env)
  t.equal(gone.exitCode, 10, gone.stderr)
  t.match(gone.stderr, /STATUS_FILE \S+ could not be read \(.*\); it was kept as \S+ and a new one is started from what could still be read of it \(1 job\(s\)\)/)
  t.match(gone.stderr, /the repository vanishing-damaged on \S+ is gone, although snapshot [0-9a-f]{8} of \S+ was saved there at \S+; refusing to start a new, empty one/)
  await t.rejects(stat(join(fixture.server.home, 'vanishing-damaged')), 'no new repository was made')
  const renewed = JSON.parse(await readFile(file, 'utf8')) as { jobs: Record<string, { lastSnapshot?: { id: string } }> }
  t.match(Object.values(renewed.jobs), [{ lastSnapshot: { id: /^[0-9a-f]{64}$/ } }], 'the new table has the last snapshot')
  const again = await runBin(RDS, ['backup'], env)
  t.equal(again.exitCode, 10, 'nor by the run after it, from the new table')
  t.match(again.stderr, /is gone, although snapshot/)
})

t.test('CREATE_REPOSITORY=never: a run into a repository that does not exist fails with exit 10 and creates none', async (t) => {
  const volume = await freshVolume(t, 2)
  const env = fixture.server.env(volume, { REPO_PATH: 'never-made', CREATE_REPOSITORY: 'never' })
  const run = await runBin(RDS, ['backup'], env)
  t.equal(run.exitCode, 10)
  t.match(run.stderr, /there is no repository at never-made on \S+, and this run may not create one \(CREATE_REPOSITORY=never\)/)
  await t.rejects(stat(join(fixture.server.home, 'never-made')), 'no repository was made')
  const bad = await runBin(RDS, ['backup'], { ...env, CREATE_REPOSITORY: 'yes' })
  t.equal(bad.exitCode, 2)
  t.match(bad.stderr, /CREATE_REPOSITORY must be "auto" .* or "never", not "yes"\./)
})

t.test('a reference that cannot be read is said, and the backup, which holds files, is kept as good', async (t) => {
  const volume = await freshVolume(t, 3)
  const dir = await mkdtemp(join(tmpdir(), 'rds-guard-bin-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  // restic as it is, but every snapshot listing fails, as on a server that drops the connection then.
  const real = (await execa('which', ['restic'])).stdout
  await writeFile(join(dir, 'restic'), `#!/bin/sh\ncase " $* " in *" snapshots "*) echo "Fatal: listing failed" >&2; exit 1;; esac\nexec ${real} "$@"\n`, { mode: 0o755 })
  const env = fixture.server.env(volume, { REPO_PATH: 'unreadable-reference', RESTIC_BINARY: join(dir, 'restic') })
  t.equal((await runBin(RDS, ['backup'], env)).exitCode, 0)
  const second = await runBin(RDS, ['backup'], env)
  t.equal(second.exitCode, 0, second.stderr)
  t.match(second.stderr, /WARN  guard: the size was not compared with the previous snapshot, which could not be read \(restic snapshots failed with exit code 1: listing failed\.\)/)
})
