import { readFile, rename, writeFile } from 'node:fs/promises'
import type { Command } from 'commander'
import { Cron } from 'croner'
import { execa } from 'execa'
import { ConfigError, EXIT, RunError } from '../errors.js'
import { createLogger } from '../observe/log.js'
import { describeKeys, serverAuthorizedKeys } from '../server/authorized-keys.js'
import { readServerConfig } from '../server/config.js'
import { maintainAll, maintenanceJob } from '../server/maintenance.js'
import { prepareMaintenance } from '../server/prepare.js'
import { reporterFor, type CommandContext } from './context.js'

/** The server image's commands: its authorized keys, its maintenance, and sshd beside the schedule. */
export function addServerCommands(program: Command, { cli, setExitCode }: CommandContext): void {
  program
    .command('server-keys', { hidden: true })
    .description("the server's entrypoint: turn AUTHORIZED_KEYS_FILE into the authorized_keys file sshd reads")
    .argument('<source>', "the agents' keys (AUTHORIZED_KEYS_FILE)")
    .argument('<target>', 'the file sshd reads')
    .action(async (source: string, target: string) => {
      const log = createLogger({ stream: cli.stderr })
      const text = await readFile(source, 'utf8').catch((error: NodeJS.ErrnoException) => {
        throw new ConfigError(`AUTHORIZED_KEYS_FILE is ${source}, which cannot be read (${error.code}); create the Swarm secret restic-ssh-authorized-keys with the agents' public keys.`)
      })
      const { text: authorized, keys } = serverAuthorizedKeys(text, `AUTHORIZED_KEYS_FILE (${source})`)
      await writeFile(`${target}.tmp`, authorized, { mode: 0o644 })
      await rename(`${target}.tmp`, target)
      for (const line of describeKeys(keys)) log.info(`keys: ${line}`)
    })

  program
    .command('maintain')
    .description("on the server: forget, prune and check every repository of MAINTENANCE_FILE (or those named) now, and remove abandoned uploads")
    .argument('[repositories...]', 'only these repositories, as MAINTENANCE_FILE names them')
    .option('-v, --verbose', "log restic's own output")
    .action(async (names: string[], options: { verbose?: boolean }) => {
      const log = createLogger({ verbose: options.verbose, stream: cli.stderr })
      const config = readServerConfig(cli.env)
      const { repositories, context } = await prepareMaintenance(config, await reporterFor(config, log), log)
      const unknown = names.find((name) => !repositories.some((repository) => repository.name === name))
      if (unknown !== undefined) throw new ConfigError(`${unknown} is not in MAINTENANCE_FILE; name one of ${repositories.map((repository) => repository.name).join(', ')}.`)
      await maintainAll(names.length === 0 ? repositories : repositories.filter((repository) => names.includes(repository.name)), { ...context, signal: cli.stop })
    })

  program
    .command('server', { hidden: true })
    .description("the server image's process with MAINTENANCE_AT: run sshd (the command given) and the maintenance on schedule, until sshd ends or a signal comes")
    .argument('<command...>', 'sshd and its arguments')
    .action(async (command: string[]) => {
      const log = createLogger({ stream: cli.stderr })
      const config = readServerConfig(cli.env)
      if (!config.maintenanceAt) throw new ConfigError('MAINTENANCE_AT is not set; set it to a cron expression such as "0 4 * * *", or run sshd on its own.')
      const { repositories, context } = await prepareMaintenance(config, await reporterFor(config, log), log)
      const stopRuns = new AbortController()
      let current: Promise<void> | undefined
      const cron = new Cron(config.maintenanceAt, { protect: () => log.warn('maintenance: skipped the run due now, because the last one is still going') }, async () => {
        current = maintainAll(repositories, { ...context, signal: stopRuns.signal }).catch((error: Error) => log.error(`maintenance: ${error.message}`))
        await current
        current = undefined
        log.info(`maintenance: next at ${cron.nextRun()?.toISOString()}`)
      })
      log.info(`maintenance: "${config.maintenanceAt}" for ${repositories.map((repository) => repository.name).join(', ')}, next at ${cron.nextRun()?.toISOString()}`)
      const heartbeat = new AbortController()
      await context.reporter.watch(repositories.map((repository) => ({ name: maintenanceJob(repository.name), schedule: config.maintenanceAt })))
      context.reporter.keepHeartbeat(heartbeat.signal)

      const [program, ...args] = command as [string, ...string[]]
      const sshd = execa(program, args, { stdio: 'inherit', reject: false, cancelSignal: cli.stop, forceKillAfterDelay: false })
      const result = await sshd
      cron.stop()
      heartbeat.abort()
      stopRuns.abort()
      await current
      if (cli.stop.aborted) return
      if (result.exitCode === undefined && result.failed && result.signal === undefined) throw new RunError(`${program} could not be started: ${result.shortMessage}.`)
      log.error(`server: ${program} ended${result.signal ? ` by ${result.signal}` : ` with exit code ${result.exitCode}`}; the server stops with it.`)
      setExitCode(result.exitCode || EXIT.failure)
    })
}
