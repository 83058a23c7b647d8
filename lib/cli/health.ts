import type { Command } from 'commander'
import { ConfigError, EXIT } from '../errors.js'
import { readStatus } from '../observe/status.js'
import type { CommandContext } from './context.js'

export function addHealthCommand(program: Command, { cli, setExitCode }: CommandContext): void {
  program
    .command('health')
    .description("report the last run's outcome from STATUS_FILE: exit 0 if it succeeded or none has finished yet, 1 if it failed")
    .action(async () => {
      const file = cli.env.STATUS_FILE?.trim()
      if (!file) throw new ConfigError('STATUS_FILE is not set; set it to the file where the agent records its last run (the image sets /run/rds/status.json).')
      const status = await readStatus(file)
      if (status?.running) cli.stdout.write(`a run is in progress since ${status.running.since} (process ${status.running.pid})\n`)
      if (status?.finishedAt === undefined) {
        cli.stdout.write('no run has finished yet\n')
      } else if (status.ok) {
        cli.stdout.write(`the last run succeeded at ${status.finishedAt}${status.snapshotId ? ` (snapshot ${status.snapshotId.slice(0, 8)})` : ''}\n`)
      } else {
        cli.stdout.write(`the last run failed at ${status.finishedAt} with exit code ${status.exitCode}: ${status.message ?? 'no message'}\n`)
        setExitCode(EXIT.failure)
      }
    })
}
