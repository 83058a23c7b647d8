import { mkdir, readFile, stat, truncate, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { execa } from 'execa'
import { RDS, runBin } from './fixtures/cli.js'
import { swarmUnavailable } from './fixtures/docker.js'
import { useBackedUpRepository } from './fixtures/backed-up.js'
import { describeTree } from './fixtures/tree.js'

const PREFIX = 'rds-test-vol-'
const missing = await swarmUnavailable()
// In CI a missing engine is a failure (.ci/run starts one); elsewhere these tests are skipped, saying why.
if (missing && process.env.CI) t.fail(`${missing}; run test/e2e/start-docker first`)

const removeTestVolumes = async () => {
  const names = (await execa('docker', ['volume', 'ls', '-q', '--filter', `name=${PREFIX}`], { reject: false })).stdout.split('\n').filter(Boolean)
  if (names.length > 0) await execa('docker', ['volume', 'rm', '-f', ...names], { reject: false })
}
const volumeNames = async () => (await execa('docker', ['volume', 'ls', '-q', '--filter', `name=${PREFIX}`])).stdout.split('\n').filter(Boolean).sort()

t.test('Docker volumes', { skip: missing ? `${missing}; run test/e2e/start-docker to include it` : false }, async (t) => {
  const repo = useBackedUpRepository(t, { env: { REPO_PATH: 'volumes', HELPER_IMAGE: 'debian:trixie-slim' }, fullTree: true })
  let data: string, env: Record<string, string>, work: string
  t.before(async () => {
    ;({ data, env, work } = repo)
    await removeTestVolumes()
  })
  t.teardown(removeTestVolumes)

  /** A volume's contents, through rds export --volume and GNU tar, described for comparison. */
  const volumeTree = async (volume: string) => {
    const archive = join(work, `${volume}.tar`)
    const exported = await runBin(RDS, ['export', '--volume', volume, '--output', archive], env)
    if (exported.exitCode !== 0) throw new Error(exported.stderr)
    const out = join(work, `${volume}-tree`)
    await mkdir(out)
    await execa('tar', ['-x', '-p', '--numeric-owner', '-f', archive, '-C', out])
    return describeTree(out)
  }

  t.test('restore into a new volume, export it, import it into another: the same tree every time', async (t) => {
    const restored = `${PREFIX}restored`
    const result = await runBin(RDS, ['restore', '--to-volume', restored], env)
    t.equal(result.exitCode, 0, result.stderr)
    const original = await describeTree(data)
    const fromRestore = await volumeTree(restored)
    t.same(fromRestore, original, 'bytes, owners, modes, times, symlinks, hard links, empty folders')
    const sparse = await stat(join(work, `${restored}-tree`, 'sparse.img'))
    t.ok(sparse.blocks * 512 < 1024 * 1024, 'the sparse file stays sparse through the volume')

    const imported = `${PREFIX}imported`
    const archive = join(work, `${restored}.tar`)
    const importResult = await runBin(RDS, ['import', archive, '--to-volume', imported], env)
    t.equal(importResult.exitCode, 0, importResult.stderr)
    t.same(await volumeTree(imported), original)

    const piped = `${PREFIX}piped`
    const fromStdin = await runBin(RDS, ['import', '-', '--to-volume', piped], env, { input: await readFile(archive) })
    t.equal(fromStdin.exitCode, 0, fromStdin.stderr)
    t.same(await volumeTree(piped), original, 'import from standard input')
  })

  t.test('bad input: a clear sentence, a non-zero exit, and no half-made volume', async (t) => {
    const existing = `${PREFIX}restored`
    const before = await volumeNames()
    const truncated = join(work, 'truncated.tar')
    await writeFile(truncated, await readFile(join(work, `${existing}.tar`)))
    await truncate(truncated, 10_000)
    const notTar = join(work, 'not.tar')
    await writeFile(notTar, 'this is not a tar archive\n'.repeat(100))
    const cases: [string[], number, RegExp][] = [
      [['restore', '--to-volume', existing], 2, /^rds: volume rds-test-vol-restored already exists and is not empty; choose a new name, or add --force/m],
      [['import', notTar, '--to-volume', existing], 2, /^rds: volume rds-test-vol-restored already exists; choose a new name, or add --force/m],
      [['restore', '--to-volume', 'bad/name'], 2, /^rds: "bad\/name" is not a volume name Docker accepts/m],
      [['import', truncated, '--to-volume', `${PREFIX}from-truncated`], 2, /^rds: .*truncated\.tar is not a complete tar archive \(.*\); nothing was imported\.$/m],
      [['import', notTar, '--to-volume', `${PREFIX}from-garbage`], 2, /^rds: .*not\.tar is not a complete tar archive/m],
      [['export', '--volume', `${PREFIX}nope`, '--output', join(work, 'nope.tar')], 2, /^rds: there is no volume rds-test-vol-nope/m],
      [['restore', '--target', join(work, 'x'), '--to-volume', `${PREFIX}x`], 2, /^rds: give exactly one destination: --target DIR or --to-volume NAME\.$/m],
      [['restore'], 2, /^rds: give exactly one destination/m],
    ]
    for (const [args, code, message] of cases) {
      const result = await runBin(RDS, args, env)
      t.equal(result.exitCode, code, String(message))
      t.match(result.stderr, message)
    }
    t.same(await volumeNames(), before, 'no volume was created')
    await t.rejects(stat(join(work, 'nope.tar')), 'no archive was written')
    const forced = await runBin(RDS, ['restore', '--to-volume', existing, '--force'], env)
    t.equal(forced.exitCode, 0, forced.stderr)
  })
})
