import type { Command } from 'commander'
import { EXIT } from '../errors.js'
import { HEARTBEAT_LIMIT_MS } from '../observe/status.js'
import { isOverdue } from '../observe/overdue.js'
import { isRunning } from '../observe/outcome.js'
import type { CommandContext } from './context.js'
import { checking } from './checking.js'
import { writeOut } from '../output.js'
import { describeJob, readStatusFile } from './status.js'
import { stateOf } from '../observe/job-state.js'

export function addHealthCommand(program: Command, { cli, setExitCode }: CommandContext): void {
  program
    .command('health')
    .description('the image\'s health check, from STATUS_FILE: exit 1 only when the agent has stopped recording or never began (exit 4 when STATUS_FILE cannot be read), or (one service) a job is OVERDUE; with MODE=swarm an OVERDUE job is notified and in rds status, never unhealthy; a failed run alone is reported, not unhealthy')
    .option('--json', 'print the verdict as JSON ({ healthy, problems, notes, jobs }), for scripts')
    .action(async (options: { json?: boolean }) => {
      const table = await checking('STATUS_FILE', () => readStatusFile(cli))
      const now = new Date()
      const problems: string[] = []
      const heartbeat = table.heartbeatAt ? Date.parse(table.heartbeatAt) : undefined
      if (heartbeat === undefined) {
        // Docker's start period (the image's HEALTHCHECK) covers the time before an agent's first beat.
        problems.push('the agent has never written its heartbeat into STATUS_FILE: it has not started, or it hangs before its first')
      } else if (now.getTime() - heartbeat > HEARTBEAT_LIMIT_MS) {
        problems.push(`the agent has not written STATUS_FILE since ${table.heartbeatAt}: it is hung or stopped`)
      }
      const names = Object.keys(table.jobs).sort()
      const overdue = names.filter((name) => isOverdue(table.jobs[name]!, now))
      // Swarm replaces an unhealthy task, and would stop the runs in progress: they are left to finish.
      const running = names.filter((name) => isRunning(table.jobs[name]!))
      const notes: string[] = []
      // The controller's health is its own liveness: Swarm would replace it for one service's
      // silence, and every other service's runs (and an operator's restore in it) with it.
      if (overdue.length > 0 && cli.env.MODE?.trim() === 'swarm') notes.push(`${overdue.length} job(s) OVERDUE (notified, and in rds status); the controller itself is healthy`)
      else if (overdue.length > 0 && running.length > 0) notes.push(`${overdue.length} job(s) OVERDUE, but unhealthy only once the runs in progress have ended (${running.join(', ')})`)
      else if (overdue.length > 0) problems.push(`${overdue.length} job(s) OVERDUE: ${overdue.join(', ')}`)
      if (names.length === 0) notes.push('no job has been recorded yet')
      if (options.json) {
        const jobs = Object.fromEntries(names.map((name) => [name, stateOf(table.jobs[name]!, now)]))
        await writeOut(cli.stdout, `${JSON.stringify({ healthy: problems.length === 0, problems, notes, jobs }, null, 2)}\n`)
      } else {
        for (const name of names) await writeOut(cli.stdout, `${describeJob(name, table.jobs[name]!, now)}\n`)
        for (const note of notes) await writeOut(cli.stdout, `${note}\n`)
        if (problems.length > 0) await writeOut(cli.stdout, `unhealthy: ${problems.join('; ')}\n`)
      }
      if (problems.length > 0) setExitCode(EXIT.failure)
    })
}
