import { randomBytes } from 'node:crypto'
import { chmod, chown, lstat, realpath, rm, stat } from 'node:fs/promises'
import { dirname } from 'node:path'
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

// lstat: a link that leads nowhere is there too (SQLite would follow it and create its target).
const exists = (path: string) => lstat(path).then(
  () => true,
  () => false,
)
const lastLines = (text: string) => text.trim().split('\n').slice(-3).join(' | ')

interface Sqlite3Options {
  cmd?: string[]
  stdin?: PassThrough
  busyTimeoutMs?: number
  signal?: AbortSignal
}

/** Runs sqlite3 on a database; a RunError that says `what` failed, and sqlite3's words, unless it succeeded. */
async function sqlite3(what: string, database: string, commands: string[], options: Sqlite3Options = {}): Promise<string> {
  options.signal?.throwIfAborted()
  const running = execa('sqlite3', sqlite3Args(database, { cmd: options.cmd, busyTimeoutMs: options.busyTimeoutMs }, ...commands), { stdin: options.stdin ? 'pipe' : 'ignore', reject: false, cancelSignal: options.signal })
  options.stdin?.pipe(running.stdin!)
  const result = await running
  if (result.exitCode !== 0) throw new RunError(`${what} failed (${result.exitCode === undefined ? result.message : `sqlite3 exit code ${result.exitCode}`}: ${lastLines(result.stderr || result.stdout)})`)
  return result.stdout.trim()
}

/** What a restored database must keep of the one it replaces: .restore needs its page size, and copies its encoding and auto_vacuum. */
interface Layout {
  pageSize: number
  encoding: string
  autoVacuum: number
}

/** The database as it is before a restore: undefined when there is none yet. */
async function current(database: string, signal?: AbortSignal): Promise<Layout | undefined> {
  // The file itself, not a link, in a folder that is no link either: a link could lead out of the volume.
  const folder = dirname(database)
  if ((await realpath(folder)) !== folder) throw new ConfigError(`${folder} is a symbolic link, or under one; give the database's own path.`)
  if (!(await exists(database))) {
    const orphan = (await Promise.all(COMPANIONS.map(async (suffix) => ((await exists(database + suffix)) ? database + suffix : undefined)))).find(Boolean)
    if (orphan) throw new ConfigError(`${orphan} is there without its database ${database}; SQLite would apply it to the restored one: move it away first.`)
    return undefined
  }
  if ((await lstat(database)).isSymbolicLink()) throw new ConfigError(`${database} is a symbolic link; give the database's own path.`)
  const read = `reading ${database} (a damaged database cannot be read: move it and its -wal, -shm and -journal away, and restore again)`
  const [pageSize, encoding, autoVacuum] = (await sqlite3(read, database, ['PRAGMA page_size', 'PRAGMA encoding', 'PRAGMA auto_vacuum'], { signal })).split('\n')
  return { pageSize: Number(pageSize), encoding: encoding!, autoVacuum: Number(autoVacuum) }
}

/** Gives a file rds made the owner and mode of the one it stands for (SQLite makes it as the job's root, 0644). */
async function ownAs(file: string, model: string): Promise<void> {
  const { uid, gid, mode } = await stat(model)
  await chown(file, uid, gid)
  await chmod(file, mode & 0o666)
}

// How long .restore waits for the application's lock in all, and for each try (each sqlite3 call
// waits its whole busy timeout; a short one holds the application off for no longer).
const BUSY_DEADLINE_MS = 60_000
const BUSY_TRY_MS = 2000

/** Copies `source` into `database` with SQLite's backup (.restore), trying again while the application holds its lock. */
async function copyInto(database: string, source: string, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + BUSY_DEADLINE_MS
  for (;;) {
    try {
      await sqlite3(`copying the restored database into ${database}`, database, [`.restore '${source}'`], { busyTimeoutMs: BUSY_TRY_MS, signal })
      return
    } catch (error) {
      if (!(error instanceof RunError) || !/ is busy/.test(error.message)) throw error
      if (Date.now() > deadline) throw new RunError(`${database} stayed busy for a minute (the application writes to it all along); stop the application, and restore again. It was left as it was.`)
      await setTimeout(500, undefined, { signal })
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
  const { database, signal } = restore
  const layout = await current(database, signal)
  const loading = `${database}.rds-restore-${randomBytes(4).toString('hex')}`
  log.info(`restore-dump: ${path} of snapshot ${snapshot.short_id} (${snapshot.hostname}, ${snapshot.time}) into a new database beside ${database}`)
  try {
    // The dump's end, as it streams by: one that does not end in COMMIT is cut off, or met an error.
    let tail = Buffer.alloc(0)
    const dump = new PassThrough()
    dump.on('data', (chunk: Buffer) => (tail = Buffer.concat([tail, chunk]).subarray(-SQLITE_DUMP_END.length)))
    const cmd = layout ? [`PRAGMA page_size=${layout.pageSize}`, `PRAGMA encoding='${layout.encoding}'`, `PRAGMA auto_vacuum=${layout.autoVacuum}`] : []
    const loader = sqlite3(`loading the dump into ${loading}`, loading, [], { stdin: dump, cmd, signal })
    const read = runRestic(restic, dumpArgs(snapshot.id, path), { log, stdoutTo: dump, signal }).then(
      () => dump.end(),
      (error: Error) => {
        dump.destroy()
        throw new RunError(`restic could not read the dump (${error.message}); ${database} was left as it was.`)
      },
    )
    await Promise.all([read, loader])
    if (tail.toString('utf8') !== SQLITE_DUMP_END) throw new RunError(`the dump in snapshot ${snapshot.short_id} does not end in COMMIT; (it is cut off, or sqlite3 met an error while it dumped); ${database} was left as it was.`)
    const checked = await sqlite3(`checking ${loading}`, loading, ['PRAGMA integrity_check', 'SELECT count(*) FROM sqlite_schema'], { signal })
    if (checked.split('\n')[0] !== 'ok' || checked.split('\n')[1] === '0') throw new RunError(`the loaded database is not whole, or holds no table (${lastLines(checked)}); ${database} was left as it was.`)
    if (layout) {
      const kept = `${database}.before-restore-${new Date().toISOString().replace(/[-:.]/g, '')}`
      await sqlite3(`keeping ${database} as it is`, database, [`VACUUM INTO ${quoted(kept)}`], { signal })
      await ownAs(kept, database)
      log.info(`restore-dump: what ${database} held is kept as ${kept}`)
      await copyInto(database, loading, signal)
    } else {
      // No database yet: the restored one is the folder's owner's, as the application would have made it.
      await copyInto(database, loading, signal)
      await ownAs(database, dirname(database))
    }
    log.info(`restore-dump: ${database} restored`)
  } finally {
    for (const leftover of [loading, ...COMPANIONS.map((suffix) => loading + suffix)]) await rm(leftover, { force: true })
  }
  return snapshot
}
