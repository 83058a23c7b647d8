import { ConfigError } from '../errors.js'

/** The tag of every dump's snapshot: a dump and the service's volumes are separate snapshots. */
export const DUMP_TAG = 'dump'

/**
 * A database dump: a command run with `sh -c` in the service's container whose stdout is the dump,
 * and the name it has in the snapshot. A preset also knows how to load its dump back. The sqlite
 * preset runs no command in the container: rds reads the database file itself (see database).
 */
export interface Dump {
  /** The preset's name, or undefined for a command of the user's own. */
  preset?: PresetName
  command: string
  filename: string
  /**
   * For the sqlite preset: the database file, by its path where the dumped program sees it: a
   * single agent's own (DUMP_DATABASE), or a service's container's (the label; its job reads the
   * file in the volume's mount, ServiceBackup.databaseVolume).
   */
  database?: string
}

export type PresetName = 'postgres' | 'mysql' | 'mariadb' | 'redis' | 'sqlite'

interface Preset {
  dump: string
  /** Reads the dump on stdin and loads it into the database the container runs; undefined when it cannot. */
  restore?: string
  filename: string
}

// Credentials come from the container's own environment, as the official images take them (the
// variable, or its _FILE twin holding a secret's path), and are read by the container's shell: they
// never pass through rds, its argv or its logs. Passwords go to the clients in their environment
// variables (PGPASSWORD, MYSQL_PWD), never in an argv a `ps` in the container would show.
const POSTGRES_CREDENTIALS = [
  'if [ -n "${POSTGRES_PASSWORD_FILE:-}" ]; then PGPASSWORD=$(cat "$POSTGRES_PASSWORD_FILE") || exit 1; else PGPASSWORD=${POSTGRES_PASSWORD:-}; fi',
  'export PGPASSWORD',
].join('\n')

const MYSQL_CREDENTIALS = [
  'file=${MARIADB_ROOT_PASSWORD_FILE:-${MYSQL_ROOT_PASSWORD_FILE:-}}',
  'if [ -n "$file" ]; then MYSQL_PWD=$(cat "$file") || exit 1; else MYSQL_PWD=${MARIADB_ROOT_PASSWORD:-${MYSQL_ROOT_PASSWORD:-}}; fi',
  'export MYSQL_PWD',
].join('\n')

// MariaDB's images have mariadb-dump (mysqldump is gone from recent ones); MySQL's have mysqldump.
const mysqlClient = (mariadb: string, mysql: string) => `if command -v ${mariadb} >/dev/null 2>&1; then client=${mariadb}; else client=${mysql}; fi`

// A fresh database takes a moment to accept connections: the loader waits up to a minute for it.
const WAIT_UNTIL_READY = (ready: string) => `for i in $(seq 1 60); do ${ready} && break; sleep 1; done`

const MYSQL: Preset = {
  dump: [MYSQL_CREDENTIALS, mysqlClient('mariadb-dump', 'mysqldump'), 'exec "$client" --user=root --single-transaction --all-databases --routines --events --triggers'].join('\n'),
  restore: [
    MYSQL_CREDENTIALS,
    mysqlClient('mariadb-admin', 'mysqladmin'),
    WAIT_UNTIL_READY('"$client" --user=root --silent ping >/dev/null 2>&1'),
    mysqlClient('mariadb', 'mysql'),
    // The dump rewrites the grant tables, which the running server reads only at its start or on
    // FLUSH PRIVILEGES: without it, the restored users cannot log in.
    '{ cat; printf "\\nFLUSH PRIVILEGES;\\n"; } | "$client" --user=root',
  ].join('\n'),
  filename: 'all-databases.sql',
}

export const PRESETS: Record<PresetName, Preset> = {
  postgres: {
    // --clean --if-exists: the dump drops what it creates first, so it also loads into a running
    // database that still holds (some of) the data.
    dump: [POSTGRES_CREDENTIALS, 'exec pg_dumpall --clean --if-exists --username="${POSTGRES_USER:-postgres}"'].join('\n'),
    // ON_ERROR_STOP: a statement that fails fails the restore, rather than a restore that looks
    // whole. So the dump's DROP and CREATE of the role psql logs in as, which always fail (the
    // role is in use, or exists), are left out; its ALTER ROLE (its password, too) still applies.
    restore: [
      POSTGRES_CREDENTIALS,
      'user=${POSTGRES_USER:-postgres}',
      WAIT_UNTIL_READY('pg_isready --quiet --username="$user"'),
      'sed -e "/^DROP ROLE IF EXISTS \\"\\{0,1\\}$user\\"\\{0,1\\};\\$/d" -e "/^CREATE ROLE \\"\\{0,1\\}$user\\"\\{0,1\\};\\$/d" \\',
      '  | psql --no-psqlrc --quiet --set=ON_ERROR_STOP=1 --username="$user" --dbname=postgres',
    ].join('\n'),
    filename: 'pg_dumpall.sql',
  },
  mysql: MYSQL,
  mariadb: MYSQL,
  redis: {
    // A consistent point-in-time copy, made by the server itself (as for a replica): redis-cli --rdb.
    dump: ['if [ -n "${REDIS_PASSWORD:-}" ]; then export REDISCLI_AUTH="$REDIS_PASSWORD"; fi', 'exec redis-cli --rdb -'].join('\n'),
    filename: 'dump.rdb',
  },
  // Many applications' images have no sqlite3, so rds runs its own on the database's file, in the
  // volume (rds sqlite-dump, lib/cli/sqlite-dump.ts): nothing runs in the container.
  sqlite: {
    dump: 'rds sqlite-dump',
    filename: 'database.sql',
  },
}

/** The presets' names, as messages list them. */
export const PRESET_NAMES = 'postgres, mysql, mariadb, redis, sqlite'

/** What a dump without a preset is called in the snapshot, unless rds.backup.dump.filename says. */
export const CUSTOM_DUMP_FILENAME = 'dump'
// A file name, not a path: restic stores it at the snapshot's root.
const FILENAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/

const isPreset = (value: string): value is PresetName => Object.hasOwn(PRESETS, value)

/**
 * The dump a label or variable (never blank: blank ones count as unset) asks for: a preset's name,
 * or a command of the user's own. `names` are the label's or variables' names, for messages.
 */
export function readDump(value: string, filename: string | undefined, database: string | undefined, names: { dump: string; filename: string; database: string }): Dump {
  const trimmed = value.trim()
  if (filename !== undefined && !FILENAME.test(filename)) {
    throw new ConfigError(`${names.filename} must be a file name such as "app.sql" (letters, digits, "_", "." and "-"), not ${JSON.stringify(filename)}.`)
  }
  if (trimmed === 'sqlite') {
    if (database === undefined) throw new ConfigError(`${names.dump} is sqlite but ${names.database} is not set; set it to the database file, such as /data/app.db.`)
    if (!database.startsWith('/') || database.split('/').includes('..') || database.endsWith('/') || /['"\\\n]/.test(database)) {
      throw new ConfigError(`${names.database} must be the absolute path of the database file, such as /data/app.db, with no quote or backslash, not ${JSON.stringify(database)}.`)
    }
  } else if (database !== undefined) {
    throw new ConfigError(`${names.database} is set but ${names.dump} is not sqlite; remove it, or set ${names.dump} to sqlite.`)
  }
  if (isPreset(trimmed)) return { preset: trimmed, command: PRESETS[trimmed].dump, filename: filename ?? PRESETS[trimmed].filename, ...(database === undefined ? {} : { database }) }
  return { command: trimmed, filename: filename ?? CUSTOM_DUMP_FILENAME }
}

/** The command that loads a preset's dump, read on stdin, into the database its container runs. */
export function restoreCommand(preset: PresetName | undefined): string | undefined {
  return preset === undefined ? undefined : PRESETS[preset].restore
}
