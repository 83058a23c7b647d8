import type { Command } from 'commander'
import { ConfigError, EXIT } from '../errors.js'
import { readJobsFile, type JobRow } from '../observe/jobs-file.js'
import { readStatus, updateStatus } from '../observe/status-file.js'
import { checking } from './checking.js'
import type { CommandContext } from './context.js'
import { writeOut } from '../output.js'

function describeRow(row: JobRow): string {
  if (row.error) return `${row.name}: LABEL ERROR: ${row.error}`
  const where = row.unavailable ? `on ${row.node}, CANNOT RUN: ${row.unavailable}` : row.node ? `on ${row.node}` : 'no running task'
  const last = row.last ? `last run ${row.last.ok ? 'succeeded' : 'FAILED'} at ${row.last.finishedAt}: ${row.last.message}` : 'not run yet'
  return `${row.name}: "${row.schedule}" ${where}, next run ${row.nextRun ?? 'none'}${row.queued ? `, QUEUED (${row.queued})` : row.running ? ', running now' : ''}; ${last}`
}

/**
 * A job of one node of a per-node service stays while the service has no task there (its data
 * there is not backed up: every run fails and says so) until it is forgotten here, in STATUS_FILE.
 */
async function forget(name: string, file: string | undefined, jobsFile: string | undefined, print: (line: string) => Promise<void>): Promise<void> {
  if (!file) throw new ConfigError('--forget needs STATUS_FILE, where the controller keeps the jobs of nodes; run it in the controller\'s container (docker exec).')
  // A job whose service still runs on its node would only be kept again at the next discovery.
  const row = jobsFile ? (await readJobsFile(jobsFile))?.jobs.find((job) => job.name === name) : undefined
  if (row && !row.unavailable) throw new ConfigError(`--forget: ${name} runs on its node; only a job that cannot run there (rds jobs says CANNOT RUN) can be forgotten.`)
  await updateStatus(file, (table) => {
    if (!table.jobs[name]?.keptNode) throw new ConfigError(`--forget: STATUS_FILE keeps no job ${name} of a node; only a job SERVICE@NODE of a service with a job on every node is kept, and rds jobs lists them.`)
    delete table.jobs[name]!.keptNode
    // Remembered beyond the job's status: its snapshots in the repository would make it kept again.
    table.forgottenJobs = [...(table.forgottenJobs ?? []).filter((job) => job !== name), name].slice(-1000)
  })
  await print(`${name}: forgotten; the controller drops it when the service has no task on that node (its snapshots are kept)\n`)
}

export function addJobsCommand(program: Command, { cli, setExitCode }: CommandContext): void {
  program
    .command('jobs')
    .description("with MODE=swarm: list every labelled service's job, its schedule, next run, last result and any label error (from JOBS_FILE); exit 1 if any has a label error, cannot run or failed its last run, 4 if the table cannot be read")
    .option('--json', 'print them as JSON, for scripts')
    .option('--forget <job>', "end the job of a node that a per-node service has left (SERVICE@NODE): its node's data is then no longer backed up, and not missed; its snapshots are kept")
    .action(async (options: { json?: boolean; forget?: string }) => {
      if (options.forget !== undefined) return forget(options.forget, cli.env.STATUS_FILE?.trim(), cli.env.JOBS_FILE?.trim(), (line) => writeOut(cli.stdout, line))
      const file = cli.env.JOBS_FILE?.trim()
      if (!file) throw new ConfigError('JOBS_FILE is not set; set it to the file where the controller keeps its jobs (the image sets /run/rds/jobs.json).')
      const table = await checking(`the table of jobs ${file} (JOBS_FILE)`, () => readJobsFile(file))
      if (!table) throw new ConfigError(`there is no table of jobs at ${file} (JOBS_FILE) yet; run rds jobs in the container of the agent started with MODE=swarm.`)
      // A run that another process made (rds backup --service beside the controller) is in
      // STATUS_FILE, which every process records in, and not in the controller's table.
      const statusFile = cli.env.STATUS_FILE?.trim()
      const status = statusFile ? await checking('STATUS_FILE', () => readStatus(statusFile)) : undefined
      for (const row of table.jobs) {
        const attempt = status?.jobs[row.name]?.lastAttempt
        if (attempt && (!row.last || Date.parse(attempt.finishedAt) > Date.parse(row.last.finishedAt))) {
          row.last = { startedAt: attempt.startedAt, finishedAt: attempt.finishedAt, ok: attempt.ok, message: attempt.message, exitCode: attempt.exitCode }
        }
      }
      if (options.json) await writeOut(cli.stdout, `${JSON.stringify(table.jobs, null, 2)}\n`)
      else for (const row of table.jobs) await writeOut(cli.stdout, `${describeRow(row)}\n`)
      // For monitoring: any bad label or failed last run shows in the exit code.
      if (table.jobs.some((row) => row.error || row.unavailable || row.last?.ok === false)) setExitCode(EXIT.failure)
    })
}
