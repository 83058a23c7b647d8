import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { RunError } from '../errors.js'
import { DUMP_TAG, type Dump } from '../dumps/presets.js'

// Lines of the dump's own stderr kept to explain its failure.
const DUMP_STDERR_TAIL = 5
// How restic prefixes the lines its --stdin-from-command writes to stderr.
const SUBPROCESS_LINE = /^subprocess [^:]+: (.*)$/

/**
 * rds itself, as restic runs it for a dump: this very file's bin/rds.js. Run from the TypeScript
 * sources (the tests), that is the compiled one in dist/.
 */
function rdsEntry(): string {
  const here = fileURLToPath(import.meta.url)
  return here.endsWith('.ts') ? join(dirname(here), '../../dist/bin/rds.js') : join(dirname(here), '../../bin/rds.js')
}

/** A dump's snapshot's tags: DUMP_TAG, and the run's own. */
const dumpTags = (tags: string[]) => [DUMP_TAG, ...tags].flatMap((tag) => ['--tag', tag])

/**
 * restic backup's arguments for a dump: restic runs `rds dump-stream`, which runs the dump in the
 * container and hands restic its stdout. restic saves no snapshot when that command fails, so a
 * dump that fails, is cut off or writes nothing is never stored as if it were whole.
 */
export function dumpBackupArgs(dump: Dump, containerId: string, tags: string[] = []): string[] {
  return [
    ...dumpTags(tags),
    '--stdin-from-command',
    '--stdin-filename',
    dump.filename,
    '--',
    process.execPath,
    rdsEntry(),
    'dump-stream',
    containerId,
    '--',
    'sh',
    '-c',
    dump.command,
  ]
}

/**
 * restic backup's arguments for a sqlite dump: restic runs `rds sqlite-dump`, which checks the
 * database's file where rds runs and hands restic sqlite3's .dump of it.
 */
export function sqliteBackupArgs(dump: Dump, tags: string[] = []): string[] {
  return [...dumpTags(tags), '--stdin-from-command', '--stdin-filename', dump.filename, '--', process.execPath, rdsEntry(), 'sqlite-dump', dump.database!]
}

/** Keeps the last lines the dump wrote to stderr (restic passes them on, prefixed). */
export function dumpStderrTail(): { onStderrLine: (line: string) => void; tail: () => string } {
  const lines: string[] = []
  return {
    onStderrLine: (line) => {
      const own = SUBPROCESS_LINE.exec(line)
      if (!own) return
      lines.push(own[1]!)
      if (lines.length > DUMP_STDERR_TAIL) lines.shift()
    },
    tail: () => lines.join(' | '),
  }
}

/** A failed dump's error: the dump's own last words, and that nothing was saved. */
export function dumpFailure(dump: Dump, error: RunError, tail: string): RunError {
  const what = dump.preset ? `the ${dump.preset} dump` : 'the dump'
  return new RunError(
    `${what} (DUMP_COMMAND, or the label rds.backup.dump) failed and no snapshot of it was saved: ${tail || error.message}`,
    error.exitCode,
  )
}
