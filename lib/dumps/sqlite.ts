// How rds runs sqlite3 for the sqlite preset, whose dump and restore read and write the database's
// file where rds runs (lib/cli/sqlite-dump.ts, lib/restore/sqlite.ts).

/** How a whole .dump ends: one that met an error ends in ROLLBACK instead (and sqlite3 still exits 0). */
export const SQLITE_DUMP_END = 'COMMIT;\n'

// sqlite3 waits this long for a write in progress rather than fail (a rollback journal's writers hold readers off).
const BUSY_TIMEOUT_MS = 60_000

/**
 * sqlite3's argv for one database and its commands: no ~/.sqliterc (-init /dev/null), whose
 * .mode or .headers would change what rds reads; -bail, so that a failing command stops it.
 */
export function sqlite3Args(database: string, options: { readonly?: boolean; cmd?: string[]; busyTimeoutMs?: number }, ...commands: string[]): string[] {
  return ['-init', '/dev/null', '-batch', '-bail', ...(options.readonly ? ['-readonly'] : []), '-cmd', `.timeout ${options.busyTimeoutMs ?? BUSY_TIMEOUT_MS}`, ...(options.cmd ?? []).flatMap((cmd) => ['-cmd', cmd]), database, ...commands]
}

/** A path as a string literal of SQL: in single quotes, each one doubled. (Paths with quotes are refused: a dot-command's argument has no escape.) */
export const quoted = (path: string) => `'${path.replaceAll("'", "''")}'`
