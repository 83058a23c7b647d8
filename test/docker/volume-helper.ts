import { mkdir, readdir, readFile, stat, truncate, writeFile } from 'node:fs/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import { join } from 'node:path'
import t from 'tap'
import { execa } from 'execa'
import { RDS, runBin } from '../fixtures/cli.js'
import { useHostEngine } from '../fixtures/docker.js'
import { useBackedUpRepository } from '../fixtures/backed-up.js'
import { readAtOnce, readSlowly } from '../fixtures/slow-reader.js'
import { describeTree } from '../fixtures/tree.js'

const PREFIX = 'rds-test-vol-'
const missing = await useHostEngine(t)
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

  t.test("SNAPSHOT:FOLDER: that folder of the snapshot becomes the volume's root, with its owner, mode and time", async (t) => {
    const rooted = `${PREFIX}rooted`
    const result = await runBin(RDS, ['restore', `latest:${join(data, 'db')}`, '--to-volume', rooted], env)
    t.equal(result.exitCode, 0, result.stderr)
    t.same(await volumeTree(rooted), await describeTree(join(data, 'db')))
  })

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
      [['restore', '--target', join(work, 'x'), '--to-volume', `${PREFIX}x`], 2, /^rds: give exactly one destination: --target DIR or --to-volume NAME \(or, with MODE=swarm, --service NAME\)\.$/m],
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

  t.test('helpers leave no container and no volume behind, also with an image that declares volumes', async (t) => {
    // The agent's image declares VOLUME /var/cache/restic: each helper made from it gets an anonymous volume.
    const image = 'rds-test-helper-with-volume'
    await execa('docker', ['build', '-q', '-t', image, '-'], { input: 'FROM debian:trixie-slim\nVOLUME /var/cache/restic\n' })
    const helperEnv = { ...env, HELPER_IMAGE: image }
    // Volumes no container uses: what a removed helper would leave (other tests' running containers do not count).
    const otherVolumes = async () =>
      (await execa('docker', ['volume', 'ls', '-q', '--filter', 'dangling=true'])).stdout.split('\n').filter((name) => name && !name.startsWith(PREFIX)).sort()
    const before = await otherVolumes()
    const volume = `${PREFIX}helpers`
    t.equal((await runBin(RDS, ['restore', '--to-volume', volume], helperEnv)).exitCode, 0)
    t.equal((await runBin(RDS, ['export', '--volume', volume, '--output', join(work, 'helpers.tar')], helperEnv)).exitCode, 0)
    t.equal((await runBin(RDS, ['import', join(work, 'helpers.tar'), '--to-volume', `${PREFIX}helpers-2`], helperEnv)).exitCode, 0)
    t.same(await otherVolumes(), before, 'no anonymous volume was left')
    t.equal((await execa('docker', ['ps', '-aq', '--filter', 'label=restic-docker-swarm.helper'])).stdout, '', 'no helper container was left')
    t.equal((await stat(join(work, 'helpers.tar'))).mode & 0o777, 0o600, 'the archive is readable by its owner only')
  })

  t.test('export --volume to a slow reader gets every byte; to a reader that goes away, fails and stops the helper', async (t) => {
    const volume = `${PREFIX}restored`
    const whole = await readAtOnce(process.execPath, [RDS, 'export', '--volume', volume], env)
    t.equal(whole.exitCode, 0, whole.stderr)
    const slow = await readSlowly(process.execPath, [RDS, 'export', '--volume', volume], env)
    t.equal(slow.exitCode, 0, slow.stderr)
    t.equal(slow.bytes, whole.bytes, `every byte (${whole.bytes})`)
    t.equal(slow.sha256, whole.sha256)
    const writer = execa(process.execPath, [RDS, 'export', '--volume', volume], { env, extendEnv: false, reject: false, stdin: 'ignore', stderr: 'pipe' })
    const [, wrote] = await Promise.all([writer.pipe('head', ['-c', '1000'], { reject: false }), writer])
    t.equal(wrote.exitCode, 1)
    t.match(wrote.stderr, /^rds: the volume rds-test-vol-restored could not be written out whole \(the reader went away\); the helper container was stopped\.$/m)
    t.equal((await execa('docker', ['ps', '-aq', '--filter', 'label=restic-docker-swarm.helper'])).stdout, '', 'no helper container was left')
  })

  t.test('SIGTERM to export --volume and restore --to-volume leaves no container, no partial file, no volume, no lock', async (t) => {
    // A volume big enough that exporting it takes a few seconds.
    const big = `${PREFIX}big`
    await execa('docker', ['run', '--rm', '-v', `${big}:/v`, 'debian:trixie-slim', 'sh', '-c', 'head -c 400000000 /dev/urandom > /v/big'])
    const helperRunning = async () => (await execa('docker', ['ps', '-q', '--filter', 'label=restic-docker-swarm.helper'])).stdout !== ''
    const exporting = execa(process.execPath, [RDS, 'export', '--volume', big, '--output', join(work, 'big.tar')], { env, extendEnv: false, reject: false })
    for (let i = 0; i < 200 && !(await helperRunning()); i++) await sleep(50)
    exporting.kill('SIGTERM')
    const exported = await exporting
    t.equal(exported.exitCode, 130, exported.stderr)
    t.match(exported.stderr, /interrupted before it finished/)
    t.equal((await execa('docker', ['ps', '-aq', '--filter', 'label=restic-docker-swarm.helper'])).stdout, '', 'no helper container')
    t.same((await readdir(work)).filter((name) => name.includes('big.tar')), [], 'no archive and no partial file')

    const tmp = join(work, 'tmp')
    await mkdir(tmp)
    const restoring = execa(process.execPath, [RDS, 'restore', '--to-volume', `${PREFIX}interrupted`], { env: { ...env, TMPDIR: tmp }, extendEnv: false, reject: false, all: true, buffer: false })
    let log = ''
    restoring.all.on('data', (chunk: Buffer) => (log += chunk.toString()))
    for (let i = 0; i < 400 && !/restore: snapshot/.test(log); i++) await sleep(25)
    restoring.kill('SIGTERM')
    const restored = await restoring
    t.equal(restored.exitCode, 130, log)
    t.same(await readdir(tmp), [], 'no temporary directory is left')
    t.notOk((await volumeNames()).includes(`${PREFIX}interrupted`), 'no half-made volume')
    t.same(await readdir(join(repo.server.home, 'volumes', 'locks')), [], 'no lock is left')
    await execa('docker', ['volume', 'rm', big])
  })
})
