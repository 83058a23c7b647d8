import type { Command } from 'commander'
import { readConfig } from '../config/environment.js'
import { ConfigError, EXIT } from '../errors.js'
import { drillJob } from '../run/drill.js'
import { createLogger } from '../observe/log.js'
import { writeOut } from '../output.js'
import { withController } from './with-controller.js'
import { withJob, type CommandContext } from './context.js'

export function addDrillCommand(program: Command, { cli, setExitCode }: CommandContext): void {
  program
    .command('drill')
    .description("a restore drill now: restore the latest snapshot into a scratch directory, check every file of the snapshot's listing is there with its size, and run DRILL_COMMAND (rds.backup.drill-command) on it; exit 0 only if it passed")
    .option('-v, --verbose', "log restic's output and the drill command's")
    .option('--service <name>', 'with MODE=swarm: drill this labelled service')
    .option('--json', 'print each drill (job, ok) as a JSON list on stdout, for scripts; the log stays on stderr')
    .action(async (options: { verbose?: boolean; service?: string; json?: boolean }) => {
      const log = createLogger({ verbose: options.verbose, stream: cli.stderr })
      const drills: { job: string; ok: boolean }[] = []
      const report = async () => (options.json ? writeOut(cli.stdout, `${JSON.stringify(drills, null, 2)}\n`) : undefined)
      if (readConfig(cli.env).mode === 'swarm') {
        const service = options.service
        if (service === undefined) throw new ConfigError('with MODE=swarm, name the service to drill with --service; rds jobs lists them.')
        setExitCode(
          await withController(cli, log, false, async (controller) => {
            await controller.sync('rds drill --service')
            const jobs = [...controller.jobs.values()].filter((scheduled) => scheduled.job.service === service && scheduled.job.backup)
            if (jobs.length === 0) throw new ConfigError(`there is no service ${service} labelled rds.backup=true (with good labels); rds jobs lists the services that are.`)
            for (const { job } of jobs) drills.push({ job: job.name, ok: (await controller.drillNow(job.name)) === true })
            return drills.every((drill) => drill.ok) ? EXIT.ok : EXIT.failure
          }),
        )
        return report()
      }
      if (options.service !== undefined) throw new ConfigError("--service needs MODE=swarm; without it, rds drill drills the agent's own job.")
      setExitCode(
        await withJob(
          cli,
          log,
          async (job, runContext) => {
            drills.push({ job: job.name, ok: await drillJob(job, { ...runContext, signal: cli.stop }) })
            return drills[0]!.ok ? EXIT.ok : EXIT.failure
          },
          false,
        ),
      )
      await report()
    })
}
