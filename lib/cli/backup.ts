import type { Command } from 'commander'
import { readConfig } from '../config/environment.js'
import { ConfigError, EXIT } from '../errors.js'
import { runJob } from '../run/run.js'
import { createLogger } from '../observe/log.js'
import { withController } from './with-controller.js'
import { withJob, type CommandContext } from './context.js'

export function addBackupCommand(program: Command, { cli, setExitCode }: CommandContext): void {
  program
    .command('backup')
    .description('take one backup now with the same steps as the agent (hooks, backup, retention); exit 0 only if it succeeded')
    .option('-v, --verbose', "log restic's and the hooks' own output")
    .option('--service <name>', 'with MODE=swarm: back up this labelled service now, as its schedule would, on the node that holds its data')
    .action(async (options: { verbose?: boolean; service?: string }) => {
      const log = createLogger({ verbose: options.verbose, stream: cli.stderr })
      if (options.service !== undefined) {
        if (readConfig(cli.env).mode !== 'swarm') throw new ConfigError('--service needs MODE=swarm; run it in the controller\'s container (docker exec).')
        const service = options.service
        setExitCode(
          await withController(cli, log, false, async (controller) => {
            await controller.sync('rds backup --service')
            const jobs = [...controller.jobs.values()].filter((scheduled) => scheduled.job.service === service)
            if (jobs.length === 0) throw new ConfigError(`there is no service ${service} labelled rds.backup=true; rds jobs lists the services that are.`)
            // Each job's own exit code (restic's 3, 10, 11, 12 among them); of several nodes' jobs, the first that failed.
            const codes: number[] = []
            for (const { job } of jobs) {
              const last = await controller.runNow(job.name)
              codes.push(last === undefined ? EXIT.locked : last.ok ? EXIT.ok : last.exitCode || EXIT.failure)
            }
            return codes.find((code) => code !== EXIT.ok) ?? EXIT.ok
          }),
        )
        return
      }
      setExitCode(await withJob(cli, log, async (job, runContext) => (await runJob(job, { ...runContext, signal: cli.stop })).exitCode, false))
    })
}
