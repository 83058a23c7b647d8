import type { Command } from 'commander'
import { readConfig } from '../config/environment.js'
import { ConfigError, EXIT } from '../errors.js'
import { runJob } from '../run/run.js'
import { createLogger } from '../observe/log.js'
import { writeOut } from '../output.js'
import { collect, withJob, type CommandContext } from './context.js'

/** One run as `rds backup --json` prints it: the same shape in both modes. */
interface RunReport {
  job: string
  ok: boolean
  exitCode: number
  message?: string
  snapshot?: string
  files?: number
  bytesAdded?: number
  rejected?: string[]
}

export function addBackupCommand(program: Command, { cli, setExitCode }: CommandContext): void {
  program
    .command('backup')
    .description('take one backup now with the same steps as the agent (hooks, backup, retention); exit 0 only if it succeeded')
    .option('-v, --verbose', "log restic's and the hooks' own output")
    .option('--service <name>', 'with MODE=swarm: back up this labelled service now, as its schedule would, on the node that holds its data')
    .option('--tag <tag>', "add this tag to the run's snapshots, its files' and its dump's (repeatable)", collect, [])
    .option('--json', 'print each run (job, ok, exitCode, message, snapshot...) as a JSON list on stdout, for scripts; the log stays on stderr')
    .action(async (options: { verbose?: boolean; service?: string; json?: boolean; tag: string[] }) => {
      const log = createLogger({ verbose: options.verbose, stream: cli.stderr })
      const reports: RunReport[] = []
      if (options.service !== undefined) {
        if (readConfig(cli.env).mode !== 'swarm') throw new ConfigError('--service needs MODE=swarm; run it in the controller\'s container (docker exec).')
        if (options.tag.length > 0) throw new ConfigError("--tag applies to a backup in this container, not to a labelled service's run (--service); leave one of them out.")
        const service = options.service
        // The Swarm's code is loaded only here: a backup of one service has no use for it.
        const { withController } = await import('./with-controller.js')
        setExitCode(
          await withController(cli, log, false, async (controller) => {
            await controller.sync('rds backup --service')
            const jobs = [...controller.jobs.values()].filter((scheduled) => scheduled.job.service === service)
            if (jobs.length === 0) throw new ConfigError(`there is no service ${service} labelled rds.backup=true; rds jobs lists the services that are.`)
            // Each job's own exit code (restic's 3, 10, 11, 12 among them); of several nodes' jobs, the first that failed.
            for (const { job } of jobs) {
              const last = await controller.runNow(job.name)
              if (last === undefined) reports.push({ job: job.name, ok: false, exitCode: EXIT.locked, message: 'skipped: a run of this job is still going' })
              else reports.push({ job: job.name, ok: last.ok, exitCode: last.ok ? EXIT.ok : last.exitCode || EXIT.failure, message: last.message })
            }
            return reports.find((report) => report.exitCode !== EXIT.ok)?.exitCode ?? EXIT.ok
          }),
        )
      } else {
        setExitCode(
          await withJob(
            cli,
            log,
            async (job, runContext) => {
              const result = await runJob({ ...job, tags: options.tag }, { ...runContext, signal: cli.stop })
              const { summary } = result
              reports.push({ job: job.name, ok: result.exitCode === EXIT.ok, exitCode: result.exitCode, message: result.error?.message, snapshot: summary?.snapshot_id, files: summary?.total_files_processed, bytesAdded: summary?.data_added, rejected: result.rejected })
              return result.exitCode
            },
            false,
          ),
        )
      }
      if (options.json) await writeOut(cli.stdout, `${JSON.stringify(reports, null, 2)}\n`)
    })
}
