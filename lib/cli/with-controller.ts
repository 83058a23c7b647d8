import type Docker from 'dockerode'
import { withRestic, type CliContext } from './context.js'
import type { Config } from '../config/environment.js'
import type { JobTemplate } from '../docker/job-service.js'
import { ownJobTemplate } from '../docker/own-service.js'
import { ConfigError, EXIT } from '../errors.js'
import type { SwarmJob } from '../jobs/discover.js'
import type { Logger } from '../observe/log.js'
import { runRestic, type Restic } from '../restic/command.js'
import { sftpRepository } from '../restic/repository.js'
import { describeRetention, forgetArgs } from '../restic/retention.js'
import { Controller } from '../schedule/controller.js'
import { writeJobsFile } from '../observe/jobs-file.js'

// The controller's settings each job's `rds backup` gets as they are: how to reach the server, the
// secrets' paths (the job has the same secrets), and the limits of a run.
const PASSED_TO_JOBS = ['SSH_HOST', 'SSH_PORT', 'SSH_PRIVKEY_FILE', 'SSH_KNOWN_HOSTS_FILE', 'RESTIC_REPO_PASSWORD_FILE', 'RETRY_LOCK', 'HOOK_TIMEOUT', 'STALL_TIMEOUT', 'MIN_FILES', 'MAX_SHRINK', 'TZ']

/** RETRY_LOCK's default with MODE=swarm. */
const SWARM_RETRY_LOCK = '30m'

/** restic forget for the job's own snapshots (--host), in the repository its labels name. */
function retentionFor(restic: Restic, config: Config, log: Logger) {
  return async (job: SwarmJob) => {
    const forget = forgetArgs(job.backup!.retention, job.name)
    if (!forget) return
    const repository = sftpRepository({ ...config, repoPath: job.backup!.repoPath }, restic.repository.ssh!.transport)
    log.info(`controller: ${job.name}: retention ${describeRetention(job.backup!.retention)}`)
    await runRestic({ ...restic, repository }, forget, { log })
  }
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
    const template = await ownJobTemplate(docker)
    const jobEnv = PASSED_TO_JOBS.flatMap((name) => (cli.env[name]?.trim() ? [`${name}=${cli.env[name]!.trim()}`] : []))
    // Jobs of several services share a repository: a backup must wait out another's retention
    // (which locks the repository whole) rather than fail, and the other way round.
    const retryLock = config.retryLock ?? SWARM_RETRY_LOCK
    if (config.retryLock === undefined) jobEnv.push(`RETRY_LOCK=${retryLock}`)
    if (schedule) log.info(`controller: restic ${version}; jobs run ${template.image} on the node of each labelled service; default repository ${restic.repository.describe}`)
    const controller = new Controller({
      docker,
      template,
      defaults: { runAt: config.runAt, retention: config.retention, repoPath: config.repoPath },
      jobEnv,
      applyRetention: retentionFor({ ...restic, retryLock }, config, log),
      log,
      stop: cli.stop,
      schedule,
      lockDir: config.lockDir,
      // Only the scheduling controller keeps the table: a one-off run would overwrite it with one
      // that has no schedules.
      onChange: schedule && config.jobsFile ? (jobs) => void writeJobsFile(config.jobsFile!, jobs).catch((error) => log.warn(`controller: could not write JOBS_FILE: ${(error as Error).message}`)) : undefined,
    })
    const resticFor = (repoPath: string): Restic => ({ ...restic, repository: sftpRepository({ ...config, repoPath }, restic.repository.ssh!.transport) })
    return (await use(controller, { docker, template, resticFor })) ?? EXIT.ok
  })
}
