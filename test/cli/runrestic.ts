import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { execa } from 'execa'
import { RDS, RUNRESTIC, runBin } from '../fixtures/cli.js'
import { useBackedUpRepository } from '../fixtures/backed-up.js'
import type { SftpServer } from '../fixtures/sftp-server.js'

const repo = useBackedUpRepository(t, { env: { REPO_PATH: 'runrestic', SNAPSHOT_HOST: 'app' } })
let server: SftpServer, data: string, env: Record<string, string>
t.before(() => {
  ;({ server, data, env } = repo)
})

t.test('without arguments it prints the default command and a help, and no secret', async (t) => {
  const result = await runBin(RUNRESTIC, [], env)
  t.equal(result.exitCode, 0)
  t.match(result.stdout, /^usage: runrestic \[restic arguments\.\.\.\]/)
  t.match(
    result.stdout,
    `RESTIC_REPOSITORY=sftp:rds-repository-server:runrestic RESTIC_PASSWORD_FILE=${server.passwordFile} restic --option 'sftp.args=-F "<private temporary directory>/ssh_config"' [restic arguments...]`,
  )
  t.match(result.stdout, `HostName 127.0.0.1`)
  t.match(result.stdout, `Port ${server.port}`)
  t.match(result.stdout, /runrestic snapshots/)
  t.notOk(result.stdout.includes(server.password), 'the password is not printed')
  t.equal((await runBin(RUNRESTIC, ['--help'], env)).stdout, result.stdout)
})

t.test('restic arguments pass through, and so do stdout and the exit code', async (t) => {
  const snapshots = await runBin(RUNRESTIC, ['snapshots', '--json'], env)
  t.equal(snapshots.exitCode, 0)
  const list = JSON.parse(snapshots.stdout) as { hostname: string; paths: string[] }[]
  t.equal(list.length, 1)
  t.equal(list[0]?.hostname, 'app')
  t.same(list[0]?.paths, [data])

  const missing = await runBin(RUNRESTIC, ['cat', 'snapshot', 'ffffffff'], env)
  t.equal(missing.exitCode, 1, "restic's failure code comes back")
  t.match(missing.stderr, /ffffffff/)

  const wrong = join(server.dir, 'wrong')
  await writeFile(wrong, 'nope\n')
  const wrongPassword = await runBin(RUNRESTIC, ['snapshots'], { ...env, RESTIC_REPO_PASSWORD_FILE: wrong })
  t.equal(wrongPassword.exitCode, 12)
})

t.test('stdin passes through: a backup from stdin dumps back byte for byte', async (t) => {
  const input = Buffer.from(Array.from({ length: 5000 }, (_, i) => `row ${i}\n`).join(''))
  const backup = await runBin(RUNRESTIC, ['backup', '--stdin', '--stdin-filename', 'rows.txt', '--host', 'stdin-test'], env, { input })
  t.equal(backup.exitCode, 0, backup.stderr)
  const dump = await runBin(RUNRESTIC, ['dump', '--host', 'stdin-test', 'latest', '/rows.txt'], env)
  t.equal(dump.exitCode, 0)
  t.equal(dump.stdout, input.toString())
})

t.test('bad configuration is one sentence and exit code 2', async (t) => {
  const result = await runBin(RUNRESTIC, ['snapshots'], { ...env, SSH_KNOWN_HOSTS_FILE: '/nonexistent' })
  t.equal(result.exitCode, 2)
  t.equal(result.stderr, 'runrestic: SSH_KNOWN_HOSTS_FILE is /nonexistent, which does not exist; create the known_hosts file there (usually as a Swarm secret) or point SSH_KNOWN_HOSTS_FILE at it.\n')
  const noHost = await runBin(RUNRESTIC, [], { ...env, SSH_HOST: '' })
  t.equal(noHost.exitCode, 2)
  t.match(noHost.stderr, /^runrestic: SSH_HOST is not set/)
  const noRestic = await runBin(RUNRESTIC, ['snapshots'], { ...env, RESTIC_BINARY: '/nonexistent/restic' })
  t.equal(noRestic.exitCode, 2)
  t.match(noRestic.stderr, /^runrestic: restic was not found/)
})

t.test('the private state directory is removed when restic is done', async (t) => {
  const tmp = await mkdtemp(join(tmpdir(), 'rds-tmp-'))
  t.teardown(() => rm(tmp, { recursive: true, force: true }))
  const result = await runBin(RUNRESTIC, ['snapshots'], { ...env, TMPDIR: tmp })
  t.equal(result.exitCode, 0)
  t.same(await readdir(tmp), [])
})

t.test('RESTIC_REPOSITORY: any restic repository, here a local path, with no SSH settings', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rds-url-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const urlEnv = { PATH: env.PATH!, HOME: dir, RESTIC_CACHE_DIR: join(dir, 'cache'), RESTIC_REPOSITORY: join(dir, 'repo'), RESTIC_REPO_PASSWORD_FILE: server.passwordFile, BACKUP_PATH: data, SNAPSHOT_HOST: 'local' }
  const backup = await runBin(RDS, ['backup'], urlEnv)
  t.equal(backup.exitCode, 0, backup.stderr)
  t.match(backup.stderr, `backing up ${data} to ${join(dir, 'repo')} as host local`)
  const snapshots = await runBin(RUNRESTIC, ['snapshots', '--json'], urlEnv)
  t.equal(JSON.parse(snapshots.stdout).length, 1)
  const usage = await runBin(RUNRESTIC, [], { ...urlEnv, RESTIC_REPOSITORY: 'rest:https://u:topsecret@example.com/r/' })
  t.match(usage.stdout, `RESTIC_REPOSITORY='rest:https://u:***@example.com/r/' RESTIC_PASSWORD_FILE=${server.passwordFile} restic [restic arguments...]`)
  t.notMatch(usage.stdout, /topsecret/)
})

t.test('LIMIT_UPLOAD and LIMIT_DOWNLOAD reach every restic command, of rds backup and of runrestic, and runrestic says so', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rds-bandwidth-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  // restic as it is, writing down the arguments of each command it is given.
  const real = (await execa('which', ['restic'])).stdout
  const calls = join(dir, 'calls')
  await writeFile(join(dir, 'restic'), `#!/bin/sh\necho "$*" >> ${calls}\nexec ${real} "$@"\n`, { mode: 0o755 })
  const limited = { ...env, RESTIC_BINARY: join(dir, 'restic'), LIMIT_UPLOAD: '2048', LIMIT_DOWNLOAD: '4096' }
  const backup = await runBin(RDS, ['backup'], limited)
  t.equal(backup.exitCode, 0, backup.stderr)
  t.equal((await runBin(RUNRESTIC, ['snapshots'], limited)).exitCode, 0)
  const lines = (await readFile(calls, 'utf8')).trim().split('\n').filter((line) => line !== 'version')
  t.ok(lines.some((line) => / backup /.test(line)) && lines.some((line) => /snapshots/.test(line)), lines.join('\n'))
  for (const line of lines) t.match(line, /--limit-upload 2048 --limit-download 4096 /, line.replace(/ .*/, ''))
  t.match((await runBin(RUNRESTIC, [], limited)).stdout, /restic --option '[^']*' --limit-upload 2048 --limit-download 4096 \[restic arguments\.\.\.\]/)
  const bad = await runBin(RDS, ['backup'], { ...env, LIMIT_UPLOAD: '2MB' })
  t.equal(bad.exitCode, 2)
  t.match(bad.stderr, /^rds: LIMIT_UPLOAD must be a whole number of KiB\/s from 1 to 10000000 \(1024 is 1 MiB\/s\), not "2MB"\.\n$/)
})
