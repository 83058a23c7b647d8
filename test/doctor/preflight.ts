// rds doctor against the real SFTP server, restic and Docker engine: a good set-up passes, and each
// broken one is named in one sentence, without a backup being taken.
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { RDS, RUNRESTIC, runBin } from '../fixtures/cli.js'
import { freePort, keygen, useServerAndData } from '../fixtures/sftp-server.js'

const fixture = useServerAndData(t)

t.test('rds doctor: all is well, then each of fourteen broken set-ups is named', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rds-doctor-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const env = fixture.server.env(fixture.data, { REPO_PATH: 'doctor', STATUS_FILE: join(dir, 'state', 'status.json') })
  const doctor = (changes: Record<string, string | undefined>) => {
    const changed = { ...env, ...changes }
    for (const [name, value] of Object.entries(changes)) if (value === undefined) delete changed[name]
    return runBin(RDS, ['doctor'], changed as Record<string, string>)
  }

  const fresh = await doctor({})
  t.equal(fresh.exitCode, 0, fresh.stdout)
  t.match(fresh.stdout, /^ok {4}configuration: MODE=service, backing up \S+\nok {4}restic: restic 0\.\d+\.\d+\nok {4}SSH_PRIVKEY_FILE: a private key/)
  t.match(fresh.stdout, /ok {4}repository: reachable; there is no repository yet: the first backup creates it\n$/)
  t.equal((await runBin(RUNRESTIC, ['snapshots'], env)).exitCode, 10, 'the doctor made nothing')
  t.equal((await runBin(RDS, ['backup'], env)).exitCode, 0)
  t.match((await doctor({})).stdout, /ok {4}repository: reachable, and the password opens it\n$/)

  const empty = join(dir, 'empty')
  await writeFile(empty, '')
  const wrongPassword = join(dir, 'wrong-password')
  await writeFile(wrongPassword, 'not it\n')
  const otherKey = join(dir, 'other-key')
  const otherPublic = await keygen(otherKey)
  const otherHostKey = join(dir, 'other-known-hosts')
  await writeFile(otherHostKey, `[127.0.0.1]:${fixture.server.port} ${otherPublic}\n`)
  const closedPort = String(await freePort())
  const cases: [string, Record<string, string | undefined>, string, RegExp][] = [
    ['no server', { SSH_HOST: undefined }, 'configuration', /SSH_HOST is not set/],
    ['a bad schedule', { RUN_AT: 'daily' }, 'configuration', /RUN_AT "daily" is not a valid cron expression/],
    ['no restic', { RESTIC_BINARY: '/nonexistent/restic' }, 'restic', /restic was not found \(RESTIC_BINARY is "\/nonexistent\/restic"\)/],
    ['no private key', { SSH_PRIVKEY_FILE: join(dir, 'missing') }, 'SSH_PRIVKEY_FILE', /which does not exist/],
    ['a public key for the private one', { SSH_PRIVKEY_FILE: `${otherKey}.pub` }, 'SSH_PRIVKEY_FILE', /which does not hold a private key/],
    ['an empty known_hosts', { SSH_KNOWN_HOSTS_FILE: empty }, 'SSH_KNOWN_HOSTS_FILE', /which is empty/],
    ['an empty password file', { RESTIC_REPO_PASSWORD_FILE: empty }, 'RESTIC_REPO_PASSWORD_FILE', /which is empty/],
    ['a wrong password', { RESTIC_REPO_PASSWORD_FILE: wrongPassword }, 'repository', /the password in RESTIC_REPO_PASSWORD_FILE .* is wrong/],
    ['another host key', { SSH_KNOWN_HOSTS_FILE: otherHostKey }, 'repository', /presented a host key that does not match SSH_KNOWN_HOSTS_FILE/],
    ['a key the server refuses', { SSH_PRIVKEY_FILE: otherKey }, 'repository', /refused|Permission denied|not accepted/],
    ['no server listening', { SSH_PORT: closedPort }, 'repository', /refused the connection|Connection refused|cannot be reached/],
    ['no backup path', { BACKUP_PATH: join(dir, 'nope') }, 'BACKUP_PATH', /which does not exist; mount the volume/],
    ['hooks in a service not here', { SERVICE_NAME: 'nostack_nodb', PRE_HOOK: 'true' }, 'SERVICE_NAME', /SERVICE_NAME is nostack_nodb, which has no running container on this node/],
    ['a dump of a service not here', { SERVICE_NAME: 'nostack_nodb', DUMP_COMMAND: 'postgres', BACKUP_PATH: undefined }, 'SERVICE_NAME', /SERVICE_NAME is nostack_nodb, which has no running container on this node \(\S+\) for its dump;/],
    ['a bad notification URL', { NOTIFY_URLS: 'ftp://x' }, 'NOTIFY_URLS', /entry 1 has the scheme "ftp"/],
    ['a status file nowhere', { STATUS_FILE: '/etc/hostname/status.json' }, 'STATUS_FILE', /cannot make or write \((ENOTDIR|EEXIST)\)/],
  ]
  for (const [name, changes, what, sentence] of cases) {
    const run = await doctor(changes)
    t.equal(run.exitCode, 1, `${name}: exit code 1`)
    const failed = run.stdout.split('\n').filter((line) => line.startsWith('FAIL'))
    t.match(failed[0], new RegExp(`^FAIL  ${what}: `), `${name}: ${what} is named first`)
    t.match(failed[0], sentence, name)
    t.ok(failed.every((line) => !line.slice(6).includes('\n')), `${name}: one line each`)
  }

  const two = await doctor({ BACKUP_PATH: join(dir, 'nope'), NOTIFY_URLS: 'ftp://x' })
  t.same(two.stdout.split('\n').filter((line) => line.startsWith('FAIL')).map((line) => line.split(':')[0]), ['FAIL  NOTIFY_URLS', 'FAIL  BACKUP_PATH', 'FAIL  repository'], 'every problem is named, not only the first')
})
