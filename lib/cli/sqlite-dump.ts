import type { Command } from 'commander'
import { once } from 'node:events'
import { realpath } from 'node:fs/promises'
import { EXIT } from '../errors.js'
import { sqlite3Args, SQLITE_DUMP_END } from '../dumps/sqlite.js'
import type { CommandContext } from './context.js'

/** The start of a line this command writes to stderr: restic shows it among the dump's own lines. */
const PREFIX = 'rds sqlite-dump:'
// What sqlite3 prints before the dump: quick_check's verdict, user_version, application_id, the tables.
const HEADER_LINES = 4

/**
 * Not for people: what `restic backup --stdin-from-command` runs for the sqlite preset. In one read
 * transaction, so all of it is one moment's database: it checks the database (PRAGMA quick_check:
 * sqlite3's .dump of a damaged file writes what it can read and exits 0), reads the versions .dump
 * leaves out (user_version, which applications' migrations go by, and application_id), and hands
 * restic the .dump, which must end in COMMIT (a .dump that meets an error ends in ROLLBACK, and
 * still exits 0). Any fault exits non-zero, so that restic saves nothing.
 */
export function addSqliteDumpCommand(program: Command, { cli, setExitCode }: CommandContext): void {
  program
    .command('sqlite-dump', { hidden: true })
    .argument('<database>', 'the database file')
    .action(async (database: string) => {
      const { execa } = await import('execa')
      const fail = (reason: string) => {
        cli.stderr.write(`${PREFIX} ${reason}\n`)
        setExitCode(EXIT.failure)
      }
      // The file itself, not a link: a link could lead out of the volume, to another file of the job's own.
      const real = await realpath(database).catch(() => database)
      if (real !== database) return fail(`${database} is a symbolic link, or under one (to ${real}); give the database's own path.`)
      const commands = ['BEGIN', 'PRAGMA quick_check', 'PRAGMA user_version', 'PRAGMA application_id', 'SELECT count(*) FROM sqlite_schema', '.dump', 'COMMIT']
      const sqlite3 = execa('sqlite3', sqlite3Args(database, { readonly: true }, ...commands), { stdout: 'pipe', stderr: 'pipe', buffer: { stdout: false, stderr: true }, reject: false, cancelSignal: cli.stop })
      // The header is read as text; the dump is handed on as the bytes it is, with the pipe's backpressure.
      let header: Buffer | undefined = Buffer.alloc(0)
      let tail = Buffer.alloc(0)
      let refused: string | undefined
      for await (const chunk of sqlite3.stdout as AsyncIterable<Buffer>) {
        let data = chunk
        if (header !== undefined) {
          header = Buffer.concat([header, chunk])
          const lines = header.toString('utf8').split('\n')
          if (lines.length > 1 && lines[0] !== 'ok') refused = `${database} fails PRAGMA quick_check, so no dump of it is saved: ${lines.slice(0, 3).join(' | ')}`
          else if (lines.length <= HEADER_LINES) continue
          else if (lines[3] === '0') refused = `${database} holds no table: an empty database is no backup (is it the application's file?)`
          if (refused !== undefined) break
          let end = 0
          for (let line = 0; line < HEADER_LINES; line++) end = header.indexOf(0x0a, end) + 1
          // The versions first: a restore sets them on the new database before it loads the rest.
          data = Buffer.concat([Buffer.from(`PRAGMA user_version=${Number(lines[1])};\nPRAGMA application_id=${Number(lines[2])};\n`), header.subarray(end)])
          header = undefined
        }
        tail = Buffer.concat([tail, data]).subarray(-SQLITE_DUMP_END.length)
        if (!cli.stdout.write(data)) await once(cli.stdout, 'drain')
      }
      if (refused !== undefined) sqlite3.kill()
      const done = await sqlite3
      if (refused !== undefined) return fail(refused)
      const stderr = String(done.stderr ?? '').trim()
      if (done.exitCode !== 0) return fail(`sqlite3 could not dump ${database} (${done.exitCode === undefined ? done.message : `exit code ${done.exitCode}`})${stderr ? `: ${stderr.split('\n').slice(-3).join(' | ')}` : ''}`)
      if (tail.toString('utf8') !== SQLITE_DUMP_END) return fail(`sqlite3's .dump of ${database} ended in errors (its last line is not COMMIT;)${stderr ? `: ${stderr.split('\n').slice(-3).join(' | ')}` : ''}`)
    })
}
