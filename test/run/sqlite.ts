// The sqlite preset on real parts: Debian's sqlite3, an application's writer that never stops
// (another user, as in its own container, in WAL mode and with a rollback journal), rds backup
// streaming sqlite3's .dump through restic to the real SFTP server, and rds restore-dump loading it
// into a new database in the old one's place, which is kept.
import { chmod, chown, mkdir, mkdtemp, open, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { execa, type ResultPromise } from 'execa'
import { RDS, RUNRESTIC, runBin } from '../fixtures/cli.js'
import { startSftpServer, type SftpServer } from '../fixtures/sftp-server.js'

// The application's user: the database and its folder are its own, as in its volume.
const APP = ['setpriv', '--reuid=1000', '--regid=1000', '--clear-groups']
const sql = (database: string, statement: string) => execa(APP[0]!, [...APP.slice(1), 'sqlite3', '-bail', '-cmd', '.timeout 10000', database, statement]).then((result) => result.stdout.trim())

/**
 * The application: one transaction after another, each adding a row and counting it in a second
 * table, so that a dump that is not one moment's database shows (the count differs from the rows).
 */
function writer(database: string): { stop: () => Promise<number> } {
  const statements = async function* () {
    for (let i = 0; ; i++) yield `BEGIN IMMEDIATE; INSERT INTO item(body) VALUES (hex(randomblob(100))); UPDATE counter SET n = n + 1; COMMIT;\n`
  }
  const app: ResultPromise = execa(APP[0]!, [...APP.slice(1), 'sqlite3', '-bail', '-cmd', '.timeout 10000', database], { stdin: statements(), reject: false })
  return {
    stop: async () => {
      app.kill('SIGTERM')
      await app
      return Number(await sql(database, 'SELECT n FROM counter'))
    },
  }
}

t.test('sqlite preset', async (t) => {
  let server: SftpServer
  let dir: string
  t.before(async () => {
    server = await startSftpServer()
    dir = await mkdtemp(join(tmpdir(), 'rds-sqlite-'))
    await chmod(dir, 0o755)
  })
  t.teardown(async () => {
    await server?.stop()
    await rm(dir, { recursive: true, force: true })
  })
  const env = (database: string, extra: Record<string, string> = {}) => {
    const variables = server.env('/unused', { REPO_PATH: 'sqlite', SNAPSHOT_HOST: 'app', DUMP_COMMAND: 'sqlite', DUMP_DATABASE: database, PATH: process.env.PATH ?? '', ...extra })
    delete variables.BACKUP_PATH
    return variables
  }

  for (const mode of ['wal', 'delete'] as const) {
    t.test(`a database written to all along (journal_mode=${mode}) is dumped as one moment's, and restore-dump brings it back whole under the running application, keeping what it held`, async (t) => {
      const folder = join(dir, mode)
      await mkdir(folder)
      await chown(folder, 1000, 1000)
      const database = join(folder, 'app.db')
      await sql(database, `PRAGMA journal_mode=${mode}; CREATE TABLE item(id INTEGER PRIMARY KEY, body TEXT); CREATE TABLE counter(n INTEGER); INSERT INTO counter VALUES (0);`)
      await chmod(database, 0o640)
      const app = writer(database)
      // Written to before and during the dump.
      // With a rollback journal the writer that never pauses can keep this reader out past its timeout on a busy machine: it reads again.
      const writes = () => sql(database, 'SELECT n FROM counter').then(Number, (error: Error) => (/database is locked/.test(error.message) ? 0 : Promise.reject(error)))
      while ((await writes()) < 200) await new Promise((resolve) => setImmediate(resolve))
      const backup = await runBin(RDS, ['backup'], env(database, { SNAPSHOT_HOST: mode }))
      const written = await app.stop()
      t.equal(backup.exitCode, 0, backup.stderr)
      t.match(backup.stderr, new RegExp(`dump: streaming sqlite3's \\.dump of ${database} into database\\.sql`))
      const saved = /dump: .* saved as database\.sql in snapshot ([0-9a-f]{8})/.exec(backup.stderr)
      t.ok(saved, 'the dump was saved')

      // The application loses every row, and goes on writing; the restore brings back the dump's
      // moment under it, and it writes on from there.
      await sql(database, 'DELETE FROM item; UPDATE counter SET n = 0;')
      // With a rollback journal, a writer that never pauses would keep the restore out: it runs with
      // the application stopped there, and under it in WAL mode (SQLite's own backup, under its locks).
      const again = mode === 'wal' ? writer(database) : undefined
      const restored = await runBin(RDS, ['restore-dump', saved![1]!], env(database))
      const after = (await again?.stop()) ?? 0
      t.equal(restored.exitCode, 0, restored.stderr)
      t.equal(await sql(database, 'PRAGMA integrity_check'), 'ok', 'the restored database is sound')
      const [rows, counted] = (await sql(database, 'SELECT count(*), (SELECT n FROM counter) FROM item')).split('|').map(Number)
      t.equal(rows, counted, "one moment's database, and the application's writes after it: every counted row, and no other")
      t.ok(rows! >= 200 && rows! <= written + after, `the dump's rows are back (${rows} in all, of ${written} written before the dump)`)
      t.equal(await sql(database, 'PRAGMA journal_mode'), mode, 'in its journal mode')
      const { stdout: owner } = await execa('stat', ['-c', '%u:%g', database])
      t.equal(owner, '1000:1000', "still the application's file")
      const kept = (await readdir(folder)).filter((name) => name.startsWith('app.db.before-restore-'))
      t.match(kept, [/^app\.db\.before-restore-\d{8}T\d{9}Z$/], `what it held before is kept beside it (${kept.join(', ')})`)
      const keptRows = (await sql(join(folder, kept[0]!), 'PRAGMA integrity_check; SELECT count(*) = (SELECT n FROM counter) FROM item')).split('\n')
      t.same(keptRows, ['ok', '1'], 'whole, as it was then')
      t.equal((await execa('stat', ['-c', '%u:%g %a', join(folder, kept[0]!)])).stdout, '1000:1000 640', "the application's, and no more readable than the database")
      // Into a database that is not there yet: it is the folder's owner's, as the application would have made it.
      const fresh = join(folder, 'fresh.db')
      const made = await runBin(RDS, ['restore-dump', saved![1]!], env(fresh))
      t.equal(made.exitCode, 0, made.stderr)
      t.equal(await sql(fresh, 'SELECT count(*) >= 200 FROM item'), '1')
      t.equal((await execa('stat', ['-c', '%u:%g', fresh])).stdout, '1000:1000')
      t.notOk((await readdir(folder)).some((name) => name.includes('rds-restore')), 'no load file is left behind')
    })
  }

  t.test('a database that is not there, not a database, damaged or empty saves no snapshot and fails with sqlite3\'s own words; a restore that cannot load leaves the database as it was', async (t) => {
    const missing = await runBin(RDS, ['backup'], env(join(dir, 'nowhere.db'), { SNAPSHOT_HOST: 'broken' }))
    t.equal(missing.exitCode, 1, missing.stderr)
    t.match(missing.stderr, /the sqlite dump \(DUMP_COMMAND, or the label rds\.backup\.dump\) failed and no snapshot of it was saved: .*unable to open database/)
    const junk = join(dir, 'junk.db')
    await writeFile(junk, 'not a database, and long enough to be read as one or refused: '.repeat(100))
    const notOne = await runBin(RDS, ['backup'], env(junk, { SNAPSHOT_HOST: 'broken' }))
    t.equal(notOne.exitCode, 1, notOne.stderr)
    t.match(notOne.stderr, /failed and no snapshot of it was saved: .*sqlite3 could not dump \S*junk\.db \(exit code 26\): .*file is not a database/)
    // A damaged database: sqlite3's .dump alone would write the rows it can read, and exit 0.
    const damaged = join(dir, 'damaged.db')
    await execa('sqlite3', [damaged, 'CREATE TABLE a(id INTEGER PRIMARY KEY, v TEXT); WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 3000) INSERT INTO a(v) SELECT hex(randomblob(300)) FROM r;'])
    const file = await open(damaged, 'r+')
    await file.write(Buffer.alloc(3000, 0xff), 0, 3000, 4096 * 50 + 100)
    await file.close()
    const dumped = await runBin(RDS, ['backup'], env(damaged, { SNAPSHOT_HOST: 'broken' }))
    t.equal(dumped.exitCode, 1, dumped.stderr)
    t.match(dumped.stderr, /failed and no snapshot of it was saved: .*damaged\.db fails PRAGMA quick_check, so no dump of it is saved: .*(page|cell|out of order)/)
    const listed = await runBin(RDS, ['snapshots', '--json'], env(junk))
    t.notOk((JSON.parse(listed.stdout) as { hostname: string }[]).some((snapshot) => snapshot.hostname === 'broken'), 'no snapshot of either')

    const empty = join(dir, 'empty.db')
    await writeFile(empty, '')
    const none = await runBin(RDS, ['backup'], env(empty, { SNAPSHOT_HOST: 'broken' }))
    t.equal(none.exitCode, 1, none.stderr)
    t.match(none.stderr, /failed and no snapshot of it was saved: .*empty\.db holds no table: an empty database is no backup/)

    // A dump cut off (or ended in ROLLBACK) is refused before the database is touched.
    const database = join(dir, 'wal', 'app.db')
    const before = await sql(database, 'SELECT count(*) FROM item')
    const cut = await runBin(RUNRESTIC, ['backup', '--stdin', '--stdin-filename', 'database.sql', '--tag', 'dump', '--host', 'cut'], env(database), { input: 'PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\nCREATE TABLE item(id INTEGER PRIMARY KEY, body TEXT);\n' })
    t.equal(cut.exitCode, 0, cut.stderr)
    const refusedCut = await runBin(RDS, ['restore-dump'], env(database, { SNAPSHOT_HOST: 'cut' }))
    t.equal(refusedCut.exitCode, 1, refusedCut.stderr)
    t.match(refusedCut.stderr, /the dump in snapshot [0-9a-f]{8} does not end in COMMIT; \(it is cut off, or sqlite3 met an error while it dumped\); .*app\.db was left as it was/)
    t.equal(await sql(database, 'SELECT count(*) FROM item'), before, 'untouched')
    const refused = await runBin(RDS, ['restore-dump', 'latest', '--to-service', 'x'], env(database, { SNAPSHOT_HOST: 'wal' }))
    t.equal(refused.exitCode, 2, refused.stderr)
    t.match(refused.stderr, /--to-service does not apply to a sqlite dump/)
    t.equal(await sql(database, 'SELECT count(*) FROM item'), before, 'untouched')
  })

  t.test('settings that do not fit are refused naming the variable', async (t) => {
    const refused = async (extra: Record<string, string>, message: RegExp) => {
      const run = await runBin(RDS, ['backup'], { ...env(join(dir, 'x.db')), ...extra })
      t.equal(run.exitCode, 2, run.stderr)
      t.match(run.stderr, message)
    }
    await refused({ DUMP_DATABASE: '' }, /DUMP_COMMAND is sqlite but DUMP_DATABASE is not set; set it to the database file, such as \/data\/app\.db/)
    await refused({ DUMP_DATABASE: 'data/app.db' }, /DUMP_DATABASE must be the absolute path of the database file/)
    await refused({ DUMP_COMMAND: 'postgres', SERVICE_NAME: 'db' }, /DUMP_DATABASE is set but DUMP_COMMAND is not sqlite/)
  })
})
