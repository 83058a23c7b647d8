// The server's maintenance with the real restic on real repositories: forget and prune by each
// repository's policy, check, abandoned uploads removed (old ones only), stale locks left to restic's
// rule; results in STATUS_FILE; `rds server` runs it on schedule beside its command (sshd in the
// image) and ends with that command.
import { mkdir, mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { execa } from 'execa'
import { readStatus } from '../../lib/observe/status-file.js'
import { RDS, runBin } from '../fixtures/cli.js'
import { waitFor } from '../fixtures/swarm.js'

t.setTimeout(4 * 60 * 1000)

async function repositories(t: { teardown: (f: () => Promise<void>) => void }) {
  const dir = await mkdtemp(join(tmpdir(), 'rds-maint-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const home = join(dir, 'repositories')
  await mkdir(home)
  const passwordFile = join(dir, 'password')
  await writeFile(passwordFile, 'correct horse\n', { mode: 0o600 })
  const restic = (repository: string, args: string[], input?: string) =>
    execa('restic', ['--repo', join(home, repository), '--password-file', passwordFile, ...args], { input, reject: false })
  const snapshots = async (repository: string) => JSON.parse((await restic(repository, ['snapshots', '--json'])).stdout) as { id: string; hostname: string }[]
  const env = (extra: Record<string, string> = {}) => ({
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: dir,
    RESTIC_CACHE_DIR: join(dir, 'cache'),
    REPOSITORIES_DIR: home,
    MAINTENANCE_FILE: join(dir, 'maintenance'),
    AUTHORIZED_KEYS_FILE: join(dir, 'authorized_keys'),
    STATUS_FILE: join(dir, 'status.json'),
    ...extra,
  })
  return { dir, home, passwordFile, restic, snapshots, env }
}

t.test('rds maintain: each repository by its own policy, per host; check; old abandoned uploads removed, new ones kept', async (t) => {
  const { dir, home, passwordFile, restic, snapshots, env } = await repositories(t)
  for (const repository of ['db', 'app/web', 'unlisted']) {
    t.equal((await restic(repository, ['init'])).exitCode, 0)
    for (const host of ['a', 'b']) for (let i = 0; i < 3; i++) t.equal((await restic(repository, ['backup', '--stdin', '--host', host], `${repository} ${host} ${i}\n`)).exitCode, 0)
  }
  const packs = join(home, 'db', 'data', '00')
  await mkdir(packs, { recursive: true })
  await writeFile(join(packs, 'abc-restic-temp-old'), Buffer.alloc(4096))
  await writeFile(join(packs, 'abc-restic-temp-new'), Buffer.alloc(100))
  const twoDaysAgo = new Date(Date.now() - 2 * 24 * 3600_000)
  await utimes(join(packs, 'abc-restic-temp-old'), twoDaysAgo, twoDaysAgo)
  await writeFile(join(dir, 'maintenance'), `db ${passwordFile} keep-last=1\napp/web ${passwordFile} keep-last=2 read-data-subset=10%\n`)
  await writeFile(join(dir, 'authorized_keys'), `restrict,command="rds-serve --append-only db" ssh-ed25519 AAAAC3Nza agent-db\n`)

  const run = await runBin(RDS, ['maintain'], env())
  t.equal(run.exitCode, 0, run.stderr)
  t.equal((await snapshots('db')).length, 2, 'db: keep-last 1 for each host')
  t.equal((await snapshots('app/web')).length, 4, 'app/web: keep-last 2 for each host')
  t.equal((await snapshots('unlisted')).length, 6, 'a repository not in the file is left alone')
  t.same((await readdir(packs)).filter((name) => name.includes('restic-temp')), ['abc-restic-temp-new'], 'only the upload older than a day is removed')
  t.match(run.stderr, /WARN  maintenance: the repository unlisted is not in MAINTENANCE_FILE: it is never forgotten, pruned or checked here; add a line for it\./)
  t.match(run.stderr, /WARN  maintenance: db is written by an append-only key \(agent-db\) and its policy has no keep-within/)
  t.match(run.stderr, /maintenance db: forgot 4 of 6 snapshots and pruned/)
  t.match(run.stderr, /maintenance db: removed 1 abandoned uploads \(4\.0 KiB\)/)
  t.match(run.stderr, /maintenance app\/web: checked \(reading 10% of the data\): no errors/)
  const status = await readStatus(join(dir, 'status.json'))
  t.match(status.jobs['maintenance db']?.lastSuccess, { ok: true, message: /forgot 4 of 6 snapshots and pruned; checked: no errors; removed 1 abandoned uploads/ })
  t.equal(status.jobs['maintenance app/web']?.lastSuccess?.ok, true)

  const one = await runBin(RDS, ['maintain', 'app/web'], env())
  t.equal(one.exitCode, 0)
  t.notMatch(one.stderr, /maintenance db:/, 'a named repository only')
  const unknown = await runBin(RDS, ['maintain', 'nope'], env())
  t.equal(unknown.exitCode, 2)
  t.match(unknown.stderr, /rds: nope is not in MAINTENANCE_FILE; name one of db, app\/web\./)
})

t.test("the guard's rejections never take a policy's places: held back while newest, forgotten once an accepted backup follows, also as copies", async (t) => {
  const { dir, home, passwordFile, restic, snapshots, env } = await repositories(t)
  await restic('vault', ['init'])
  for (const night of ['good 1', 'good 2', 'emptied']) await restic('vault', ['backup', '--stdin', '--host', 'a'], `${night}\n`)
  const [, second, emptied] = (await snapshots('vault')).map((snapshot) => snapshot.id)
  // What an append-only server leaves of restic tag: the tagged copy, and the original it refused to delete.
  const original = await readFile(join(home, 'vault', 'snapshots', emptied!))
  t.equal((await restic('vault', ['tag', '--add', 'rds-rejected', emptied!])).exitCode, 0)
  await writeFile(join(home, 'vault', 'snapshots', emptied!), original)
  t.equal((await snapshots('vault')).length, 4)
  await writeFile(join(dir, 'maintenance'), `vault ${passwordFile} keep-last=2\n`)

  const held = await runBin(RDS, ['maintain'], env())
  t.equal(held.exitCode, 0, held.stderr)
  t.match(held.stderr, /WARN  maintenance vault: no retention for a: the newest snapshot the guard saw there was rejected/)
  t.equal((await snapshots('vault')).length, 4, 'nothing forgotten while the rejected snapshot is the newest: it may hold the newest data')

  await restic('vault', ['backup', '--stdin', '--host', 'a'], 'good 3\n')
  const run = await runBin(RDS, ['maintain'], env())
  t.equal(run.exitCode, 0, run.stderr)
  t.match(run.stderr, /retention: forgetting 2 snapshot\(s\) the guard rejected/)
  const kept = (await snapshots('vault')).map((snapshot) => snapshot.id)
  t.equal(kept.length, 2, 'keep-last 2 keeps two accepted snapshots')
  t.ok(kept.includes(second!) && !kept.includes(emptied!), 'the good nights, not the emptied one')
})

t.test('a failed repository fails the run and is recorded, and the others are still maintained', async (t) => {
  const { dir, passwordFile, restic, snapshots, env } = await repositories(t)
  for (const repository of ['good', 'wrong']) {
    await restic(repository, ['init'])
    for (let i = 0; i < 2; i++) await restic(repository, ['backup', '--stdin'], `${i}\n`)
  }
  const wrongPassword = join(dir, 'wrong-password')
  await writeFile(wrongPassword, 'not it\n')
  await writeFile(join(dir, 'maintenance'), `wrong ${wrongPassword} keep-last=1\ngood ${passwordFile} keep-last=1\nmissing ${passwordFile}\n`)
  const run = await runBin(RDS, ['maintain'], env())
  t.equal(run.exitCode, 1)
  t.match(run.stderr, /rds: the maintenance of wrong, missing failed \(see the errors above\)\./)
  t.match(run.stderr, /ERROR maintenance wrong: forget and prune failed: restic snapshots failed: the password in RESTIC_REPO_PASSWORD_FILE/)
  t.equal((await snapshots('good')).length, 1, 'the good repository is maintained all the same')
  const status = await readStatus(join(dir, 'status.json'))
  t.match(status.jobs['maintenance wrong'], { lastAttempt: { ok: false, exitCode: 1 }, failuresInARow: 1 })
  t.match(status.jobs['maintenance missing']?.lastAttempt?.message, /there is no repository/)
  t.notMatch(run.stderr, /correct horse|not it/, 'no password in the output')
})

t.test('bad settings: exit 2, one sentence, nothing run', async (t) => {
  const { dir, env } = await repositories(t)
  const missing = await runBin(RDS, ['maintain'], env())
  t.equal(missing.exitCode, 2)
  t.match(missing.stderr, /rds: MAINTENANCE_FILE is .*maintenance, which does not exist; create the list of repositories to maintain there/)
  await writeFile(join(dir, 'maintenance'), `db ${join(dir, 'nope')}\n`)
  const noPassword = await runBin(RDS, ['maintain'], env())
  t.equal(noPassword.exitCode, 2)
  t.match(noPassword.stderr, /the password file of db in MAINTENANCE_FILE is .*nope, which does not exist/)
  const badSchedule = await runBin(RDS, ['server', '--', 'true'], env({ MAINTENANCE_AT: 'sometimes' }))
  t.equal(badSchedule.exitCode, 2)
  t.match(badSchedule.stderr, /MAINTENANCE_AT "sometimes" is not a valid cron expression/)
})

t.test('rds server: the maintenance on MAINTENANCE_AT beside its command; SIGTERM stops both, and a command that ends ends the server', async (t) => {
  const { dir, passwordFile, restic, snapshots, env } = await repositories(t)
  await restic('db', ['init'])
  for (let i = 0; i < 3; i++) await restic('db', ['backup', '--stdin'], `${i}\n`)
  await writeFile(join(dir, 'maintenance'), `db ${passwordFile} keep-last=1\n`)
  const server = execa(process.execPath, [RDS, 'server', '--', 'sleep', '600.7'], { env: env({ MAINTENANCE_AT: '*/2 * * * * *' }), extendEnv: false, reject: false, all: true })
  await waitFor('a scheduled maintenance', async () => (await snapshots('db')).length === 1, 60)
  await waitFor('its record', async () => (await readStatus(join(dir, 'status.json')).catch(() => undefined))?.jobs['maintenance db']?.lastSuccess, 30)
  // A length of its own: the test files beside this one (and their containers) sleep too.
  const sleeper = await execa('pgrep', ['-f', '^sleep 600\\.7$'], { reject: false })
  t.equal(sleeper.exitCode, 0, 'the command runs')
  server.kill('SIGTERM')
  const stopped = await server
  t.equal(stopped.exitCode, 0, stopped.all)
  t.match(stopped.all, /maintenance: "\*\/2 \* \* \* \* \*" for db, next at/)
  t.equal((await execa('pgrep', ['-f', '^sleep 600\\.7$'], { reject: false })).exitCode, 1, 'the command was stopped with it')

  const ends = await runBin(RDS, ['server', '--', 'sh', '-c', 'exit 3'], env({ MAINTENANCE_AT: '0 4 * * *' }))
  t.equal(ends.exitCode, 3)
  t.match(ends.stderr, /ERROR server: sh ended with exit code 3; the server stops with it\./)
})
