// A single agent backs up into a repository of REPOSITORIES_FILE chosen by REPOSITORY_NAME, on real
// backends served on loopback (S3 by s3rver, REST by rclone serve restic): the same code reaches
// them in a controller's jobs. The credentials reach restic in its environment only.
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { execa } from 'execa'
import { RDS, RUNRESTIC, runBin } from '../fixtures/cli.js'
import { startBackends } from '../fixtures/backends.js'
import { recordingRestic } from '../fixtures/restic-argv.js'

const dir = await mkdtemp(join(tmpdir(), 'rds-named-'))
t.teardown(() => rm(dir, { recursive: true, force: true }))
const { s3, rest } = await startBackends(t, '127.0.0.1', 'agent')

const data = join(dir, 'data')
await execa('mkdir', ['-p', join(data, 'sub')])
const CONTENT = `${'a line of the volume\n'.repeat(2000)}`
await writeFile(join(data, 'sub', 'file.txt'), CONTENT)
const passwords = { s3: join(dir, 's3-password'), rest: join(dir, 'rest-password') }
await writeFile(passwords.s3, 's3-repository-password-4f1c')
await writeFile(passwords.rest, 'rest-repository-password-9a2e')
const file = join(dir, 'repositories')
await writeFile(
  file,
  [
    '# two repositories',
    '[s3]', `url = ${s3.url}`, `password-file = ${passwords.s3}`, 'option = s3.connections=2', ...Object.entries(s3.env).map(([name, value]) => `${name} = ${value}`),
    '[rest]', `url = ${rest.url}`, `password-file = ${passwords.rest}`, ...Object.entries(rest.env).map(([name, value]) => `${name} = ${value}`),
  ].join('\n'),
)
// restic and the rest through a wrapper that records every argv.
const wrapped = await recordingRestic(dir)
const env = (name: string) => ({ PATH: process.env.PATH!, HOME: dir, BACKUP_PATH: data, SNAPSHOT_HOST: 'named', REPOSITORIES_FILE: file, REPOSITORY_NAME: name, RESTIC_BINARY: wrapped.binary, LOCK_DIR: join(dir, 'locks'), RESTIC_CACHE_DIR: join(dir, 'cache') })

for (const [name, backend] of [['s3', s3], ['rest', rest]] as const) {
  t.test(`REPOSITORY_NAME=${name}: rds backup, rds snapshots, rds export and rds doctor reach it, with no credential in an argv or the output`, async (t) => {
    const backup = await runBin(RDS, ['backup'], env(name))
    t.equal(backup.exitCode, 0, backup.stderr)
    t.match(backup.stderr, new RegExp(`backing up \\S+ to ${name} \\(`), 'the log names the repository by its name')
    const listed = await runBin(RDS, ['snapshots', '--json'], env(name))
    t.equal(JSON.parse(listed.stdout).length, 1, listed.stderr)
    const exported = await runBin(RDS, ['export', '--path', `${data}/sub/file.txt`], env(name))
    t.equal(exported.exitCode, 0, exported.stderr)
    t.equal(exported.stdout, CONTENT, 'the file back, byte for byte')
    const doctor = await runBin(RDS, ['doctor'], env(name))
    t.equal(doctor.exitCode, 0, doctor.stdout + doctor.stderr)
    t.match(doctor.stdout, /^ok\s+REPOSITORIES_FILE: s3, rest/m)
    const usage = await runBin(RUNRESTIC, [], env(name))
    t.match(usage.stdout, new RegExp(`against this agent's repository ${name}, with the URL, password file, options and credentials REPOSITORIES_FILE`))
    const recorded = await wrapped.recorded()
    for (const text of [recorded, backup.stderr, doctor.stdout, usage.stdout, listed.stderr]) {
      t.notOk(text.includes(backend.secret) || text.includes('repository-password'), 'no credential or password')
    }
    t.notMatch(recorded, /--repo|s3:https|rest:http/, 'no URL in an argv either')
  })
}

t.test('a name REPOSITORIES_FILE does not list is refused with the names it does; no copy is made from such a repository', async (t) => {
  const unlisted = await runBin(RDS, ['backup'], env('offsite'))
  t.equal(unlisted.exitCode, 2)
  t.match(unlisted.stderr, /REPOSITORY_NAME is "offsite", which REPOSITORIES_FILE does not list \(it lists s3, rest\); write one of its names, or add \[offsite\] to it\./)
  const copied = await runBin(RDS, ['copy', '--to', join(dir, 'copy'), '--to-password-file', passwords.s3], env('s3'))
  t.equal(copied.exitCode, 2, 'rds copy from a repository of REPOSITORIES_FILE is refused')
  t.match(copied.stderr, /copies from s3 \(s3:https:\/\/127\.0\.0\.1:\d+\/rds-test\/agent\), a repository of REPOSITORIES_FILE, are not made by COPY_TO or rds copy: its credentials would reach the destination/)
})
