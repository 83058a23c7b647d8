import type { Command } from 'commander'
import { readConfig } from '../config/environment.js'
import { ConfigError, EXIT } from '../errors.js'
import { createLogger } from '../observe/log.js'
import { outcomeOf } from '../observe/status.js'
import { writeOut } from '../output.js'
import { rehearseStack } from '../recover/rehearsal.js'
import { labelDefaults } from '../recover/swarm-snapshot.js'
import { rejectedSnapshots, reporterFor, type CommandContext } from './context.js'
import { findStack } from './stack.js'
import { withController } from './with-controller.js'

export function addRehearseCommand(program: Command, { cli, setExitCode }: CommandContext): void {
  program
    .command('rehearse')
    .description("with MODE=swarm: rehearse a stack's restore: a copy of it deployed from its backups under another name on an internal network, waited for until it runs (and its probes pass), recorded like a drill, then removed; exit 0 only if it passed")
    .requiredOption('--stack <stack>', 'the stack to rehearse')
    .action(async (options: { stack: string }) => {
      const config = readConfig(cli.env)
      if (config.mode !== 'swarm') throw new ConfigError("rehearse needs MODE=swarm; run it in the controller's container (docker exec).")
      const log = createLogger({ stream: cli.stderr })
      setExitCode(
        await withController(cli, log, false, async (controller, swarm) => {
          await controller.sync('rds rehearse')
          const stack = options.stack
          const ofStack = new Set(controller.services.filter((service) => service.stack === stack).map((service) => service.name))
          const jobs = [...controller.jobs.values()].map(({ job }) => job).filter((job) => job.backup && ofStack.has(job.service))
          const probes = new Map(jobs.filter((job) => job.backup!.rehearseProbe).map((job) => [job.service, { command: job.backup!.rehearseProbe!, repoPath: job.backup!.repoPath }]))
          const started = new Date()
          const saved = await findStack(controller, swarm, config.repoPath, stack, undefined, log)
          const request = { stack, env: cli.env, defaults: labelDefaults(config), rejected: await rejectedSnapshots(config), probes }
          const { ok, report } = await rehearseStack(swarm, saved, request, log, cli.stop)
          const message = ok ? `a copy of stack ${stack} from its backups of ${saved.snapshot.time} ran${probes.size > 0 ? ', its probes passed' : ''}` : `the rehearsal of stack ${stack} failed: ${report.filter((line) => /FAILED|could not/.test(line)).join('; ')}`
          const reporter = await reporterFor(config, log)
          for (const job of jobs) await reporter.finished({ job: job.name, kind: 'rehearsal', outcome: outcomeOf(started, new Date(), ok, message, ok ? 0 : 1) })
          await writeOut(cli.stdout, `Rehearsal of stack ${stack} ${ok ? 'passed' : 'FAILED'}:\n${report.map((line) => `  ${line}\n`).join('')}`)
          return ok ? EXIT.ok : EXIT.failure
        }),
      )
    })
}
