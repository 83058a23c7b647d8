import type { Command } from 'commander'
import { readConfig } from '../config/environment.js'
import { EXIT } from '../errors.js'
import { createLogger } from '../observe/log.js'
import { runAgent } from '../agent/schedule.js'
import { logPreflight } from './doctor.js'
import { withController } from './with-controller.js'
import { withJob, type CommandContext } from './context.js'

export function addAgentCommand(program: Command, { cli, setExitCode }: CommandContext): void {
  program
    .command('agent')
    .description('run the agent: take a backup on every tick of RUN_AT until stopped (SIGTERM or SIGINT); with MODE=swarm, back up every labelled service of the Swarm')
    .option('-v, --verbose', "log restic's and the hooks' own output")
    .addHelpText('after', '\nEXTRA_ARGS, if set, is added to the options of this command, e.g. EXTRA_ARGS=--verbose.')
    .action(async (options: { verbose?: boolean }) => {
      const log = createLogger({ verbose: options.verbose, stream: cli.stderr })
      const config = readConfig(cli.env)
      // Once the configuration is checked: problems that do not stop the agent (a server down, a
      // service not running) are said at once, and a port in use is the only reason left not to start.
      const start = async () => {
        await logPreflight(cli, log)
        if (config.metricsPort === undefined) return
        // prom-client is loaded only when it is used: 12 MiB of the agent's memory otherwise.
        const { serveMetrics } = await import('../observe/metrics.js')
        await serveMetrics({ port: config.metricsPort, statusFile: config.statusFile!, log, stop: cli.stop })
      }
      if (config.mode === 'swarm') {
        // The console's users are read before the controller waits for its lease: a bad file is said at once.
        const consoleUsers = config.console && (await import('../console/accounts.js').then(({ readAccounts }) => readAccounts(config.console!.usersFile)))
        setExitCode(
          await withController(cli, log, true, async (controller, swarm) => {
            await start()
            const closeConsole = consoleUsers && (await import('../console/start.js').then(({ startConsole }) => startConsole(controller, swarm, consoleUsers, config, log, swarm.stop)))
            try {
              await controller.run()
            } finally {
              await closeConsole?.()
            }
            return EXIT.ok
          }),
        )
        return
      }
      setExitCode(
        await withJob(
          cli,
          log,
          async (job, runContext) => {
            await start()
            await runAgent(job, { ...runContext, stop: cli.stop })
            return EXIT.ok
          },
          true,
        ),
      )
    })
}
