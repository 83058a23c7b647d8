import type { Command } from 'commander'
import { EXIT } from '../errors.js'
import type { CommandContext } from './context.js'

/** The start of a line this command writes to stderr: restic shows it among the dump's own lines. */
const PREFIX = 'rds sqlite-dump:'
// sqlite3 waits this long for a write in progress rather than fail (a rollback journal's writes block readers).
const BUSY_TIMEOUT = '.timeout 60000'

/**
 * Not for people: what `restic backup --stdin-from-command` runs for the sqlite preset. It checks
 * the database (PRAGMA quick_check: sqlite3's .dump of a damaged one writes what it can read and
 * exits 0), then hands restic sqlite3's .dump, which reads in one transaction: one moment's
 * database while the application writes. -readonly: it never writes the database.
 */
export function addSqliteDumpCommand(program: Command, { cli, setExitCode }: CommandContext): void {
  program
    .command('sqlite-dump', { hidden: true })
    .argument('<database>', 'the database file')
    .action(async (database: string) => {
      const { execa } = await import('execa')
      // The dump goes straight to this process's stdout, the pipe restic reads: no copy, the pipe's own backpressure.
      const sqlite3 = (commands: string[], stdout: 'pipe' | 'inherit') =>
        execa('sqlite3', ['-readonly', '-bail', '-cmd', BUSY_TIMEOUT, database, ...commands], { stdout, stderr: 'pipe', reject: false, cancelSignal: cli.stop })
      const check = await sqlite3(['PRAGMA quick_check'], 'pipe')
      if (check.exitCode !== 0 || String(check.stdout).trim() !== 'ok') {
        const why = [check.stderr, check.stdout].join('\n').trim().split('\n').slice(0, 3).join(' | ')
        cli.stderr.write(`${PREFIX} ${database} fails PRAGMA quick_check, so no dump of it is saved: ${why}\n`)
        setExitCode(EXIT.failure)
        return
      }
      const done = await sqlite3(['.dump'], 'inherit')
      if (done.stderr.trim()) cli.stderr.write(`${done.stderr.trim()}\n`)
      if (done.exitCode !== 0) {
        cli.stderr.write(`${PREFIX} sqlite3 .dump exited with code ${done.exitCode ?? done.signal}\n`)
        setExitCode(EXIT.failure)
      }
    })
}
