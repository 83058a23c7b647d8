import type { Command } from 'commander'
import { EXIT } from '../errors.js'
import { createLogger } from '../observe/log.js'
import { writeOut } from '../output.js'
import { carryOutRecovery, describeSnapshots, describeStep, planNodeRecovery } from '../recover/node-recovery.js'
import { parseAt, swarmConfig, type CommandContext } from './context.js'
import { rejectedSnapshots } from '../observe/status-file.js'
import { withController } from './with-controller.js'

export function addRecoverCommand(program: Command, { cli, setExitCode }: CommandContext): void {
  program
    .command('recover')
    .description('with MODE=swarm: bring back every service whose data was on a node that is down or removed, on other nodes, from their newest accepted snapshots; prints the plan, and carries it out with --yes')
    .requiredOption('--node <node>', 'the lost node: a node that is down, or the host name of one removed with docker node rm')
    .option('--to <node>', 'the node every service goes to (default: for each, of the ready nodes that its other placement constraints allow and that have room for its data, the one with the fewest tasks)')
    .option('--at <time>', 'the newest snapshots taken at or before this time (ISO 8601, UTC unless it names a zone)')
    .option('--yes', 'carry out the plan: each service restored onto its node and moved there, one at a time')
    .action(async (options: { node: string; to?: string; at?: string; yes?: boolean }) => {
      const config = swarmConfig(cli.env, 'recover')
      const at = options.at === undefined ? undefined : parseAt(options.at)
      const log = createLogger({ stream: cli.stderr })
      setExitCode(
        await withController(cli, log, false, async (controller, swarm) => {
          await controller.sync('rds recover')
          const input = {
            deps: { ...swarm, lockDir: config.lockDir },
            jobs: [...controller.jobs.values()].map(({ job }) => job),
            services: controller.services,
            rejected: await rejectedSnapshots(config),
            log,
            signal: cli.stop,
          }
          const plan = await planNodeRecovery(input, options.node, { to: options.to, at })
          const { lost, steps } = plan
          if (steps.length === 0) {
            await writeOut(cli.stdout, `No labelled service has its data on ${lost.name}: nothing to recover.\n`)
            return EXIT.ok
          }
          await writeOut(cli.stdout, `${steps.length} service(s) had their data on ${lost.name}:\n${steps.map((step) => `  ${describeStep(step, plan.plannedAt)}\n`).join('')}`)
          const ready = steps.filter((step) => !step.problem)
          if (!options.yes) {
            if (ready.length > 0) await writeOut(cli.stdout, 'Nothing was changed; run this again with --yes to carry it out.\n')
            return ready.length === steps.length ? EXIT.ok : EXIT.failure
          }
          // One at a time: each is a restore job of its own on its new node, and its stop and start.
          const results = await carryOutRecovery(input, plan)
          const line = ({ step, outcome }: (typeof results)[number]) =>
            outcome === 'back' ? `  ${step.job.name}: back on ${step.target!.name}, ${describeSnapshots(step, plan.plannedAt)}\n` : `  ${step.job.name}: ${outcome}: ${step.problem}\n`
          // Those tried (back or failed) in the plan's order, then those that could not be, then those never started.
          const sorted = ['back|FAILED', 'NOT RECOVERED', 'NOT STARTED'].flatMap((group) => results.filter((result) => group.split('|').includes(result.outcome)))
          await writeOut(cli.stdout, `Recovered from ${lost.name}:\n${sorted.map(line).join('')}`)
          return steps.every((step) => !step.problem) && !cli.stop.aborted ? EXIT.ok : EXIT.failure
        }),
      )
    })
}
