import type { Command } from 'commander'
import { describeDuration } from '../config/duration.js'
import { ConfigError, EXIT } from '../errors.js'
import type { CliContext, CommandContext } from './context.js'
import { writeOut } from '../output.js'
import { checking } from './checking.js'
import { type CopyStatus, type JobStatus, type StatusTable } from '../observe/status.js'
import { readStatus } from '../observe/status-file.js'
import { isRunning } from '../observe/outcome.js'
import { overdueAt } from '../observe/overdue.js'
import { stateOf } from '../observe/job-state.js'

/** STATUS_FILE's table; a ConfigError when the variable is not set. */
export async function readStatusFile(cli: CliContext): Promise<StatusTable> {
  const file = cli.env.STATUS_FILE?.trim()
  if (!file) throw new ConfigError('STATUS_FILE is not set; set it to the file where the agent records its runs (the image sets /var/lib/rds/status.json).')
  return readStatus(file)
}

const short = (id: string) => id.slice(0, 8)

/** A job a person must look at: its backups fail or stopped, or its repository or restore failed a test. */
const needsAttention = (status: JobStatus, now: Date) =>
  ['LABEL ERROR', 'OVERDUE', 'FAILING'].includes(stateOf(status, now)) || status.lastCheck?.ok === false || status.lastDrill?.ok === false || status.lastRehearsal?.ok === false ||
  Object.values(status.copies ?? {}).some((copy) => copy.lastAttempt?.ok === false)

/** One line of a job's status, for people. */
export function describeJob(name: string, status: JobStatus, now = new Date()): string {
  const state = stateOf(status, now)
  if (status.error) return `${name}: ${state}: ${status.error}`
  const parts: string[] = []
  if (status.running && isRunning(status)) parts.push(`running since ${status.running.since}`)
  const success = status.lastSuccess
  parts.push(success ? `last success ${success.finishedAt}` : 'no success yet')
  const attempt = status.lastAttempt
  if (attempt && !attempt.ok) parts.push(`last run FAILED ${attempt.finishedAt} (exit ${attempt.exitCode ?? '?'}): ${attempt.message}`)
  const snapshot = status.lastSnapshot
  if (snapshot) parts.push(`snapshot ${short(snapshot.id)}${snapshot.files === undefined ? '' : ` (${snapshot.files} file${snapshot.files === 1 ? '' : 's'})`}${status.snapshots === undefined ? '' : `, ${status.snapshots} in all`}`)
  if (status.lastDefinitionAt) parts.push(`definition saved ${status.lastDefinitionAt}`)
  const due = overdueAt(status)
  if (due) parts.push(`${state === 'OVERDUE' ? 'OVERDUE since' : 'overdue at'} ${due.toISOString()}`)
  if (status.lastDowntimeSeconds !== undefined) parts.push(`its service stopped ${status.lastDowntimeSeconds.toFixed(1)} s for the last backup`)
  if (status.lastCheck) parts.push(`check ${status.lastCheck.ok ? 'passed' : 'FAILED'} ${status.lastCheck.finishedAt}${status.lastCheck.ok ? '' : `: ${status.lastCheck.message}`}`)
  if (status.lastDrill) parts.push(`drill ${status.lastDrill.ok ? 'passed' : 'FAILED'} ${status.lastDrill.finishedAt}${status.lastDrill.ok ? '' : `: ${status.lastDrill.message}`}`)
  for (const [destination, copy] of Object.entries(status.copies ?? {}).sort(([a], [b]) => a.localeCompare(b))) parts.push(describeCopy(destination, copy, now))
  if (status.lastRehearsal) parts.push(`rehearsal ${status.lastRehearsal.ok ? 'passed' : 'FAILED'} ${status.lastRehearsal.finishedAt}${status.lastRehearsal.ok ? '' : `: ${status.lastRehearsal.message}`}`)
  return `${name}: ${state}; ${parts.join('; ')}`
}

/** A job's copies into one repository: the newest snapshot there and its age, and a failed last copy. */
function describeCopy(destination: string, copy: CopyStatus, now: Date): string {
  const newest = copy.newest ? `newest snapshot copied ${short(copy.newest.id)} of ${copy.newest.time} (${describeDuration(Math.max(0, now.getTime() - Date.parse(copy.newest.time)))} old)` : 'none there yet'
  const failed = copy.lastAttempt?.ok === false ? `, last copy FAILED ${copy.lastAttempt.finishedAt}: ${copy.lastAttempt.message.replace(/\.$/, '')}` : ''
  return `copy into ${destination}: ${newest}${failed}`
}

export function addStatusCommand(program: Command, { cli, setExitCode }: CommandContext): void {
  program
    .command('status')
    .description("show every job's last attempt, last success, last snapshot, check and drill, and whether it is OVERDUE (from STATUS_FILE); exit 1 if any job is failing, overdue or has a label error, or its last check or drill failed; exit 4 if STATUS_FILE cannot be read")
    .option('--json', 'print the table as JSON, for scripts')
    .action(async (options: { json?: boolean }) => {
      const table = await checking('STATUS_FILE', () => readStatusFile(cli))
      const names = Object.keys(table.jobs).sort()
      const now = new Date()
      if (options.json) {
        const jobs = Object.fromEntries(names.map((name) => [name, { ...table.jobs[name], state: stateOf(table.jobs[name]!, now), overdueAt: overdueAt(table.jobs[name]!)?.toISOString() }]))
        await writeOut(cli.stdout, `${JSON.stringify({ heartbeatAt: table.heartbeatAt, jobs }, null, 2)}\n`)
      } else if (names.length === 0) {
        await writeOut(cli.stdout, 'no job has been recorded yet\n')
      } else {
        for (const name of names) await writeOut(cli.stdout, `${describeJob(name, table.jobs[name]!, now)}\n`)
      }
      if (names.some((name) => needsAttention(table.jobs[name]!, now))) setExitCode(EXIT.failure)
    })
}
