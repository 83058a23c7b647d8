import { salvageRejected } from './rejected.js'
import type { JobStatus, StatusTable } from './status.js'

/**
 * Of a STATUS_FILE that is not JSON (edited by hand, damaged on the disk), what can still be read:
 * updateStatus writes it two spaces a level, so each member of an object is its own lines. A member
 * that parses alone is kept; one that does not, if it is an object, is read member by member; the
 * rest is lost. Each job's last snapshot is what matters most: without it the vanished-repository
 * guard would take a repository whose disk is gone for a new one. The guard's verdicts are read
 * apart (salvageRejected), never dropped nor given to another job.
 */
export function salvagedTable(text: string): StatusTable {
  const read = readable(text.split(/\r?\n/), 2, (key) => DEPTH[key] ?? 0)
  const now = new Date().toISOString()
  const jobs = new Map<string, JobStatus>()
  for (const [name, status] of Object.entries(isObject(read.jobs) ? read.jobs : {})) {
    if (isObject(status)) jobs.set(name, { ...status, watchedSince: typeof status.watchedSince === 'string' ? status.watchedSince : now } as JobStatus)
  }
  const { jobs: verdicts, gone } = salvageRejected(text)
  for (const [name, rejected] of Object.entries(verdicts)) {
    const status = jobs.get(name) ?? jobs.set(name, { watchedSince: now }).get(name)!
    status.rejectedSnapshots = union(Array.isArray(status.rejectedSnapshots) ? status.rejectedSnapshots : [], rejected)
  }
  const table: StatusTable = { jobs: Object.fromEntries(jobs) }
  if (typeof read.heartbeatAt === 'string') table.heartbeatAt = read.heartbeatAt
  if (Array.isArray(read.forgottenJobs)) table.forgottenJobs = read.forgottenJobs.filter((job) => typeof job === 'string')
  if (isObject(read.copiedInto)) table.copiedInto = read.copiedInto as StatusTable['copiedInto']
  if (isObject(read.repositories)) table.repositories = read.repositories as StatusTable['repositories']
  const goneBefore = Array.isArray(read.rejectedSnapshots) ? (read.rejectedSnapshots as string[]) : []
  if (goneBefore.length + gone.length > 0) table.rejectedSnapshots = union(goneBefore, gone)
  return table
}

/**
 * How deep a damaged member of the table is read, member by member: the jobs, each job's records;
 * the copies' and repositories' entries. Below that a record is whole or lost (a last snapshot
 * without its ID is no record).
 */
const DEPTH: Record<string, number> = { jobs: 2, copiedInto: 1, repositories: 1 }

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value)
const union = (first: string[], second: string[]) => [...new Set([...first, ...second])]

/**
 * The members of an object whose members are the lines at `indent` spaces: each that parses alone,
 * and of each object that does not and may be read deeper (`depth`), its members that do. A member
 * named twice is dropped: which of the two is right cannot be told (a deleted line may have run two
 * jobs' lines together).
 */
function readable(lines: string[], indent: number, depth: (key: string) => number): Record<string, unknown> {
  const kept = new Map<string, unknown>()
  const twice = new Set<string>()
  const starts = (line: string) => line.startsWith(`${' '.repeat(indent)}"`)
  const closes = (line: string) => new RegExp(`^ {${indent}}[\\]}],?\\s*$`).test(line)
  const ends = (line: string) => new RegExp(`^ {0,${indent}}\\S`).test(line)
  for (let first = 0; first < lines.length; ) {
    if (!starts(lines[first]!)) {
      first++
      continue
    }
    // A member runs to its own closing line, or up to a line no deeper than it (the next member, its parent's end).
    let end = first + 1
    while (end < lines.length && !ends(lines[end]!)) end++
    if (end < lines.length && closes(lines[end]!)) end++
    for (const [key, value] of Object.entries(member(lines.slice(first, end), indent, depth))) {
      if (kept.has(key)) twice.add(key)
      kept.set(key, value)
    }
    first = end
  }
  for (const key of twice) kept.delete(key)
  return Object.fromEntries(kept)
}

/** One member's lines as a table of it, parsed whole or else member by member; empty when neither can be. */
function member(lines: string[], indent: number, depth: (key: string) => number): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(`{${lines.join('\n').trimEnd().replace(/,$/, '')}}`)
    if (isObject(parsed)) return parsed
  } catch {
    // Damaged within: its members are read one by one, below.
  }
  const opens = new RegExp(`^ {${indent}}("(?:[^"\\\\]|\\\\.)*"): \\{$`).exec(lines[0]!)
  const key = opens && keyOf(opens[1]!)
  if (key === null || key === undefined || depth(key) < 1) return {}
  const below = depth(key) - 1
  return { [key]: readable(lines.slice(1), indent + 2, () => below) }
}

/** A key as it is written; null for one damaged past reading. */
function keyOf(written: string): string | null {
  try {
    return JSON.parse(written) as string
  } catch {
    return null
  }
}
