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
// What a person typed (a name at a failed login) never breaks a line of the log, nor makes it long.
const oneLine = (text: string) => text.replace(/[\u0000-\u001f\u007f]/g, '?').slice(0, 200)

/**
 * The console's log of who did what: each entry goes to the controller's log (docker service logs
 * keeps it) and the newest are shown in the console. Logins, failed ones too, are entries.
 */
export class AuditLog {
  private readonly entries: AuditEntry[] = []

  constructor(private readonly log: Logger) {}

  record(said: Omit<AuditEntry, 'at'>): void {
    const entry = { ...said, who: oneLine(said.who), target: oneLine(said.target), outcome: oneLine(said.outcome) }
    this.entries.push({ at: new Date().toISOString(), ...entry })
    if (this.entries.length > KEPT) this.entries.shift()
    this.log.info(`console: ${entry.who} (${entry.role}): ${entry.action} ${entry.target}: ${entry.outcome}`)
  }

  /** The newest first. */
  newest(): AuditEntry[] {
    return [...this.entries].reverse()
  }
}
