import type { Command } from 'commander'
import { EXIT } from '../errors.js'
import { createLogger } from '../observe/log.js'
import { writeOut } from '../output.js'
import { rehearseAndRecord } from '../recover/rehearse-record.js'
import { swarmConfig, type CommandContext } from './context.js'
import { withController } from './with-controller.js'

export function addRehearseCommand(program: Command, { cli, setExitCode }: CommandContext): void {
  program
    .command('rehearse')
    .description("with MODE=swarm: rehearse a stack's restore: a copy of it deployed from its backups under another name on an internal network, waited for until it runs (and its probes pass), recorded like a drill, then removed; exit 0 only if it passed")
    .requiredOption('--stack <stack>', 'the stack to rehearse')
    .action(async (options: { stack: string }) => {
      swarmConfig(cli.env, 'rehearse')
      const log = createLogger({ stream: cli.stderr })
      setExitCode(
        await withController(cli, log, false, async (controller, swarm) => {
          await controller.sync('rds rehearse')
          const { ok, report } = await rehearseAndRecord(await swarm.rehearsal(), options.stack, log, cli.stop)
          await writeOut(cli.stdout, `Rehearsal of stack ${options.stack} ${ok ? 'passed' : 'FAILED'}:\n${report.map((line) => `  ${line}\n`).join('')}`)
          return ok ? EXIT.ok : EXIT.failure
        }),
      )
    })
}
