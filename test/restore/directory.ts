import { chmod, mkdir, readdir, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { RDS, runBin } from '../fixtures/cli.js'
import { useBackedUpRepository } from '../fixtures/backed-up.js'
import type { SftpServer } from '../fixtures/sftp-server.js'
import { describeTree } from '../fixtures/tree.js'

const repo = useBackedUpRepository(t, { env: { REPO_PATH: 'restore', SNAPSHOT_HOST: 'app' }, fullTree: true })
let server: SftpServer, data: string, env: Record<string, string>, work: string
t.before(() => {
  ;({ server, data, env, work } = repo)
})

const rds = (args: string[]) => runBin(RDS, args, env)

t.test('rds restore brings everything back: bytes, owners, modes, times, links, empty folders, sparse files', async (t) => {
  const target = join(work, 'full')
  const result = await rds(['restore', '--target', target])
  t.equal(result.exitCode, 0, result.stderr)
  t.same(await describeTree(join(target, data)), await describeTree(data))
  const sparse = await stat(join(target, data, 'sparse.img'))
  t.ok(sparse.blocks * 512 < 1024 * 1024, `the 64 MiB sparse file takes ${sparse.blocks * 512} bytes on disk, not 64 MiB`)
  t.equal((await stat(join(target, data, 'blob-hardlink.bin'))).ino, (await stat(join(target, data, 'db', 'blob.bin'))).ino, 'the hard link is one file again')
  t.same((await readdir(work)).filter((name) => name.includes('rds-partial')), [], 'nothing is left beside the target')
})

t.test('an existing empty target, such as a mount point, is filled in place and keeps its own mode', async (t) => {
  const target = join(work, 'mounted')
  await mkdir(target, { mode: 0o751 })
  await chmod(target, 0o751)
  const result = await rds(['restore', '--target', target])
  t.equal(result.exitCode, 0, result.stderr)
  t.same(await describeTree(join(target, data)), await describeTree(data))
  t.same(await readdir(target), [data.split('/')[1]], 'only the snapshot\'s paths, no partial folder')
  t.equal((await stat(target)).mode & 0o777, 0o751, 'the target itself was not replaced')
})

t.test('--path restores single files and folders, by snapshot ID', async (t) => {
  const snapshots = JSON.parse((await rds(['snapshots', '--json'])).stdout) as { short_id: string }[]
  const target = join(work, 'some')
  const result = await rds(['restore', snapshots[0]!.short_id, '--target', target, '--path', join(data, 'db'), '--path', join(data, 'script.sh')])
  t.equal(result.exitCode, 0, result.stderr)
  t.same((await readdir(join(target, data))).sort(), ['db', 'script.sh'])
})

t.test('SNAPSHOT:FOLDER makes that folder the root; --delete with --force makes the target match it, keeping what --exclude matches', async (t) => {
  const target = join(work, 'rooted')
  const rooted = await rds(['restore', `latest:${join(data, 'db')}`, '--target', target])
  t.equal(rooted.exitCode, 0, rooted.stderr)
  t.same(await describeTree(target), await describeTree(join(data, 'db')), "the folder's contents at the target's root, no extra level")
  await writeFile(join(target, 'extra.bin'), 'not in the snapshot')
  await writeFile(join(target, 'keep.tmp'), 'left out by --exclude')
  const refused = await rds(['restore', `latest:${join(data, 'db')}`, '--target', target, '--delete'])
  t.equal(refused.exitCode, 2)
  t.match(refused.stderr, /^rds: --delete removes what the target holds beyond the snapshot, so it needs --force/m)
  const matched = await rds(['restore', `latest:${join(data, 'db')}`, '--target', target, '--force', '--delete', '--exclude', '*.tmp'])
  t.equal(matched.exitCode, 0, matched.stderr)
  t.same((await readdir(target)).sort(), [...(await readdir(join(data, 'db'))), 'keep.tmp'].sort(), 'the extra file deleted, the excluded one kept')
  // A single file put back into a live folder: the folder keeps its own mode, as restic leaves it.
  await chmod(target, 0o700)
  const one = await rds(['restore', `latest:${join(data, 'db')}`, '--target', target, '--force', '--path', '/blob.bin'])
  t.equal(one.exitCode, 0, one.stderr)
  t.equal((await stat(target)).mode & 0o777, 0o700, "with --path, the target's root keeps its own mode")
  const bad = await rds(['restore', 'latest:db', '--target', join(work, 'y')])
  t.equal(bad.exitCode, 2)
  t.match(bad.stderr, /^rds: "latest:db": the folder after the ":" must be a path in the snapshot as rds ls shows it, starting with "\/"\.$/m)
})

t.test('bad input: one sentence, a non-zero exit, and no target that looks complete', async (t) => {
  const notEmpty = join(work, 'not-empty')
  await mkdir(notEmpty)
  await writeFile(join(notEmpty, 'keep.txt'), 'mine')
  const cases: [string[], number, RegExp][] = [
    [['restore', '--target', notEmpty], 2, /^rds: --target .*not-empty is not empty; restore into a new or empty directory, or add --force/m],
    [['restore', 'deadbeef', '--target', join(work, 'x')], 1, /^rds: there is no snapshot "deadbeef" in the repository restore on .*; list them with "rds snapshots"\.$/m],
    [['restore', '--host', 'nobody-here', '--target', join(work, 'x')], 1, /^rds: there is no snapshot of host nobody-here in the repository/m],
    [['restore', '--target', join(work, 'x'), '--path', '/not/in/it'], 1, /^rds: \/not\/in\/it is not in snapshot [0-9a-f]{8} \(which holds .*\); list its files with "rds ls [0-9a-f]{8}"\.$/m],
    [['restore'], 2, /^rds: give exactly one destination: --target DIR or --to-volume NAME \(or, with MODE=swarm, --service NAME\)\.$/m],
  ]
  for (const [args, code, message] of cases) {
    const result = await rds(args)
    t.equal(result.exitCode, code, String(message))
    t.match(result.stderr, message)
  }
  t.same(await readdir(notEmpty), ['keep.txt'], 'the non-empty target is untouched')
  t.same((await readdir(work)).filter((name) => name === 'x' || name.includes('rds-partial')), [], 'no partial target')

  const forced = await rds(['restore', '--target', notEmpty, '--force', '--path', join(data, 'private.txt')])
  t.equal(forced.exitCode, 0, forced.stderr)
  t.same((await readdir(notEmpty)).sort(), ['keep.txt', data.split('/')[1]!].sort(), '--force restores beside what is there')
})

t.test('a restore that fails midway leaves no target behind', async (t) => {
  // The repository's data becomes unreadable: restic fails while restoring.
  const packs = join(server.home, 'restore', 'data')
  const moved = join(server.dir, 'data-moved')
  await import('node:fs/promises').then((fs) => fs.rename(packs, moved))
  t.teardown(() => import('node:fs/promises').then((fs) => fs.rename(moved, packs)))
  const target = join(work, 'broken')
  const result = await rds(['restore', '--target', target])
  t.not(result.exitCode, 0)
  t.match(result.stderr, /ERROR|rds: /)
  await t.rejects(stat(target), 'the target was not created')
  t.same((await readdir(work)).filter((name) => name.includes('rds-partial')), [], 'the partial restore was removed')
})
