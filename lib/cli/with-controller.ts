import type Docker from 'dockerode'
import { join } from 'node:path'
import { reporterFor, withRestic, type CliContext } from './context.js'
import { rejectedSnapshots } from '../observe/status-file.js'
import { scheduleRehearsals, type RehearsalContext } from '../recover/rehearse-record.js'
import type { JobTemplate } from '../swarm/job-service.js'
import { ownJobTemplate } from '../swarm/own-service.js'
import { VOLUMES_ROOT } from '../swarm/job-service.js'
import { ConfigError, EXIT } from '../errors.js'
import type { Logger } from '../observe/log.js'
import { runRestic, type Restic } from '../restic/command.js'
import { copyInto } from '../restic/copy.js'
import { swarmLockOwner } from '../swarm/lock-owners.js'
import { JobLedger } from '../swarm/job-ledger.js'
import { ControllerLease } from '../swarm/lease.js'
import { checkRepository } from '../restic/check.js'
import { drillAndReport } from '../run/drill.js'
import { removeDeadLocks, withLockCare } from '../run/stale-locks.js'
import { repositoryOfKey } from '../restic/repository.js'
import { copiesRetention, readRepositories } from '../config/repositories.js'
import { RepositorySecrets } from '../swarm/repository-secrets.js'
import { retentionsIn } from '../swarm/retention-batch.js'
import { Controller } from '../swarm/controller.js'
import { jobRows } from '../swarm/controller-options.js'
import { writeJobsFile } from '../observe/jobs-file.js'
import { snapshotsOfHost, snapshotsOfHosts } from '../restic/snapshots.js'
import { ensuringRepositories } from '../restic/init.js'
import type { LabelDefaults } from '../swarm/labels.js'
import { labelDefaults } from '../swarm/label-defaults.js'
import type { Config } from '../config/environment.js'
import { saveDefinitions } from '../recover/definitions.js'
import { readStackDefinitions } from '../swarm/definition.js'

// The controller's settings each job's `rds backup` gets as they are: how to reach the server, the
// secrets' paths (the job has the same secrets), and the limits of a run.
const PASSED_TO_JOBS = ['SSH_HOST', 'SSH_PORT', 'SERVER_MODE', 'SSH_PRIVKEY_FILE', 'SSH_KNOWN_HOSTS_FILE', 'RESTIC_REPO_PASSWORD_FILE', 'RETRY_LOCK', 'HOOK_TIMEOUT', 'STALL_TIMEOUT', 'MIN_FILES', 'MAX_SHRINK', 'TZ', 'LIMIT_UPLOAD', 'LIMIT_DOWNLOAD']


/**
 * The repositories where a stack's definitions may be: REPO_PATH, every repository of
 * REPOSITORIES_FILE (a removed stack's labels name none), and each one a labelled service's label names.
 */
export const repoPathsOf = (controller: Controller, defaults: LabelDefaults) => [
  ...new Set([defaults.repoPath, ...(defaults.repositories ?? []), ...[...controller.jobs.values()].flatMap(({ job }) => (job.backup ? [job.backup.repoPath] : []))]),
]

/** The label defaults, and the repositories a stack's definitions may be in by them. */
export async function withDefaults(controller: Controller, config: Config): Promise<{ defaults: LabelDefaults; repoPaths: string[] }> {
  const defaults = await labelDefaults(config)
  return { defaults, repoPaths: repoPathsOf(controller, defaults) }
}

/**
 * Opens the controller of MODE=swarm (on a manager, as a Swarm service) and hands it to `use`.
 * `schedule` false makes one that runs jobs only when asked (rds backup --service).
 */
/** What a command of MODE=swarm has besides the controller. */
export interface SwarmContext {
  docker: Docker
  template: JobTemplate
  /** restic for the repository at this path on the server. */
  resticFor: (repoPath: string) => Restic
  /** What every job gets of the controller's environment (see jobEnvironment). */
  jobEnv: string[]
  /** The job services' names in this Swarm, and which have ended. */
  ledger: JobLedger
  /** Aborted when the command stops, or the controller loses the Swarm's lease to another. */
  stop: AbortSignal
  /** What a rehearsal of a stack needs (rds rehearse, REHEARSE_AT, the console), as the Swarm is now. */
  rehearsal: () => Promise<RehearsalContext>
}

export function withController(cli: CliContext, log: Logger, schedule: boolean, use: (controller: Controller, swarm: SwarmContext) => Promise<number>): Promise<number> {
  return withRestic(cli, log, async (restic, config, version) => {
    if (config.resticRepository !== undefined) {
      throw new ConfigError('MODE=swarm backs up to the SFTP server (SSH_HOST, REPO_PATH); unset RESTIC_REPOSITORY, and copy to other repositories with rds copy.')
    }
    const { default: DockerClient } = await import('dockerode')
    const docker: Docker = new DockerClient()
    const info = (await docker.info()) as { Swarm?: { ControlAvailable?: boolean } }
    if (!info.Swarm?.ControlAvailable) {
      throw new ConfigError('MODE=swarm runs on a manager node, the only kind that sees every service; place the agent with the constraint node.role == manager.')
    }
    const reporter = await reporterFor(config, log)
    // A job gets the secrets a backup reads, and no other (least privilege).
    const { containerId, serviceId, ownSecrets, ...template } = await ownJobTemplate(docker, [config.sshPrivkeyFile, config.sshKnownHostsFile, config.passwordFile])
    // The repositories labels may choose by name; a job of one gets that one's section and files only.
    const named = config.repositories.file === undefined ? undefined : await readRepositories(config.repositories.file)
    const secrets = new RepositorySecrets(docker, named ?? new Map(), ownSecrets)
    if (named) template.access = (env) => secrets.forJob(env)
    // The scheduling controller runs only while it holds the Swarm's lease; a second one waits.
    const lease = schedule ? new ControllerLease(docker, serviceId, containerId, log) : undefined
    let stop = cli.stop
    let lost: AbortSignal | undefined
    if (lease) {
      const standby = new AbortController()
      reporter.keepHeartbeat(AbortSignal.any([cli.stop, standby.signal]), { overdue: false })
      const held = await lease.acquire(cli.stop)
      standby.abort()
      if (!held) return EXIT.ok
      lost = lease.keep(cli.stop)
      stop = AbortSignal.any([cli.stop, lost])
    }
    const jobEnv = PASSED_TO_JOBS.flatMap((name) => (cli.env[name]?.trim() ? [`${name}=${cli.env[name]!.trim()}`] : []))
    // Jobs of several services share a repository: a backup must wait out another's retention
    // (which locks the repository whole) rather than fail, and the other way round.
    // RETRY_LOCK's default with MODE=swarm (config.retryLock): the jobs run without MODE=swarm.
    const retryLock = config.retryLock
    if (!jobEnv.some((variable) => variable.startsWith('RETRY_LOCK='))) jobEnv.push(`RETRY_LOCK=${retryLock}`)
    if (schedule) log.info(`controller: restic ${version}; jobs run ${template.image} on the node of each labelled service; default repository ${restic.repository.describe}`)
    const resticFor = (repoPath: string): Restic => ({ ...restic, retryLock, repository: repositoryOfKey(repoPath, config, restic.repository.ssh!.transport, named) })
    // Those of sections that changed, or of a file since removed: once no job uses them.
    if (schedule) await secrets.removeStale(log)
    const ledger = await JobLedger.of(docker, join(config.lockDir, 'ended-jobs'))
    const ownerIsDead = swarmLockOwner(docker, ledger)
    // A repository is created only where no snapshot was ever recorded: one that vanished is a loud failure.
    const ensureRepository = ensuringRepositories(log, (repository, key) => reporter.copiedInto(key, repository))
    const controller = new Controller({
      docker,
      ownServiceId: serviceId,
      template,
      ledger,
      defaults: await labelDefaults(config),
      limits: config.runLimits,
      jobEnv,
      // restic forget of the jobs' own snapshots (--host), never --prune: the controller prunes each repository once a day (PRUNE_AT).
      applyRetention: (repoPath, jobs, rejected) => retentionsIn(resticFor(repoPath), jobs, rejected, ownerIsDead, log),
      copySnapshots: async (job, destination, ids, signal) => {
        const target = { ...resticFor(destination), signal }
        const savedThere = () => reporter.copiedInto(destination, target.repository.describe)
        // restic runs against the destination: withLockCare waits out its locks, removing dead owners' (and the source's, shared, rarely wait).
        await withLockCare(target, ownerIsDead, log, (locking) => copyInto({ ...resticFor(job.backup!.repoPath), retryLock: locking.retryLock, signal }, locking.repository, { ids, savedThere }, log))
        const retention = copiesRetention(named?.get(destination)?.copyRetention, job.backup!.retention)
        const failure = (await retentionsIn(target, [{ ...job, backup: { ...job.backup!, retention } }], [], ownerIsDead, log, ` in ${destination}`)).get(job.name)
        if (failure) throw failure
      },
      copyRetention: (destination) => named?.get(destination)?.copyRetention,
      pruneRepository: (repoPath) => withLockCare(resticFor(repoPath), ownerIsDead, log, (locking) => runRestic(locking, ['prune'], { log })).then(() => undefined),
      pruneAt: config.pruneAt,
      drill: (job) =>
        drillAndReport(
          {
            job: job.name,
            host: job.name,
            restic: resticFor(job.backup!.repoPath),
            command: job.backup!.drill?.command,
            image: job.image,
            parts: { files: job.backup!.volumes.length > 0 ? VOLUMES_ROOT : undefined, dump: job.backup!.dump?.filename },
          },
          async () => docker,
          reporter,
          log,
          // Also when the lease is lost: the controller that took over runs the drills now.
          stop,
        ),
      checkRepository: (repoPath) => withLockCare(resticFor(repoPath), ownerIsDead, log, (locking) => checkRepository(locking, config.checkReadDataSubset, log)),
      // Services that share a new repository would each create it at once: the controller does, first.
      // A job's backup cannot ask the Swarm who made a lock: the controller removes the dead ones first.
      beforeRun: async (job) => {
        const restic = resticFor(job.backup!.repoPath)
        await ensureRepository(job.backup!.repoPath, restic)
        await removeDeadLocks(restic, ownerIsDead, log)
      },
      saveDefinition: async (job) => saveDefinitions(resticFor(job.backup!.repoPath), job.name, await readStackDefinitions(docker, job.service), log),
      log,
      stop,
      schedule,
      lockDir: config.lockDir,
      reporter,
      overdueAfter: config.overdueAfter,
      snapshotsOf: async (job) => {
        const jobRestic = resticFor(job.backup!.repoPath)
        return { snapshots: await snapshotsOfHost(jobRestic, job.name, log), repository: jobRestic.repository.describe }
      },
      snapshotsOfHosts: async (repoPath, hosts, signal) => {
        const repoRestic = { ...resticFor(repoPath), signal }
        return { snapshots: await snapshotsOfHosts(repoRestic, hosts, log), repository: repoRestic.repository.describe }
      },
      // Only the scheduling controller keeps the table: a one-off run would overwrite it with one
      // that has no schedules.
      onChange: schedule && config.jobsFile ? (jobs) => void writeJobsFile(config.jobsFile!, jobRows(jobs)).catch((error) => log.warn(`controller: could not write JOBS_FILE: ${(error as Error).message}`)) : undefined,
    })
    // What a rehearsal needs, as the Swarm is now.
    const rehearsal = async (): Promise<RehearsalContext> => ({ deps: { docker, template, resticFor, jobEnv, ledger }, lockDir: config.lockDir, jobs: [...controller.jobs.values()].map(({ job }) => job), services: controller.services, ...(await withDefaults(controller, config)), rejected: await rejectedSnapshots(config), env: cli.env, reporter })
    // REHEARSE_AT, only in the controller that schedules: each stack's copy, from its backups.
    const rehearsals = schedule && config.rehearseAt ? scheduleRehearsals(config.rehearseAt, rehearsal, log, stop) : undefined
    try {
      const code = (await use(controller, { docker, template, resticFor, jobEnv, ledger, stop, rehearsal })) ?? EXIT.ok
      return lost?.aborted && !cli.stop.aborted ? EXIT.failure : code
    } finally {
      rehearsals?.stop()
      await lease?.release().catch((error: Error) => log.warn(`controller: could not give up the lease: ${error.message}`))
    }
  })
}
