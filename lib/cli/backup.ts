import type { Command } from 'commander'
import { runJob } from '../jobs/run.js'
import { createLogger } from '../observe/log.js'
import { withJob, type CommandContext } from './context.js'

export function addBackupCommand(program: Command, { cli, setExitCode }: CommandContext): void {
  program
    .command('backup')
    .description('take one backup now with the same steps as the agent (hooks, backup, retention); exit 0 only if it succeeded')
    .option('-v, --verbose', "log restic's and the hooks' own output")
    .action(async (options: { verbose?: boolean }) => {
      const log = createLogger({ verbose: options.verbose, stream: cli.stderr })
      setExitCode(await withJob(cli, log, async (job, runContext) => (await runJob(job, { ...runContext, signal: cli.stop })).exitCode, false))
    })
}
