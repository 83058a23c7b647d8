import type { Command } from 'commander'
import { ConfigError, EXIT } from '../errors.js'
import { readJobsFile, type JobRow } from '../observe/jobs-file.js'
import type { CommandContext } from './context.js'
import { writeOut } from './output.js'

function describeRow(row: JobRow): string {
  if (row.error) return `${row.name}: LABEL ERROR: ${row.error}`
  const where = row.node ? `on ${row.node}` : 'no running task'
  const last = row.last ? `last run ${row.last.ok ? 'succeeded' : 'FAILED'} at ${row.last.finishedAt}: ${row.last.message}` : 'not run yet'
  return `${row.name}: "${row.schedule}" ${where}, next run ${row.nextRun ?? 'none'}${row.running ? ', running now' : ''}; ${last}`
}

export function addJobsCommand(program: Command, { cli, setExitCode }: CommandContext): void {
  program
    .command('jobs')
    .description("with MODE=swarm: list every labelled service's job, its schedule, next run, last result and any label error (from JOBS_FILE)")
    .option('--json', 'print them as JSON, for scripts')
    .action(async (options: { json?: boolean }) => {
      const file = cli.env.JOBS_FILE?.trim()
      if (!file) throw new ConfigError('JOBS_FILE is not set; set it to the file where the controller keeps its jobs (the image sets /run/rds/jobs.json).')
      const table = await readJobsFile(file)
      if (!table) throw new ConfigError(`there is no table of jobs at ${file} (JOBS_FILE) yet; run rds jobs in the container of the agent started with MODE=swarm.`)
      if (options.json) await writeOut(cli.stdout, `${JSON.stringify(table.jobs, null, 2)}\n`)
      else for (const row of table.jobs) await writeOut(cli.stdout, `${describeRow(row)}\n`)
      // For monitoring: any bad label or failed last run shows in the exit code.
      if (table.jobs.some((row) => row.error || row.last?.ok === false)) setExitCode(EXIT.failure)
    })
}
