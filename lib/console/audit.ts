import { appendFile, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { hostname } from 'node:os'
import { dirname } from 'node:path'
import type { Logger } from '../observe/log.js'

/** One action a console user or token asked for, and how it went. */
export interface AuditEntry {
  at: string
  who: string
  role: string
  action: string
  target: string
  outcome: string
}

const KEPT = 1000
// Refusals of one account a minute the log keeps: a stream of refused calls never pushes the others' entries out.
const REFUSALS_PER_MINUTE = 10
// What a person typed (a name at a failed login) never breaks a line of the log, nor makes it long.
const oneLine = (text: string) => text.replace(/[\u0000-\u001f\u007f]/g, '?').slice(0, 200)

const isEntry = (value: unknown): value is AuditEntry =>
  typeof value === 'object' && value !== null && ['at', 'who', 'role', 'action', 'target', 'outcome'].every((key) => typeof (value as Record<string, unknown>)[key] === 'string')

/**
 * The file holds these entries, whole: written aside, then put in its place. The name aside is this
 * container's own: two controllers share the volume while one hands over to the other.
 */
async function writeWhole(file: string, entries: AuditEntry[]): Promise<void> {
  const aside = `${file}.${hostname()}-${process.pid}.new`
  try {
    await writeFile(aside, entries.map((entry) => `${JSON.stringify(entry)}\n`).join(''), { mode: 0o600 })
    await rename(aside, file)
  } catch (error) {
    await rm(aside, { force: true })
    throw error
  }
}

/**
 * The console's log of who did what: each entry goes to the controller's log (docker service logs
 * keeps it) and, where a file is given (beside STATUS_FILE), to that file, one JSON line each, so
 * that the console shows the newest KEPT across restarts and a new controller. Logins, failed ones
 * too, are entries.
 */
export class AuditLog {
  private readonly entries: AuditEntry[] = []
  private writing: Promise<void> = Promise.resolve()
  /** Lines added to the file since it was last cut to the newest KEPT. */
  private appended = 0

  constructor(
    private readonly log: Logger,
    private readonly file?: string,
  ) {}

  /** The log kept in `file`: its newest KEPT entries read back (the file cut to them), and the next ones added. */
  static async open(log: Logger, file: string): Promise<AuditLog> {
    const audit = new AuditLog(log, file)
    const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? '' : Promise.reject(error)))
    const lines = text.split('\n').filter((line) => line.trim() !== '')
    for (const line of lines) {
      try {
        const entry: unknown = JSON.parse(line)
        if (isEntry(entry)) audit.entries.push(entry)
      } catch {
        // A line cut short by a crash while it was written: the others stand.
      }
    }
    audit.entries.splice(0, audit.entries.length - KEPT)
    await mkdir(dirname(file), { recursive: true })
    if (lines.length !== audit.entries.length || lines.length === 0) await writeWhole(file, audit.entries)
    return audit
  }

  record(said: Omit<AuditEntry, 'at'>): void {
    const entry = { at: new Date().toISOString(), ...said, who: oneLine(said.who), target: oneLine(said.target), outcome: oneLine(said.outcome) }
    this.entries.push(entry)
    if (this.entries.length > KEPT) this.entries.shift()
    this.log.info(`console: ${entry.who} (${entry.role}): ${entry.action} ${entry.target}: ${entry.outcome}`)
    const file = this.file
    if (!file) return
    // Once the file has grown by KEPT lines, it is cut to the newest KEPT entries (these, as they are now).
    const whole = ++this.appended > KEPT ? [...this.entries] : undefined
    if (whole) this.appended = 0
    this.writing = this.writing.then(() => (whole ? writeWhole(file, whole) : appendFile(file, `${JSON.stringify(entry)}\n`, { mode: 0o600 }))).catch((error: Error) => this.log.warn(`console: could not keep an entry of the audit log in ${file}: ${error.message}`))
  }

  private readonly refusals = new Map<string, { minute: number; count: number }>()

  /** A refused request of an account: kept as an entry, up to REFUSALS_PER_MINUTE of the account a minute, and logged always. */
  refused(said: Omit<AuditEntry, 'at'>): void {
    const minute = Math.floor(Date.now() / 60_000)
    const seen = this.refusals.get(said.who)
    const count = seen?.minute === minute ? seen.count + 1 : 1
    this.refusals.set(said.who, { minute, count })
    if (count <= REFUSALS_PER_MINUTE) return this.record(said)
    this.log.warn(`console: ${oneLine(said.who)} (${said.role}): ${said.action} ${oneLine(said.target)}: ${oneLine(said.outcome)} (not in the audit log: more than ${REFUSALS_PER_MINUTE} refusals of ${oneLine(said.who)} this minute)`)
  }

  /** Resolves once every entry recorded so far is in the file. */
  written(): Promise<void> {
    return this.writing
  }

  /** The newest first. */
  newest(): AuditEntry[] {
    return [...this.entries].reverse()
  }
}
