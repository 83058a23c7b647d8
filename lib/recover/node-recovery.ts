import { describeDuration } from '../config/duration.js'
import { ConfigError } from '../errors.js'
import type { Logger } from '../observe/log.js'
import type { SnapshotInfo } from '../restic/snapshots.js'
import { nameNodes, type SwarmService } from '../swarm/cluster.js'
import type { SwarmJob } from '../swarm/discover.js'
import { surveyNodes } from '../swarm/volume-survey.js'
import type { JobTemplate } from '../swarm/job-service.js'
import { lostNode, planRecovery, type LostNode, type RecoverStep } from './lost-node.js'
import { describeRoom } from './node-choice.js'
import { restoreService, type RestoreDeps } from './service-restore.js'
import { findNode } from './to-volume.js'

/** What a recovery reads and runs with: the controller's jobs and services, and its Swarm's. */
export interface RecoveryInput {
  deps: RestoreDeps & { template: JobTemplate }
  jobs: SwarmJob[]
  services: SwarmService[]
  rejected: string[]
  log: Logger
  signal: AbortSignal
}

export interface RecoveryPlan {
  lost: LostNode
  steps: RecoverStep[]
  at?: Date
  /** When it was made: its snapshots' ages are counted from then. */
  plannedAt: number
}

const point = (what: string, snapshot: SnapshotInfo | undefined, now: number) =>
  snapshot && `${what} from snapshot ${snapshot.short_id} of ${snapshot.time} (${describeDuration(Math.max(0, now - Date.parse(snapshot.time)))} old)`

/** What a step brings back: its volumes' and its dump's snapshots, and their ages. */
export const describeSnapshots = (step: RecoverStep, now = Date.now()) => [point('volumes', step.data, now), point('dump', step.dump, now)].filter(Boolean).join('; ')

/** One line of the plan: the service, what it comes back from, where it goes; or why it cannot. */
export function describeStep(step: RecoverStep, now = Date.now()): string {
  if (step.problem) return `${step.job.name}: CANNOT: ${step.problem}`
  return `${step.job.name}: ${describeSnapshots(step, now)} -> ${step.target!.name} (${describeRoom(step.need, step.free)})`
}

/** Bytes free on each node that answers a survey, by node ID; a survey that fails leaves the plan without (said). */
async function freeSpace(input: RecoveryInput): Promise<Map<string, number>> {
  try {
    const { surveys } = await surveyNodes(input.deps.docker, input.deps.template, input.log, input.signal)
    return new Map(surveys.flatMap((survey) => (survey.nodeId && survey.free !== undefined ? [[survey.nodeId, survey.free] as const] : [])))
  } catch (error) {
    input.log.warn(`recover: the nodes' free space is unknown (${(error as Error).message}); nodes are chosen without it`)
    return new Map()
  }
}

/** The plan of `rds recover --node`: each service whose data was on the lost node, its snapshots and its new node. */
export async function planNodeRecovery(given: RecoveryInput | Promise<RecoveryInput>, node: string, options: { to?: string; at?: Date }): Promise<RecoveryPlan> {
  const input = await given
  const nodes = nameNodes(await input.deps.docker.listNodes())
  const lost = lostNode(nodes, node)
  const to = options.to === undefined ? undefined : findNode(nodes, options.to, '--to')
  if (to && to.id === lost.id) throw new ConfigError(`--to ${options.to} is the lost node; name another one.`)
  const free = await freeSpace(input)
  const steps = await planRecovery(input.deps.docker, { jobs: input.jobs, services: input.services, resticFor: input.deps.resticFor, rejected: input.rejected }, lost, { to, at: options.at, free }, input.log)
  return { lost, steps, at: options.at, plannedAt: Date.now() }
}

/**
 * Carries a plan out, one service at a time: each restored onto its node and moved there. A step
 * that fails, or that the stop cuts off, says so in its `problem`; the others go on.
 */
export async function carryOutRecovery(given: RecoveryInput | Promise<RecoveryInput>, plan: RecoveryPlan): Promise<{ step: RecoverStep; outcome: 'back' | 'FAILED' | 'NOT RECOVERED' | 'NOT STARTED' }[]> {
  const input = await given
  const results: { step: RecoverStep; outcome: 'back' | 'FAILED' | 'NOT RECOVERED' | 'NOT STARTED' }[] = []
  for (const step of plan.steps) {
    if (step.problem) results.push({ step, outcome: 'NOT RECOVERED' })
    else if (input.signal.aborted) {
      step.problem = 'the command was stopped before it'
      results.push({ step, outcome: 'NOT STARTED' })
    } else {
      try {
        const target = { nodeId: step.target!.id, nodeName: step.target!.name }
        await restoreService(input.deps, { job: step.job, service: step.service!, snapshot: 'latest', at: plan.at, includes: [], rejected: input.rejected, toNode: target }, input.log, input.signal)
        results.push({ step, outcome: 'back' })
      } catch (error) {
        step.problem = (error as Error).message
        results.push({ step, outcome: 'FAILED' })
      }
    }
  }
  return results
}
