// Streamed dumps on real parts: Debian's PostgreSQL 17, MariaDB and Redis (test/e2e/*) as Swarm
// services on this engine, dumped by rds backup through restic --stdin-from-command to the real SFTP
// server, and loaded back by rds restore-dump into fresh databases. Failing, cut-off and empty dumps.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { execa } from 'execa'
import { RDS, runBin } from '../fixtures/cli.js'
import { addRandomFiles } from '../fixtures/data.js'
import { startSftpServer, type SftpServer } from '../fixtures/sftp-server.js'
import { useHostEngine } from '../fixtures/docker.js'
import { ROOT } from '../fixtures/root.js'

const POSTGRES = 'rds-test-dump-postgres'
const MARIADB = 'rds-test-dump-mariadb'
const FRESH_MARIADB = 'rds-test-dump-mariadb-fresh'
const REDIS = 'rds-test-dump-redis'
const SERVICES = [POSTGRES, MARIADB, FRESH_MARIADB, REDIS]
const SECRET = 'rds-test-dump-postgres-password'
const PASSWORD = 'pg-secret-4f1c9a'
const IMAGES = { postgres: 'rds-test-postgres:latest', mariadb: 'rds-test-mariadb:latest', redis: 'rds-test-redis:latest' }

const missing = await useHostEngine(t)
if (missing && process.env.CI) t.fail(`${missing}; run test/e2e/start-docker first`)

const docker = (args: string[]) => execa('docker', args).then((result) => result.stdout.trim())
const containerOf = async (service: string) => {
  for (let i = 0; i < 240; i++) {
    const id = (await docker(['ps', '-q', '-f', `label=com.docker.swarm.service.name=${service}`, '-f', 'status=running'])).split('\n')[0]
    if (id) return id
    await sleep(250)
  }
  throw new Error(`no running container of ${service}`)
}
/** Runs argv in the container once `ready` succeeds there (a database may still be starting). */
async function query(container: string, argv: string[], ready: string[]): Promise<string> {
  // A busy machine may take minutes to start a database; a container that stopped never will.
  for (let i = 0; (await execa('docker', ['exec', container, ...ready], { reject: false })).exitCode !== 0; i++) {
    const state = await docker(['inspect', '-f', '{{.State.Status}}', container])
    if (state !== 'running' || i > 720) {
      const logs = await execa('docker', ['logs', '--tail', '20', container], { reject: false, all: true })
      throw new Error(`${ready.join(' ')} never succeeded in ${container} (${state}): ${logs.all}`)
    }
    await sleep(250)
  }
  return (await execa('docker', ['exec', container, ...argv])).stdout.trim()
}
const psql = (container: string, sql: string) => query(container, ['psql', '-U', 'postgres', '-v', 'ON_ERROR_STOP=1', '-Atc', sql], ['pg_isready', '-U', 'postgres'])
const mariadbAs = (password: string) => (container: string, sql: string) =>
  query(container, ['sh', '-c', 'MYSQL_PWD=$0 mariadb -uroot -N -e "$1"', password, sql], ['sh', '-c', 'MYSQL_PWD=$0 mariadb -uroot -e "SELECT 1"', password])
const removeAll = async () => {
  await execa('docker', ['service', 'rm', ...SERVICES], { reject: false })
  await execa('docker', ['secret', 'rm', SECRET], { reject: false })
}

t.test('streamed dumps', { skip: missing ? `${missing}; run test/e2e/start-docker to include it` : false }, async (t) => {
  let server: SftpServer
  t.before(async () => {
    for (const [name, image] of Object.entries(IMAGES)) await execa('docker', ['build', '-q', '-t', image, `test/e2e/${name}`], { cwd: ROOT })
    await removeAll()
    await execa('docker', ['secret', 'create', SECRET, '-'], { input: PASSWORD })
    const service = (name: string, args: string[]) => docker(['service', 'create', '--detach', '--name', name, ...args])
    await service(POSTGRES, ['--secret', SECRET, '-e', `POSTGRES_PASSWORD_FILE=/run/secrets/${SECRET}`, IMAGES.postgres])
    await service(MARIADB, ['-e', 'MARIADB_ROOT_PASSWORD=maria-secret', IMAGES.mariadb])
    await service(FRESH_MARIADB, ['-e', 'MARIADB_ROOT_PASSWORD=other-secret', IMAGES.mariadb])
    await service(REDIS, [IMAGES.redis])
    server = await startSftpServer()
  })
  t.teardown(async () => {
    await removeAll()
    await server?.stop()
  })
  // The dump alone: BACKUP_PATH unset.
  const dumpEnv = (service: string, extra: Record<string, string> = {}) => {
    const env = server.env('/unused', { REPO_PATH: 'dumps', SERVICE_NAME: service, PATH: process.env.PATH ?? '', ...extra })
    delete env.BACKUP_PATH
    return env
  }
  const snapshots = async (env: Record<string, string>) => {
    const listed = await runBin(RDS, ['snapshots', '--json'], env)
    return listed.exitCode === 0 ? (JSON.parse(listed.stdout) as { short_id: string; paths: string[]; tags?: string[]; hostname: string }[]) : []
  }

  t.test('postgres: pg_dumpall streamed into a snapshot tagged dump, then loaded whole into a fresh database and over the live one', async (t) => {
    const db = await containerOf(POSTGRES)
    await psql(db, "CREATE TABLE rows_to_keep (n int, note text); INSERT INTO rows_to_keep SELECT i, md5(i::text) FROM generate_series(1, 100000) i;")
    const env = dumpEnv(POSTGRES, { DUMP_COMMAND: 'postgres' })
    const backup = await runBin(RDS, ['backup'], env)
    t.equal(backup.exitCode, 0, backup.stderr)
    t.match(backup.stderr, /dump: streaming postgres from container [0-9a-f]{12} of rds-test-dump-postgres into pg_dumpall\.sql/)
    t.match(backup.stderr, /dump: [\d.]+ MiB saved as pg_dumpall\.sql in snapshot [0-9a-f]{8}/)
    t.notMatch(backup.stderr, PASSWORD, 'the database password is in no output')
    const [snapshot] = await snapshots(env)
    t.match(snapshot, { hostname: POSTGRES, paths: ['/pg_dumpall.sql'], tags: ['dump'] })

    const fresh = await docker(['run', '-d', '-e', 'POSTGRES_PASSWORD=fresh', IMAGES.postgres])
    t.teardown(() => execa('docker', ['rm', '-f', fresh], { reject: false }))
    const restored = await runBin(RDS, ['restore-dump', '--to-container', fresh], env)
    t.equal(restored.exitCode, 0, restored.stderr)
    t.match(restored.stderr, new RegExp(`restore-dump: /pg_dumpall\\.sql of snapshot ${snapshot!.short_id} \\(${POSTGRES}, `))
    const expected = await psql(db, 'SELECT count(*), sum(n), md5(string_agg(note, \',\' ORDER BY n)) FROM rows_to_keep')
    t.equal(await psql(fresh, 'SELECT count(*), sum(n), md5(string_agg(note, \',\' ORDER BY n)) FROM rows_to_keep'), expected, 'every row came back')

    // Over the live database, after a row was lost: the dump drops and recreates what it holds.
    await psql(db, 'DELETE FROM rows_to_keep WHERE n > 50000')
    const over = await runBin(RDS, ['restore-dump', snapshot!.short_id], env)
    t.equal(over.exitCode, 0, over.stderr)
    t.equal(await psql(db, 'SELECT count(*), sum(n), md5(string_agg(note, \',\' ORDER BY n)) FROM rows_to_keep'), expected, 'the live database is whole again')
  })

  t.test('a dump that fails half-way, is cut off, or writes nothing saves no snapshot and fails the run with its own stderr', async (t) => {
    const before = (await snapshots(dumpEnv(POSTGRES))).length
    const failing = [
      ['pg_dumpall -U postgres | head -c 100000; echo "pg_dump: error: connection lost" >&2; exit 4', /the dump \(DUMP_COMMAND, or the label rds\.backup\.dump\) failed and no snapshot of it was saved: .*pg_dump: error: connection lost \| rds dump: the dump command exited with code 4 after 100000 bytes/],
      ['pg_dumpall -U postgres; kill -9 $$', /failed and no snapshot of it was saved: rds dump: the dump command exited with code 137 after \d+ bytes/],
      ['true', /failed and no snapshot of it was saved: rds dump: the dump command exited 0 but wrote nothing to stdout: an empty dump is not a backup/],
    ] as const
    for (const [command, message] of failing) {
      const run = await runBin(RDS, ['backup'], dumpEnv(POSTGRES, { DUMP_COMMAND: command }))
      t.equal(run.exitCode, 1, command)
      t.match(run.stderr, message, run.stderr)
      t.match(run.stderr, /ERROR run: failed after/)
    }
    t.equal((await snapshots(dumpEnv(POSTGRES))).length, before, 'no snapshot of any of them')
  })

  t.test('a dump of an empty database, as after a move onto an empty volume, is rejected against the last accepted dump and retention keeps the good ones', async (t) => {
    const env = dumpEnv(POSTGRES, { DUMP_COMMAND: 'postgres', REPO_PATH: 'dump-guard', KEEP_LAST: '1', PRUNE: 'true' })
    const good = await runBin(RDS, ['backup'], env)
    t.equal(good.exitCode, 0, good.stderr)
    // What pg_dumpall gives of a fresh cluster: the roles, and no data.
    const empty = { ...env, DUMP_COMMAND: 'pg_dumpall -U postgres --globals-only', DUMP_FILENAME: 'pg_dumpall.sql' }
    for (let night = 0; night < 2; night++) {
      const rejected = await runBin(RDS, ['backup'], empty)
      t.equal(rejected.exitCode, 1, rejected.stderr)
      t.match(
        rejected.stderr,
        /the dump of rds-test-dump-postgres \(pg_dumpall\.sql\) looks like one of an empty or another database: it is [\d.]+ (?:B|KiB) where the dump in snapshot [0-9a-f]{8} of \S+ was [\d.]+ MiB: \d+ % less, more than MAX_SHRINK \(50 %\) allows; it was kept \(tagged rds-rejected\) and retention did not run/,
      )
      t.notMatch(rejected.stderr, /retention:/)
    }
    const kept = await snapshots(env)
    t.same(kept.map((snapshot) => snapshot.tags ?? []).sort(), [['dump'], ['dump', 'rds-rejected'], ['dump', 'rds-rejected']], 'the good dump and both rejected ones are kept')
    const again = await runBin(RDS, ['backup'], env)
    t.equal(again.exitCode, 0, 'the whole database is accepted again')
  })

  t.test('a dump and a folder in one run: two snapshots, each kept by retention in its own group; a failed dump still lets the folder be saved', async (t) => {
    const data = await mkdtemp(join(tmpdir(), 'rds-dump-files-'))
    t.teardown(() => rm(data, { recursive: true, force: true }))
    await addRandomFiles(data, 20, 1000)
    const env = { ...dumpEnv(POSTGRES, { DUMP_COMMAND: 'postgres', REPO_PATH: 'both', KEEP_LAST: '1', PRUNE: 'true' }), BACKUP_PATH: data }
    for (let run = 0; run < 2; run++) {
      const backup = await runBin(RDS, ['backup'], env)
      t.equal(backup.exitCode, 0, backup.stderr)
      t.match(backup.stderr, /run: starting backup of \S+ and a dump of rds-test-dump-postgres \(pg_dumpall\.sql\)/)
    }
    const kept = await snapshots(env)
    t.same(kept.map((snapshot) => [snapshot.paths, snapshot.tags ?? []]).sort(), [[['/pg_dumpall.sql'], ['dump']], [[data], []]], 'the last of each')

    const failed = await runBin(RDS, ['backup'], { ...env, DUMP_COMMAND: 'exit 3' })
    t.equal(failed.exitCode, 1)
    t.match(failed.stderr, /backup: snapshot [0-9a-f]{8} saved/, 'the folder was still backed up')
    t.notMatch(failed.stderr, /retention:/, 'but no retention ran after the failed dump')
    t.equal((await snapshots(env)).length, 3)

    // A drill of both: the folder's newest snapshot and the newest dump, side by side for the command.
    const drilled = await runBin(RDS, ['drill'], { ...env, DRILL_IMAGE: IMAGES.postgres, DRILL_COMMAND: 'test -s pg_dumpall.sql && test "$(ls | wc -l)" -eq 21' })
    t.equal(drilled.exitCode, 0, drilled.stderr)
    t.match(drilled.stderr, /snapshot [0-9a-f]{8} read: all 20 files, with their sizes; dump [0-9a-f]{8} read: pg_dumpall\.sql whole; the drill command passed/)
  })

  t.test('a drill of a streamed dump hands the dump file to the drill command', async (t) => {
    // A throwaway Postgres in the drill's container, loaded from the dump: every row must come back.
    const load = [
      'runuser -u postgres -- initdb -D /tmp/pg --auth-local=trust >/dev/null',
      "runuser -u postgres -- pg_ctl -D /tmp/pg -o '-k /tmp -c listen_addresses=' -w start >/dev/null",
      'psql -h /tmp -U postgres -q -f pg_dumpall.sql >/dev/null 2>&1',
      'echo "rows: $(psql -h /tmp -U postgres -Atc "SELECT count(*) FROM rows_to_keep")"',
      'test "$(psql -h /tmp -U postgres -Atc "SELECT count(*) FROM rows_to_keep")" -ge 50000',
    ].join(' && ')
    const env = dumpEnv(POSTGRES, { DUMP_COMMAND: 'postgres', DRILL_IMAGE: IMAGES.postgres, DRILL_COMMAND: load })
    const drilled = await runBin(RDS, ['drill', '--verbose'], env)
    t.equal(drilled.exitCode, 0, drilled.stderr)
    t.match(drilled.stderr, /drill: rds-test-dump-postgres: dump [0-9a-f]{8} read: pg_dumpall\.sql whole; the drill command passed/)
    t.match(drilled.stderr, /DEBUG drill: rows: \d+/)

  })

  t.test('mariadb: mariadb-dump --single-transaction, loaded into another service with restore-dump --to-service', async (t) => {
    const db = await containerOf(MARIADB)
    await mariadbAs('maria-secret')(db, 'CREATE DATABASE shop; USE shop; CREATE TABLE orders (id INT PRIMARY KEY, item VARCHAR(40)); INSERT INTO orders SELECT seq, CONCAT("item-", seq) FROM seq_1_to_5000; CREATE USER shopkeeper@localhost IDENTIFIED BY "keeper-pw"; GRANT SELECT ON shop.* TO shopkeeper@localhost;')
    const env = dumpEnv(MARIADB, { DUMP_COMMAND: 'mariadb', REPO_PATH: 'maria' })
    const backup = await runBin(RDS, ['backup'], env)
    t.equal(backup.exitCode, 0, backup.stderr)
    t.notMatch(backup.stderr, 'maria-secret', 'the password is in no output')
    t.match((await snapshots(env))[0], { paths: ['/all-databases.sql'], tags: ['dump'] })

    const fresh = await containerOf(FRESH_MARIADB)
    const restored = await runBin(RDS, ['restore-dump', '--to-service', FRESH_MARIADB], env)
    t.equal(restored.exitCode, 0, restored.stderr)
    // The dump holds the mysql schema too: the fresh server now has the dumped server's root password.
    const count = await mariadbAs('maria-secret')(fresh, 'SELECT count(*), sum(id) FROM shop.orders')
    t.equal(count.replace(/\s+/g, ' '), '5000 12502500', 'every row came back')
    // The restored users are in force at once (FLUSH PRIVILEGES), not after the server's next start.
    const keeper = await execa('docker', ['exec', fresh, 'sh', '-c', 'MYSQL_PWD=keeper-pw mariadb -ushopkeeper -N -e "SELECT count(*) FROM shop.orders"'], { reject: false })
    t.equal(keeper.stdout.trim(), '5000', `the dumped server's user logs in to the restored one: ${keeper.stderr}`)

    const wrong = await runBin(RDS, ['restore-dump', '--to-service', FRESH_MARIADB, '--command', 'mariadb -uroot --database=no_such_database'], env)
    t.equal(wrong.exitCode, 1, wrong.stderr)
    t.match(wrong.stderr, /rds: the restore command exited with code 1 in container [0-9a-f]{12}: ERROR 1049 .*Unknown database 'no_such_database'; the database may hold part of the dump\./)
  })

  t.test('redis: a consistent RDB made by the server; restore-dump says how to restore one', async (t) => {
    const redis = await containerOf(REDIS)
    await query(redis, ['redis-cli', 'SET', 'greeting', 'hello from redis'], ['redis-cli', 'PING'])
    const env = dumpEnv(REDIS, { DUMP_COMMAND: 'redis', REPO_PATH: 'redis' })
    const backup = await runBin(RDS, ['backup'], env)
    t.equal(backup.exitCode, 0, backup.stderr)
    const exported = await execa(process.execPath, [RDS, 'export', '--path', '/dump.rdb'], { env, extendEnv: false, encoding: 'buffer' })
    const rdb = Buffer.from(exported.stdout)
    t.equal(rdb.subarray(0, 5).toString(), 'REDIS', 'an RDB file')
    t.ok(rdb.includes('hello from redis'), 'with the key in it')
    const refused = await runBin(RDS, ['restore-dump'], env)
    t.equal(refused.exitCode, 2)
    t.match(refused.stderr, /^rds: a Redis RDB cannot be loaded into a running Redis; restore the file with rds restore --path and start Redis on it, or give --command\.$/m)
  })

  t.test('restore-dump of a snapshot that is not a dump, or with no dump at all, says so', async (t) => {
    const env = dumpEnv(POSTGRES, { DUMP_COMMAND: 'postgres', REPO_PATH: 'both' })
    const files = (await snapshots(env)).find((snapshot) => !snapshot.tags?.includes('dump'))!
    const notDump = await runBin(RDS, ['restore-dump', files.short_id, '--to-container', 'unused'], env)
    t.equal(notDump.exitCode, 1)
    t.match(notDump.stderr, new RegExp(`rds: snapshot ${files.short_id} holds \\S+, not a dump \\(its snapshots are tagged dump\\); restore files with rds restore\\.`))
    const none = await runBin(RDS, ['restore-dump'], { ...env, REPO_PATH: 'redis', SNAPSHOT_HOST: 'nobody' })
    t.equal(none.exitCode, 1)
    t.match(none.stderr, /rds: there is no snapshot tagged dump of host nobody in the repository/)
    const custom = await runBin(RDS, ['restore-dump'], { ...env, DUMP_COMMAND: 'my-dump' })
    t.equal(custom.exitCode, 2)
    t.match(custom.stderr, /rds: DUMP_COMMAND is not a preset \(postgres, mysql or mariadb\), so rds cannot know how to load its dump; give --command/)
  })
})
