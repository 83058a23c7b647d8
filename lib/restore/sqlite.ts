import { chown, rename, rm, stat } from 'node:fs/promises'
import { dirname } from 'node:path'
import { execa } from 'execa'
import { RunError } from '../errors.js'
import { DUMP_TAG } from '../dumps/presets.js'
import { runRestic, type Restic } from '../restic/command.js'
import { dumpArgs, resolveSnapshot, type SnapshotChoice, type SnapshotInfo } from '../restic/snapshots.js'
import type { Logger } from '../observe/log.js'
import { dumpPath } from './dump.js'

/** Where the database before a restore is kept, beside it, named by the restore's time: a restore deletes no data. */
const beforeRestore = (database: string, at: Date) => `${database}.before-restore-${at.toISOString().replace(/[-:]|\.\d+/g, '')}`

// The files of a database besides its own: its write-ahead log and index, or its rollback journal.
const COMPANIONS = ['-wal', '-shm', '-journal']

const exists = (path: string) => stat(path).then(
  () => true,
  () => false,
)

/**
 * Loads a sqlite dump (SQL) into a new database file beside `database`, streamed from restic with
 * no other copy, checks it (PRAGMA integrity_check), and only then puts it in the database's
 * place: the database before is renamed to DATABASE.before-restore, with its log, never deleted. A
 * failure before that leaves the database as it was. An application that still has the old file
 * open goes on writing there (nothing is lost) until it is restarted on the restored one.
 */
export async function restoreSqlite(restic: Restic, restore: { choice: SnapshotChoice; database: string; signal?: AbortSignal }, log: Logger): Promise<SnapshotInfo> {
  const choice = restore.choice.snapshot === 'latest' ? { ...restore.choice, tag: DUMP_TAG } : restore.choice
  const snapshot = await resolveSnapshot(restic, choice, log)
  const path = dumpPath(snapshot)
  const { database } = restore
  const loading = `${database}.rds-restore`
  log.info(`restore-dump: ${path} of snapshot ${snapshot.short_id} (${snapshot.hostname}, ${snapshot.time}) into a new database beside ${database}`)
  for (const leftover of [loading, ...COMPANIONS.map((suffix) => loading + suffix)]) await rm(leftover, { force: true })
  try {
    const loader = execa('sqlite3', ['-bail', loading], { stdin: 'pipe', stdout: 'ignore', stderr: 'pipe', reject: false, cancelSignal: restore.signal })
    let readFailure: unknown
    await runRestic(restic, dumpArgs(snapshot.id, path), { log, stdoutTo: loader.stdin!, signal: restore.signal }).then(
      () => loader.stdin!.end(),
      (error) => {
        readFailure = error
        loader.stdin!.destroy()
      },
    )
    const loaded = await loader
    if (readFailure) throw new RunError(`restic could not read the dump (${(readFailure as Error).message}); ${database} was left as it was.`)
    if (loaded.exitCode !== 0) throw new RunError(`sqlite3 could not load the dump (exit code ${loaded.exitCode}: ${loaded.stderr.trim().split('\n').slice(-3).join(' | ')}); ${database} was left as it was.`)
    const check = await execa('sqlite3', ['-bail', loading, 'PRAGMA integrity_check'], { reject: false })
    if (check.exitCode !== 0 || check.stdout.trim() !== 'ok') throw new RunError(`the loaded database fails PRAGMA integrity_check (${(check.stdout || check.stderr).trim().split('\n')[0]}); ${database} was left as it was.`)
    // WAL mode is the file's, not the dump's: a database that had it gets it again.
    const before = (await exists(database)) ? await execa('sqlite3', ['-readonly', database, 'PRAGMA journal_mode'], { reject: false }) : undefined
    if (before?.stdout.trim() === 'wal') await execa('sqlite3', [loading, 'PRAGMA journal_mode=WAL'], { stdout: 'ignore' })
    // The application reads it as the user that owns the database (or its folder) now.
    const owner = await stat(database).catch(() => stat(dirname(database)))
    await chown(loading, owner.uid, owner.gid)
    const kept = beforeRestore(database, new Date())
    if (await exists(database)) {
      for (const suffix of ['', ...COMPANIONS]) if (await exists(database + suffix)) await rename(database + suffix, kept + suffix)
      log.info(`restore-dump: the database before the restore is kept as ${kept}`)
    }
    await rename(loading, database)
    log.info(`restore-dump: ${database} restored; restart the application on it (one that ran goes on with the file it had open, now ${kept})`)
  } finally {
    await rm(loading, { force: true })
  }
  return snapshot
}
