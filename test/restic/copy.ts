import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { execa } from 'execa'
import { RDS, runBin } from '../fixtures/cli.js'
import { useServerAndData, type SftpServer } from '../fixtures/sftp-server.js'
import { describeTree } from '../fixtures/tree.js'
import { startBackends } from '../fixtures/backends.js'
import { captureLogger } from '../fixtures/log.js'
import { recordingRestic } from '../fixtures/restic-argv.js'
import { copyClash, copyInto } from '../../lib/restic/copy.js'
import { namedRepository, serverRepository, type Repository } from '../../lib/restic/repository.js'
import type { NamedRepository } from '../../lib/config/repositories.js'
import { RunError } from '../../lib/errors.js'

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

const named = (name: string, url: string, env: Record<string, string> = {}, options: string[] = []): Repository =>
  namedRepository({ name, url, passwordFile: `/run/secrets/${name}`, options, env } satisfies NamedRepository)

t.test('a copy between two repositories is refused where restic would read one variable or option for both, and they differ', async (t) => {
  const s3 = named('s3', 's3:https://a.example/bucket', { AWS_ACCESS_KEY_ID: 'one', AWS_SECRET_ACCESS_KEY: 'x', RESTIC_CACERT: '/run/secrets/ca' }, ['s3.connections=2'])
  t.equal(copyClash(s3, named('other', 's3:https://b.example/bucket', { AWS_ACCESS_KEY_ID: 'two', AWS_SECRET_ACCESS_KEY: 'x', RESTIC_CACERT: '/run/secrets/ca' }, ['s3.connections=2'])), 'AWS_ACCESS_KEY_ID')
  t.equal(copyClash(s3, named('other', 's3:https://b.example/bucket', { AWS_ACCESS_KEY_ID: 'one', AWS_SECRET_ACCESS_KEY: 'x', RESTIC_CACERT: '/run/secrets/ca' }, ['s3.connections=2'])), undefined, 'the same account on another bucket')
  t.equal(copyClash(s3, named('other', 's3:https://b.example/bucket', { AWS_ACCESS_KEY_ID: 'one', AWS_SECRET_ACCESS_KEY: 'x', AWS_DEFAULT_REGION: 'eu-west-1', RESTIC_CACERT: '/run/secrets/ca' }, ['s3.connections=2'])), 'AWS_DEFAULT_REGION', 'set in one only: restic would use it for both')
  t.equal(copyClash(s3, named('other', 's3:https://b.example/bucket', { AWS_ACCESS_KEY_ID: 'one', AWS_SECRET_ACCESS_KEY: 'x', RESTIC_CACERT: '/run/secrets/ca' }, ['s3.connections=8'])), 'option s3.connections')
  t.equal(copyClash(s3, named('rest', 'rest:http://backup.lan:8000/', { RESTIC_REST_USERNAME: 'u', RESTIC_REST_PASSWORD: 'p' })), undefined, "backends that read none of each other's (plain HTTP reads no certificate)")
  t.equal(copyClash(s3, named('rest', 'rest:https://backup.example/', { RESTIC_REST_USERNAME: 'u' })), 'RESTIC_CACERT', 'a certificate authority would replace the system ones for both')
  t.equal(copyClash(s3, named('b2', 'b2:bucket:path', { B2_ACCOUNT_ID: 'i', B2_ACCOUNT_KEY: 'k', RESTIC_CACERT: '/run/secrets/ca' })), undefined)
  t.equal(copyClash(s3, named('b2', 'b2:bucket:path', { B2_ACCOUNT_ID: 'i', B2_ACCOUNT_KEY: 'k' })), 'RESTIC_CACERT', "the source's certificate authority would reach B2 too")
  t.equal(copyClash(named('plain', 's3:http://minio.lan:9000/bucket', { AWS_ACCESS_KEY_ID: 'one', AWS_SECRET_ACCESS_KEY: 'x' }), named('rest', 'rest:https://backup.example/', { RESTIC_CACERT: '/run/secrets/ca' })), undefined, 'S3 over plain HTTP reads no certificate')
  const server = serverRepository({ sshUser: 'restic', sshHost: 'server', sshPort: 2222, repoPath: 'swarm', serverMode: 'sftp', passwordFile: '/p', sshKnownHostsFile: '/k', sshPrivkeyFile: '/s' } as never, { alias: 'rds-server', configFile: '/ssh/config' } as never)
  t.equal(copyClash(server, s3), undefined, 'the stack\'s server (sftp through ssh) shares nothing with any of them')
})

t.test('between repositories of REPOSITORIES_FILE: S3 into REST, the snapshots named only, created with the chunker parameters, the credentials in no argv; a destination that vanished is never created afresh', async (t) => {
  const work = await mkdtemp(join(tmpdir(), 'rds-named-copy-'))
  t.teardown(() => rm(work, { recursive: true, force: true }))
  const { s3, rest } = await startBackends(t, '127.0.0.1', 'copy')
  const [s3Password, restPassword] = [join(work, 's3-password'), join(work, 'rest-password')]
  await writeFile(s3Password, 'the s3 password 77e1')
  await writeFile(restPassword, 'the rest password 09bc')
  const source = named('s3', s3.url, s3.env, ['s3.connections=2'])
  source.passwordFile = s3Password
  const target = named('rest', rest.url, rest.env)
  target.passwordFile = restPassword
  const cache = { RESTIC_CACHE_DIR: join(work, 'cache') }
  const restic = (repository: Repository, args: string[]) =>
    execa('restic', args, { env: { ...cache, ...repository.env, RESTIC_REPOSITORY: repository.url, RESTIC_PASSWORD_FILE: repository.passwordFile }, input: '', stripFinalNewline: false })
  await restic(source, ['init'])
  const saved: string[] = []
  for (const content of ['first\n', 'second\n']) {
    await writeFile(join(work, 'file'), content)
    await restic(source, ['backup', '--host', 'app', join(work, 'file')])
    saved.push(JSON.parse((await restic(source, ['snapshots', '--json', '--latest', '1'])).stdout)[0].id)
  }
  // restic through a wrapper that records every argv.
  const wrapped = await recordingRestic(work)
  const { log, text } = captureLogger()
  const from = { binary: wrapped.binary, repository: source, retryLock: '1m' }

  await copyInto(from, target, { ids: [saved[0]!] }, log)
  t.match(text(), /copy: no repository at rest \(rest:http:\/\/127\.0\.0\.1:\d+\/\) yet, creating it with the source's chunker parameters/)
  const copies = async () => JSON.parse((await restic(target, ['snapshots', '--json'])).stdout) as { original?: string; id: string }[]
  t.same((await copies()).map((copy) => copy.original), [saved[0]], 'the one named, keeping its original ID')
  const chunker = async (repository: Repository) => JSON.parse((await restic(repository, ['cat', 'config'])).stdout).chunker_polynomial
  t.equal(await chunker(target), await chunker(source), 'the same chunker: deduplication carries over')
  await copyInto(from, target, { ids: saved }, log)
  t.same((await copies()).map((copy) => copy.original).sort(), [...saved].sort(), 'the next copy adds what is new, and the first once only')
  t.equal((await restic(target, ['dump', 'latest', join(work, 'file')])).stdout, 'second\n', 'restored from the copy, byte for byte')
  await copyInto(from, target, { ids: [] }, log)
  const argv = await wrapped.recorded()
  for (const secret of [s3.secret, rest.secret, 'the s3 password', 'the rest password']) t.notOk(argv.includes(secret) || text().includes(secret), 'no credential in an argv or the log')
  t.notMatch(argv, /s3:https|rest:http/, 'nor a URL')
  t.equal(argv.split('\n').filter((line) => / copy( |$)/.test(line)).length, 2, 'no snapshot named: no restic copy at all (it would copy every one)')

  // Gone on the server (a bucket emptied, a disk that did not mount), where copies were made.
  const savedThere = async () => ({ id: saved[1]!, time: '2026-12-06T03:00:00Z', by: 'app (copied)' })
  const elsewhere = { ...target, url: `${rest.url}gone/`, describe: 'rest (gone)' }
  const gone = await copyInto(from, elsewhere, { ids: saved, savedThere }, log).catch((error: Error) => error)
  t.ok(gone instanceof RunError && gone.exitCode === 10, 'a loud failure')
  t.match((gone as Error).message, /^the repository rest \(gone\) is gone, although snapshot [0-9a-f]{8} of app \(copied\) was saved there at 2026-12-06T03:00:00Z; refusing to start a new, empty one/)
  await rm(rest.files!, { recursive: true, force: true })
  const emptied = await copyInto(from, target, { ids: saved, savedThere }, log).catch((error: Error) => error)
  t.ok(emptied instanceof RunError, `the same where the server's files were deleted under it: ${(emptied as Error).message}`)
  t.notOk(JSON.stringify(await readdir(rest.files!, { recursive: true }).catch(() => [])).includes('config'), 'no new repository in the place of either')
})
