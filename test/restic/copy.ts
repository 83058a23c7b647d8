import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { execa } from 'execa'
import { RDS, runBin } from '../fixtures/cli.js'
import { useServerAndData, type SftpServer } from '../fixtures/sftp-server.js'
import { describeTree } from '../fixtures/tree.js'

const fixture = useServerAndData(t)
let server: SftpServer
let data: string
t.before(() => {
  ;({ server, data } = fixture)
})

t.test('copy to a second repository, created with the same chunker parameters, and restore from there', async (t) => {
  const work = await mkdtemp(join(tmpdir(), 'rds-copy-'))
  t.teardown(() => rm(work, { recursive: true, force: true }))
  const env = server.env(data, { REPO_PATH: 'copy-source', SNAPSHOT_HOST: 'app' })
  t.equal((await runBin(RDS, ['backup'], env)).exitCode, 0)
  const second = join(work, 'second')
  const secondPassword = join(work, 'second-password')
  await writeFile(secondPassword, 'another password\n')

  const copy = await runBin(RDS, ['copy', '--to', second, '--to-password-file', secondPassword], env)
  t.equal(copy.exitCode, 0, copy.stderr)
  t.match(copy.stderr, /copy: no repository at .*second yet, creating it with the source's chunker parameters/)
  const chunker = async (repo: string, password: string) =>
    JSON.parse((await execa('restic', ['-r', repo, '--password-file', password, 'cat', 'config'], { env: { RESTIC_CACHE_DIR: join(work, 'cache') } })).stdout).chunker_polynomial
  t.equal(await chunker(second, secondPassword), await chunker(join(server.home, 'copy-source'), server.passwordFile))

  t.equal((await runBin(RDS, ['backup'], env)).exitCode, 0)
  const again = await runBin(RDS, ['copy', '--to', second, '--to-password-file', secondPassword, '--host', 'app'], env)
  t.equal(again.exitCode, 0, again.stderr)
  t.notMatch(again.stderr, /creating it/, 'the existing copy is not created again')

  const secondEnv = { ...env, RESTIC_REPOSITORY: second, RESTIC_REPO_PASSWORD_FILE: secondPassword }
  const snapshots = JSON.parse((await runBin(RDS, ['snapshots', '--json'], secondEnv)).stdout)
  t.equal(snapshots.length, 2, 'both snapshots are in the copy')
  const target = join(work, 'restored')
  const restore = await runBin(RDS, ['restore', '--target', target], secondEnv)
  t.equal(restore.exitCode, 0, restore.stderr)
  t.same(await describeTree(join(target, data)), await describeTree(data))
})

t.test('a missing password file for the second repository is a clear error', async (t) => {
  const result = await runBin(RDS, ['copy', '--to', '/tmp/x', '--to-password-file', '/nonexistent/pw'], server.env(data, { REPO_PATH: 'copy-source' }))
  t.equal(result.exitCode, 2)
  t.match(result.stderr, /^rds: --to-password-file is \/nonexistent\/pw, which does not exist/)
})
