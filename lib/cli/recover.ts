import type { Command } from 'commander'
import { describeDuration } from '../config/duration.js'
import { ConfigError, EXIT } from '../errors.js'
import { createLogger } from '../observe/log.js'
import { writeOut } from '../output.js'
import { lostNode, planRecovery, type RecoverStep } from '../recover/lost-node.js'
import { restoreService } from '../recover/service-restore.js'
import { findNode } from '../recover/to-volume.js'
import type { SnapshotInfo } from '../restic/snapshots.js'
import { nameNodes } from '../swarm/cluster.js'
import { parseAt, rejectedSnapshots, swarmConfig, type CommandContext } from './context.js'
import { withController, type SwarmContext } from './with-controller.js'
import { describeRoom } from '../recover/node-choice.js'
import type { Logger } from '../observe/log.js'
import { surveyNodes } from '../swarm/volume-survey.js'

const point = (what: string, snapshot: SnapshotInfo | undefined, now: number) =>
  snapshot && `${what} from snapshot ${snapshot.short_id} of ${snapshot.time} (${describeDuration(Math.max(0, now - Date.parse(snapshot.time)))} old)`

/** One line of the plan: the service, what it comes back from, where it goes; or why it cannot. */
function describeStep(step: RecoverStep, now: number): string {
  if (step.problem) return `${step.job.name}: CANNOT: ${step.problem}`
  const parts = [point('volumes', step.data, now), point('dump', step.dump, now)].filter(Boolean)
  return `${step.job.name}: ${parts.join('; ')} -> ${step.target!.name} (${describeRoom(step.need, step.free)})`
}

/** Bytes free on each node that answers a survey, by node ID; a survey that fails leaves the plan without (said). */
async function freeSpace(swarm: SwarmContext, log: Logger, signal: AbortSignal): Promise<Map<string, number>> {
  try {
    const { surveys } = await surveyNodes(swarm.docker, swarm.template, log, signal)
    return new Map(surveys.flatMap((survey) => (survey.nodeId && survey.free !== undefined ? [[survey.nodeId, survey.free] as const] : [])))
  } catch (error) {
    log.warn(`recover: the nodes' free space is unknown (${(error as Error).message}); nodes are chosen without it`)
    return new Map()
  }
}

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
          const nodes = nameNodes(await swarm.docker.listNodes())
          const lost = lostNode(nodes, options.node)
          const to = options.to === undefined ? undefined : findNode(nodes, options.to, '--to')
          if (to && to.id === lost.id) throw new ConfigError(`--to ${options.to} is the lost node; name another one.`)
          const jobs = [...controller.jobs.values()].map(({ job }) => job)
          const rejected = await rejectedSnapshots(config)
          const free = await freeSpace(swarm, log, cli.stop)
          const steps = await planRecovery(swarm.docker, { jobs, services: controller.services, resticFor: swarm.resticFor, rejected }, lost, { to, at, free }, log)
          const now = Date.now()
          if (steps.length === 0) {
            await writeOut(cli.stdout, `No labelled service has its data on ${lost.name}: nothing to recover.\n`)
            return EXIT.ok
          }
          await writeOut(cli.stdout, `${steps.length} service(s) had their data on ${lost.name}:\n${steps.map((step) => `  ${describeStep(step, now)}\n`).join('')}`)
          const ready = steps.filter((step) => !step.problem)
          if (!options.yes) {
            if (ready.length > 0) await writeOut(cli.stdout, 'Nothing was changed; run this again with --yes to carry it out.\n')
            return ready.length === steps.length ? EXIT.ok : EXIT.failure
          }
          // One at a time: each is a restore job of its own on its new node, and its stop and start.
          const results: string[] = []
          const attempted = new Set<RecoverStep>()
          for (const step of ready) {
            if (cli.stop.aborted) break
            attempted.add(step)
            try {
              const target = { nodeId: step.target!.id, nodeName: step.target!.name }
              await restoreService({ ...swarm, lockDir: config.lockDir }, { job: step.job, service: step.service!, snapshot: 'latest', at, includes: [], rejected, toNode: target }, log, cli.stop)
              results.push(`  ${step.job.name}: back on ${target.nodeName}, ${[point('volumes', step.data, now), point('dump', step.dump, now)].filter(Boolean).join('; ')}\n`)
            } catch (error) {
              step.problem = (error as Error).message
              results.push(`  ${step.job.name}: FAILED: ${step.problem}\n`)
            }
          }
          for (const step of steps.filter((candidate) => !ready.includes(candidate))) results.push(`  ${step.job.name}: NOT RECOVERED: ${step.problem}\n`)
          for (const step of ready.filter((candidate) => !attempted.has(candidate))) {
            step.problem = 'the command was stopped before it'
            results.push(`  ${step.job.name}: NOT STARTED: ${step.problem}\n`)
          }
          await writeOut(cli.stdout, `Recovered from ${lost.name}:\n${results.join('')}`)
          return steps.every((step) => !step.problem) && !cli.stop.aborted ? EXIT.ok : EXIT.failure
        }),
      )
    })
}
