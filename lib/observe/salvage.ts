import { MAX_KEY_LINE, salvageRejected } from './rejected.js'
import type { JobStatus, StatusTable } from './status.js'

/**
 * Of a STATUS_FILE that is not JSON (edited by hand, damaged on the disk), what can still be read:
 * updateStatus writes it two spaces a level, so each member of an object is its own lines. The
 * table, its jobs and each job are read member by member; below them a record (a last snapshot, an
 * outcome) parses whole or is lost, and one without what its readers need is lost too. Each job's
 * last snapshot is what matters most: without it the vanished-repository guard would take a
 * repository whose disk is gone for a new one. A job that names a record twice (a deleted line ran
 * two jobs together) is lost whole: whose records are whose cannot be told. The guard's verdicts are
 * read apart (salvageRejected), never dropped nor given to another job.
 */
export function salvagedTable(text: string): { table: StatusTable; lostSnapshots: number } {
  const ambiguous = new Set<string>()
  const read = readable(text.split(/\r?\n/), 2, (key) => DEPTH[key] ?? 0, [], ambiguous).value
  const untold = (job: string) => ambiguous.has(placeOf(['jobs', job]))
  const now = new Date().toISOString()
  const jobs = new Map<string, JobStatus>()
  for (const [name, status] of Object.entries(isObject(read.jobs) ? read.jobs : {})) {
    if (isObject(status) && !untold(name)) jobs.set(name, { ...whole(status), watchedSince: typeof status.watchedSince === 'string' ? status.watchedSince : now } as JobStatus)
  }
  const { jobs: verdicts, gone } = salvageRejected(text)
  const unowned = [...gone]
  for (const [name, rejected] of Object.entries(verdicts)) {
    if (untold(name)) unowned.push(...rejected)
    else {
      const status = jobs.get(name) ?? jobs.set(name, { watchedSince: now }).get(name)!
      status.rejectedSnapshots = union(strings(status.rejectedSnapshots), rejected)
    }
  }
  const table: StatusTable = { jobs: Object.fromEntries(jobs) }
  if (typeof read.heartbeatAt === 'string') table.heartbeatAt = read.heartbeatAt
  if (Array.isArray(read.forgottenJobs)) table.forgottenJobs = strings(read.forgottenJobs)
  if (isObject(read.copiedInto)) table.copiedInto = Object.fromEntries(Object.entries(read.copiedInto).filter(([, copied]) => has(copied, COPIED))) as StatusTable['copiedInto']
  if (isObject(read.repositories)) table.repositories = read.repositories as StatusTable['repositories']
  const rejected = union(strings(read.rejectedSnapshots), unowned)
  if (rejected.length > 0) table.rejectedSnapshots = rejected
  // What the damaged table held that is not in the new one, for the person who mends it to hear.
  const written = text.match(/(?<!\\)"lastSnapshot"\s*:/g)?.length ?? 0
  const kept = [...jobs.values()].filter((status) => status.lastSnapshot).length
  return { table, lostSnapshots: Math.max(0, written - kept) }
}

/**
 * How deep a damaged member of the table is read, member by member: the jobs, each job's records;
 * the copies' and repositories' entries.
 */
const DEPTH: Record<string, number> = { jobs: 2, copiedInto: 1, repositories: 1 }

// What a job's records must hold for their readers (the guard, rds status, the run lock's judge).
const OUTCOME = { startedAt: 'string', finishedAt: 'string', ok: 'boolean', message: 'string' }
const COPIED = { id: 'string', time: 'string', by: 'string' }
const RECORDS: Record<string, Record<string, string>> = {
  lastSnapshot: { id: 'string', time: 'string', repository: 'string' },
  running: { since: 'string', pid: 'number' },
  keptNode: { service: 'string', nodeId: 'string' },
  lastAttempt: OUTCOME,
  lastSuccess: OUTCOME,
  lastCheck: OUTCOME,
  lastDrill: OUTCOME,
  lastRehearsal: OUTCOME,
}

/** A job's records, without those that lack what their readers need. */
const whole = (status: Record<string, unknown>) => Object.fromEntries(Object.entries(status).filter(([key, value]) => !RECORDS[key] || has(value, RECORDS[key])))
const has = (value: unknown, fields: Record<string, string>) => isObject(value) && Object.entries(fields).every(([field, type]) => typeof value[field] === type)
const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value)
const strings = (value: unknown): string[] => (Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [])
const union = (first: string[], second: string[]) => [...new Set([...first, ...second])]

/** A member's place in the table, as `ambiguous` holds it. */
const placeOf = (path: string[]) => JSON.stringify(path)

/**
 * The members of an object whose members are the lines at `indent` spaces (the object at `path`):
 * each that parses alone, and each object that may be read deeper (`depth`), member by member. A
 * member named twice is dropped, and its place goes to `ambiguous`; so does an object read member
 * by member whose members are records (a job) and name one twice: whose they are cannot be told.
 */
function readable(lines: string[], indent: number, depth: (key: string) => number, path: string[], ambiguous: Set<string>): { value: Record<string, unknown>; twice: Set<string> } {
  const kept = new Map<string, unknown>()
  const twice = new Set<string>()
  const starts = `${' '.repeat(indent)}"`
  const closes = new RegExp(`^ {${indent}}[\\]}],?\\s*$`)
  const ends = new RegExp(`^ {0,${indent}}\\S`)
  for (let first = 0; first < lines.length; ) {
    if (!lines[first]!.startsWith(starts)) {
      first++
      continue
    }
    // A member runs to its own closing line, or up to a line no deeper than it (the next member, its parent's end).
    let end = first + 1
    while (end < lines.length && !ends.test(lines[end]!)) end++
    if (end < lines.length && closes.test(lines[end]!)) end++
    for (const [key, value] of member(lines.slice(first, end), indent, depth, path, ambiguous)) {
      if (kept.has(key)) twice.add(key)
      kept.set(key, value)
    }
    first = end
  }
  for (const key of twice) {
    kept.delete(key)
    ambiguous.add(placeOf([...path, key]))
  }
  return { value: Object.fromEntries(kept), twice }
}

/** One member's lines: an object that may be read deeper member by member, anything else parsed whole; nothing when it cannot be. */
function member(lines: string[], indent: number, depth: (key: string) => number, path: string[], ambiguous: Set<string>): [string, unknown][] {
  // A key, and an object's opening brace, damaged around them ("jobs" {, a space after the brace) are
  // still read. A key is a service's name: a longer line is none (and would cost the regex dearly).
  const opens = lines[0]!.length <= MAX_KEY_LINE ? new RegExp(`^ {${indent}}("(?:[^"\\\\]|\\\\.)*") *(?:: *)?\\{\\s*$`).exec(lines[0]!) : null
  const key = opens ? keyOf(opens[1]!) : undefined
  if (key !== undefined && key !== null && depth(key) > 0) {
    // Read member by member even where it would parse whole: JSON.parse keeps the last of a name given twice.
    const below = depth(key) - 1
    const { value, twice } = readable(lines.slice(1), indent + 2, () => below, [...path, key], ambiguous)
    if (below > 0 || twice.size === 0) return [[key, value]]
    ambiguous.add(placeOf([...path, key]))
    return []
  }
  try {
    return Object.entries(JSON.parse(`{${lines.join('\n').trimEnd().replace(/,$/, '')}}`) as Record<string, unknown>)
  } catch {
    return []
  }
}

/** A key as it is written; null for one damaged past reading. */
function keyOf(written: string): string | null {
  try {
    return JSON.parse(written) as string
  } catch {
    return null
  }
}
