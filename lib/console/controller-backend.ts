import type { Controller } from '../swarm/controller.js'
import type { Logger } from '../observe/log.js'
import { type JobStatus } from '../observe/status.js'
import { readStatus, rejectedSnapshots } from '../observe/status-file.js'
import { stateOf } from '../observe/job-state.js'
import type { Config } from '../config/environment.js'
import { RunError } from '../errors.js'
import { restoreService, type RestoreDeps } from '../recover/service-restore.js'
import { findNode } from '../recover/to-volume.js'
import { carryOutRecovery, describeStep, planNodeRecovery, type RecoveryPlan } from '../recover/node-recovery.js'
import { nameNodes } from '../swarm/cluster.js'
import type { CoverageRow } from '../swarm/coverage.js'
import { surveyCoverage } from '../swarm/coverage-survey.js'
import { rehearseAndRecord, rehearsedStacks, type RehearsalContext } from '../recover/rehearse-record.js'
import type { ConsoleBackend, JobView, RecoveryPlanView } from './backend.js'

/** What the console reaches the Swarm and the repositories with, as the controller's commands do. */
export type ConsoleSwarm = Omit<RestoreDeps, 'lockDir'> & { rehearsal: () => Promise<RehearsalContext> }

/**
 * A job's status as the console shows it: the repository a snapshot went to is named by the job's
 * `repository` (its path or name), never by its URL, which may hold a backend's credentials.
 */
function shown(status: JobStatus, labelError: string | undefined): JobStatus {
  const lastSnapshot = status.lastSnapshot && { ...status.lastSnapshot, repository: undefined }
  return { ...status, lastSnapshot: lastSnapshot as JobStatus['lastSnapshot'], error: labelError ?? status.error }
}

/** The console's view of the scheduling controller, in the same process: its jobs, their repositories and runs. */
export function controllerBackend(controller: Controller, swarm: ConsoleSwarm, config: Pick<Config, 'statusFile' | 'rejectedSnapshots' | 'lockDir'>, log: Logger): ConsoleBackend {
  const { resticFor } = swarm
  const { statusFile } = config
  // One survey at a time, whoever asks: each runs a job on every node.
  let surveying: Promise<CoverageRow[]> | undefined
  const plans = new Map<string, Promise<RecoveryPlanView>>()
  const recoveryInput = async (signal: AbortSignal) => {
    const failed = await controller.sync('a recovery from the console')
    if (failed) throw failed
    const jobs = [...controller.jobs.values()].map(({ job }) => job)
    return { deps: { ...swarm, lockDir: config.lockDir }, jobs, services: controller.services, rejected: await rejectedSnapshots(config), log, signal }
  }
  const planView = (plan: RecoveryPlan): RecoveryPlanView => ({
    lost: plan.lost.name,
    steps: plan.steps.map((step) => ({ job: step.job.name, service: step.job.service, target: step.target?.name, data: step.data?.id, dump: step.dump?.id, problem: step.problem, said: describeStep(step, plan.plannedAt) })),
  })
  return {
    async jobs(): Promise<JobView[]> {
      const table = statusFile ? await readStatus(statusFile) : undefined
      const now = new Date()
      return [...controller.jobs.values()].map(({ job, cron, running, queued }) => {
        const status: JobStatus | undefined = table?.jobs[job.name]
        const state = job.error ? 'LABEL ERROR' : running && !queued ? 'RUNNING' : status ? stateOf(status, now) : 'WAITING'
        return {
          name: job.name,
          service: job.service,
          stack: controller.services.find((service) => service.name === job.service)?.stack,
          node: job.node?.nodeName,
          repository: job.backup?.repoPath,
          schedule: job.backup?.schedule,
          nextRun: cron?.nextRun()?.toISOString(),
          state,
          queued,
          unavailable: job.unavailable,
          status: status && shown(status, job.error),
        }
      })
    },
    resticOf(name) {
      const backup = controller.jobs.get(name)?.job.backup
      return backup && resticFor(backup.repoPath)
    },
    backupNow(name) {
      const scheduled = controller.jobs.get(name)
      if (!scheduled) return undefined
      if (scheduled.job.error) return { refused: `its labels are wrong: ${scheduled.job.error}` }
      if (scheduled.running) return { refused: `a run of ${name} is ${scheduled.queued ? 'waiting to start' : 'going'}; wait for it to end.` }
      // A run that records nothing (its job dropped meanwhile, the controller stopping) leaves the last one's record as it was.
      const before = scheduled.last
      const run = controller.runNow(name).then((last) => {
        if (!last || last === before) throw new RunError(`the run of ${name} did not take place: its job was dropped, or the controller is stopping; see its log.`)
        if (!last.ok) throw new RunError(last.message)
        return last.message
      })
      return { run }
    },
    async nodes() {
      return nameNodes(await swarm.docker.listNodes())
    },
    async restore(name, snapshot, toNodeName, signal) {
      // The Swarm as it is now, as rds restore --service reads it.
      const failed = await controller.sync('a restore from the console')
      if (failed) throw failed
      const job = controller.jobs.get(name)?.job
      const service = job && controller.services.find((candidate) => candidate.name === job.service)
      if (!job || !service) throw new RunError(`there is no job ${name} any more; the console's overview lists the jobs.`)
      if (job.error) throw new RunError(job.error)
      const toNode = toNodeName === undefined ? undefined : findNode(await this.nodes(), toNodeName, 'the node to restore onto')
      const placement = toNode && { nodeId: toNode.id, nodeName: toNode.name }
      await restoreService({ ...swarm, lockDir: config.lockDir }, { job, service, snapshot, includes: [], rejected: await rejectedSnapshots(config), toNode: placement }, log, signal)
      return `service ${job.service} restored ${toNode ? `onto ${toNode.name}` : 'in place'} from snapshot ${snapshot.slice(0, 8)}`
    },
    async drillNow(name) {
      const passed = await controller.drillNow(name)
      if (passed === undefined) throw new RunError(`job ${name} cannot be drilled: it is not there, or its labels are wrong.`)
      // The drill's own sentence, as rds status has it.
      const said = statusFile ? (await readStatus(statusFile)).jobs[name]?.lastDrill?.message : undefined
      if (!passed) throw new RunError(said ?? `the drill of ${name} failed; the controller's log says why.`)
      return said ?? `the drill of ${name} passed`
    },
    async rehearseNow(stack, signal) {
      const failed = await controller.sync('a rehearsal from the console')
      if (failed) throw failed
      const context = await swarm.rehearsal()
      if (!rehearsedStacks(context).includes(stack)) throw new RunError(`stack ${stack} has no labelled service any more; there is nothing of it to rehearse.`)
      const { ok, report } = await rehearseAndRecord(context, stack, log, signal)
      if (!ok) throw new RunError(`the rehearsal of stack ${stack} FAILED: ${report.join('; ')}`)
      return `the rehearsal of stack ${stack} passed: ${report.join('; ')}`
    },
    recoveryPlan(node, to, signal) {
      // One plan at a time for a node, whoever asks: each surveys every node.
      const key = `${node} ${to ?? ''}`
      const planning = plans.get(key) ?? planNodeRecovery(recoveryInput(signal), node, { to }).then(planView).finally(() => plans.delete(key))
      plans.set(key, planning)
      return planning
    },
    async recoverNode(node, to, shown, signal) {
      const input = recoveryInput(signal)
      // Planned again now, and carried out only if it is the plan the person saw and confirmed.
      const plan = await planNodeRecovery(input, node, { to })
      const now = planView(plan).steps.filter((step) => !step.problem).map((step) => `${step.job} -> ${step.target}`)
      if (JSON.stringify(now) !== JSON.stringify(shown)) throw new RunError(`the plan changed since it was shown (now: ${now.join(', ') || 'nothing to move'}); show it again and confirm that one.`)
      if (plan.steps.length === 0) return `no labelled service has its data on ${plan.lost.name}: nothing to recover`
      const results = await carryOutRecovery(input, plan)
      const said = results.map(({ step, outcome }) => (outcome === 'back' ? `${step.job.name} back on ${step.target!.name}` : `${step.job.name} ${outcome}: ${step.problem}`)).join('; ')
      if (results.some(({ outcome }) => outcome !== 'back')) throw new RunError(`not all came back from ${plan.lost.name}: ${said}`)
      return `recovered from ${plan.lost.name}: ${said}`
    },
    coverage() {
      surveying ??= (async () => {
        const rejected = await rejectedSnapshots(config)
        const jobs = [...controller.jobs.values()].map(({ job }) => job)
        return surveyCoverage({ ...swarm, jobs, services: controller.services, statusFile, rejected, log })
      })().finally(() => (surveying = undefined))
      return surveying
    },
  }
}
