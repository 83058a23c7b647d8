import { randomBytes } from 'node:crypto'
import { realpath, rm, stat } from 'node:fs/promises'
import { PassThrough } from 'node:stream'
import { setTimeout } from 'node:timers/promises'
import { execa } from 'execa'
import { ConfigError, RunError } from '../errors.js'
import { DUMP_TAG } from '../dumps/presets.js'
import { quoted, sqlite3Args, SQLITE_DUMP_END } from '../dumps/sqlite.js'
import { runRestic, type Restic } from '../restic/command.js'
import { dumpArgs, resolveSnapshot, type SnapshotChoice, type SnapshotInfo } from '../restic/snapshots.js'
import type { Logger } from '../observe/log.js'
import { dumpPath } from './dump.js'

// The files of a database besides its own: its write-ahead log and index, or its rollback journal.
const COMPANIONS = ['-wal', '-shm', '-journal']

const exists = (path: string) => stat(path).then(
  () => true,
  () => false,
)
const lastLines = (text: string) => text.trim().split('\n').slice(-3).join(' | ')

/** Runs sqlite3 on a database; a RunError that says `what` failed, and sqlite3's words, unless it succeeded. */
async function sqlite3(what: string, database: string, commands: string[], options: { cmd?: string[]; stdin?: PassThrough } = {}): Promise<string> {
  const running = execa('sqlite3', sqlite3Args(database, { cmd: options.cmd }, ...commands), { stdin: options.stdin ? 'pipe' : 'ignore', reject: false })
  options.stdin?.pipe(running.stdin!)
  const result = await running
  if (result.exitCode !== 0) throw new RunError(`${what} failed (${result.exitCode === undefined ? result.message : `sqlite3 exit code ${result.exitCode}`}: ${lastLines(result.stderr || result.stdout)})`)
  return result.stdout.trim()
}

/** The database as it is, before a restore: its own page size (.restore needs the same), and whether it is there. */
async function current(database: string): Promise<{ pageSize?: number }> {
  if (!(await exists(database))) {
    const orphan = (await Promise.all(COMPANIONS.map(async (suffix) => ((await exists(database + suffix)) ? database + suffix : undefined)))).find(Boolean)
    if (orphan) throw new ConfigError(`${orphan} is there without its database ${database}; SQLite would apply it to the restored one: move it away first.`)
    return {}
  }
  // The file itself, not a link: a link could lead out of the volume.
  if ((await realpath(database)) !== database) throw new ConfigError(`${database} is a symbolic link, or under one; give the database's own path.`)
  return { pageSize: Number(await sqlite3(`reading ${database}`, database, ['PRAGMA page_size'])) }
}

// How often, and how far apart, .restore is tried while the application holds the database's lock
// (sqlite3's .restore itself gives up after three tries in 300 ms).
const BUSY_TRIES = 30
const BUSY_PAUSE_MS = 2000

/** Copies `source` into `database` with SQLite's backup (.restore), trying again while the application holds its lock. */
async function copyInto(database: string, source: string, signal?: AbortSignal): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await sqlite3(`copying the restored database into ${database}`, database, [`.restore '${source}'`])
      return
    } catch (error) {
      if (!(error instanceof RunError) || !/ is busy/.test(error.message) || attempt === BUSY_TRIES) {
        throw attempt === BUSY_TRIES ? new RunError(`${database} stayed busy for a minute (the application writes to it all along); stop the application, and restore again. It was left as it was.`) : error
      }
      await setTimeout(BUSY_PAUSE_MS, undefined, { signal })
    }
  }
}

/**
 * Loads a sqlite dump into a new database beside `database`, streamed from restic, checks it, and
 * copies it into the database with SQLite's own backup (.restore), under SQLite's locks, so that an
 * application that has it open sees the restored data at its next transaction, the file keeps its
 * owner, mode and journal mode, and a crash half-way leaves the database as it was. What it held
 * before is copied first (VACUUM INTO) to DATABASE.before-restore-TIME, never overwritten.
 */
export async function restoreSqlite(restic: Restic, restore: { choice: SnapshotChoice; database: string; signal?: AbortSignal }, log: Logger): Promise<SnapshotInfo> {
  const choice = restore.choice.snapshot === 'latest' ? { ...restore.choice, tag: DUMP_TAG } : restore.choice
  const snapshot = await resolveSnapshot(restic, choice, log)
  const path = dumpPath(snapshot)
  const { database } = restore
  const { pageSize } = await current(database)
  const loading = `${database}.rds-restore-${randomBytes(4).toString('hex')}`
  log.info(`restore-dump: ${path} of snapshot ${snapshot.short_id} (${snapshot.hostname}, ${snapshot.time}) into a new database beside ${database}`)
  try {
    // The dump's end, as it streams by: one that does not end in COMMIT is cut off, or met an error.
    let tail = Buffer.alloc(0)
    const dump = new PassThrough()
    dump.on('data', (chunk: Buffer) => (tail = Buffer.concat([tail, chunk]).subarray(-SQLITE_DUMP_END.length)))
    const loader = sqlite3(`loading the dump into ${loading}`, loading, [], { stdin: dump, cmd: pageSize ? [`PRAGMA page_size=${pageSize}`] : [] })
    const read = runRestic(restic, dumpArgs(snapshot.id, path), { log, stdoutTo: dump, signal: restore.signal }).then(
      () => dump.end(),
      (error: Error) => {
        dump.destroy()
        throw new RunError(`restic could not read the dump (${error.message}); ${database} was left as it was.`)
      },
    )
    await Promise.all([read, loader])
    if (tail.toString('utf8') !== SQLITE_DUMP_END) throw new RunError(`the dump in snapshot ${snapshot.short_id} does not end in COMMIT; (it is cut off, or sqlite3 met an error while it dumped); ${database} was left as it was.`)
    const checked = await sqlite3(`checking ${loading}`, loading, ['PRAGMA integrity_check', 'SELECT count(*) FROM sqlite_schema'])
    if (checked.split('\n')[0] !== 'ok' || checked.split('\n')[1] === '0') throw new RunError(`the loaded database is not whole, or holds no table (${lastLines(checked)}); ${database} was left as it was.`)
    if (pageSize !== undefined) {
      const kept = `${database}.before-restore-${new Date().toISOString().replace(/[-:.]/g, '')}`
      await sqlite3(`keeping ${database} as it is`, database, [`VACUUM INTO ${quoted(kept)}`])
      log.info(`restore-dump: what ${database} held is kept as ${kept}`)
    }
    await copyInto(database, loading, restore.signal)
    log.info(`restore-dump: ${database} restored`)
  } finally {
    for (const leftover of [loading, ...COMPANIONS.map((suffix) => loading + suffix)]) await rm(leftover, { force: true })
  }
  return snapshot
}
