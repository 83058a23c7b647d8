import type { Readable, Writable } from 'node:stream'
import { readConfig, type Config, type Env } from '../config/environment.js'
import { readSecretFile } from '../config/secret-files.js'
import { checkBackupPath, openWorkspace } from '../restic/workspace.js'
import type { VolumeHelper } from '../docker/volume-helper.js'
import { ConfigError, EXIT, RunError } from '../errors.js'
import type { HookEngine } from '../docker/engine.js'
import { jobFromConfig, type Job } from '../run/job.js'
import type { RunContext } from '../run/run.js'
import type { Logger } from '../observe/log.js'
import { Reporter } from '../observe/reporter.js'
import { rejectedSnapshots } from '../observe/status-file.js'
import { notificationsFrom } from '../notify/listener.js'
import { checkResticVersion, type Restic } from '../restic/command.js'
import { repositoryOfKey, urlRepository } from '../restic/repository.js'
import { readRepositories } from '../config/repositories.js'
import { describeRetention } from '../restic/retention.js'

export interface CliContext {
  env: Env
  stdin: Readable
  stdout: Writable
  stderr: Writable
  /** Aborted on SIGTERM or SIGINT. */
  stop: AbortSignal
}

/** The configuration of a command that works on the whole Swarm; without MODE=swarm it is refused, saying where to run it. */
export function swarmConfig(env: Env, command: string): Config {
  const config = readConfig(env)
  if (config.mode !== 'swarm') throw new ConfigError(`${command} needs MODE=swarm; run it in the controller's container (docker exec).`)
  return config
}

/** What every command of rds is given when it is added to the program. */
export interface CommandContext {
  cli: CliContext
  /** The exit code main() returns, unless a command throws. */
  setExitCode: (code: number) => void
  /** The browsing and restoring commands log plainly; agent and backup make their own, with --verbose. */
  plainLog: Logger
}

export const isTerminal = (stream: Writable) => (stream as { isTTY?: boolean }).isTTY === true

/** For an option given more than once (--include A --include B). */
export const collect = (value: string, previous: string[]) => [...previous, value]

/** A time as --at takes it: ISO 8601 (a date, or a date and time, in UTC unless it names a zone). */
export function parseAt(value: string): Date {
  const iso = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(?<zone>Z|[+-]\d{2}:\d{2})?)?$/.exec(value)
  // JavaScript reads a date and time without a zone as local time: here it is UTC, as a date alone is.
  const time = !iso ? Number.NaN : Date.parse(value.includes('T') && !iso.groups?.zone ? `${value}Z` : value)
  if (Number.isNaN(time)) throw new ConfigError(`--at ${JSON.stringify(value)} is not a time rds reads; write it as ISO 8601, e.g. 2026-12-01T03:00 (UTC) or 2026-12-01T03:00+01:00.`)
  return new Date(time)
}

export const HOST_OPTION = '--host <host>'
export const HOST_HELP = 'the snapshots of this host (a service\'s name with MODE=swarm); "latest" is its newest (default: this agent\'s own host)'
export const PATH_OPTION = '--path <path>'

/**
 * Which snapshot a command's SNAPSHOT argument and --host name, the same for every command:
 * "latest" is the newest accepted snapshot of --host, else of the agent's own host (SNAPSHOT_HOST,
 * else SERVICE_NAME, where one is set in the single-service mode), else of the one host the
 * repository holds (refused, with the hosts' names, where it holds several).
 */
export async function snapshotChoice(config: Config, snapshot: string, host: string | undefined) {
  const own = config.mode === 'service' && config.snapshotHostSet ? config.snapshotHost : undefined
  return { snapshot, host: host ?? own, rejected: await rejectedSnapshots(config) }
}

/**
 * The Docker engine hooks run in (DOCKER_HOST, or /var/run/docker.sock). dockerode, with gRPC, adds
 * 200 ms and 16 MiB to start-up, so it is loaded only when the first hook runs.
 */
export function lazyDockerEngine(): () => Promise<HookEngine> {
  let engine: Promise<HookEngine> | undefined
  const load = async () => {
    const [{ default: Docker }, { dockerEngine }] = await Promise.all([import('dockerode'), import('../docker/engine.js')])
    return dockerEngine(new Docker())
  }
  return () => (engine ??= load())
}

/** The Docker side of volume commands, loaded only when one runs (see lazyDockerEngine); SIGTERM stops it. */
export async function volumeHelper(context: CliContext): Promise<VolumeHelper> {
  const [{ default: Docker }, { helperImage }] = await Promise.all([import('dockerode'), import('../docker/volume-helper.js')])
  const docker = new Docker()
  return { docker, image: await helperImage(docker, context.env.HELPER_IMAGE?.trim() || undefined), signal: context.stop }
}

/**
 * Opens the workspace (closed again afterwards) and checks restic, then hands restic for the
 * repository, the configuration and restic's version to `use`; with MODE=swarm and `forHost`, for
 * the repository that host's snapshots are in (resticForHost).
 */
export async function withRestic(
  context: CliContext,
  log: Logger,
  use: (restic: Restic, config: Config, version: string) => Promise<number | void>,
  forHost?: string,
): Promise<number> {
  // restic's version is asked beside opening the workspace (ssh's files, the server's key), not after it;
  // a bad configuration throws here, as openWorkspace would.
  const checked = checkResticVersion(readConfig(context.env).resticBinary)
  checked.catch(() => undefined)
  const workspace = await openWorkspace(context.env, log)
  try {
    const { config, repository } = workspace
    const version = await checked
    const restic: Restic = { binary: config.resticBinary, repository, retryLock: config.retryLock, bandwidth: config.bandwidth, signal: context.stop }
    return (await use(await resticForHost(restic, config, forHost), config, version)) ?? EXIT.ok
  } finally {
    await workspace.close()
  }
}

/**
 * With MODE=swarm, a service's snapshots are in the repository its rds.backup.repo label chose:
 * restic for that one (read from the Swarm's labels), so that --host finds them wherever they are.
 */
async function resticForHost(restic: Restic, config: Config, host: string | undefined): Promise<Restic> {
  if (config.mode !== 'swarm' || host === undefined || !restic.repository.ssh) return restic
  const [{ default: Docker }, { repoPathOfHost }] = await Promise.all([import('dockerode'), import('../recover/swarm-snapshot.js')])
  let repoPath: string
  try {
    repoPath = await repoPathOfHost(new Docker(), config, host)
  } catch (error) {
    throw new RunError(`could not read from the Swarm which repository the labels of ${host} chose (${(error as Error).message}); run this in the controller's container, on a manager.`)
  }
  if (repoPath === config.repoPath) return restic
  const named = config.repositories.file === undefined ? undefined : await readRepositories(config.repositories.file)
  return { ...restic, repository: repositoryOfKey(repoPath, config, restic.repository.ssh.transport, named) }
}

/** Where runs are recorded (STATUS_FILE) and notified (NOTIFY_URLS). */
export async function reporterFor(config: Pick<Config, 'notify' | 'statusFile'>, log: Logger): Promise<Reporter> {
  const notify = await notificationsFrom(config.notify, log)
  return new Reporter({ statusFile: config.statusFile, listeners: notify ? [notify] : [], log })
}

/** Opens the workspace, checks everything a backup needs, then hands the job to `use`. */
export function withJob(context: CliContext, log: Logger, use: (job: Job, runContext: RunContext) => Promise<number>, requireSchedule: boolean): Promise<number> {
  return withRestic(context, log, async (restic, config, version) => {
    // readConfig has checked RUN_AT's syntax; the agent also needs it to be there.
    if (requireSchedule && !config.runAt) throw new ConfigError('RUN_AT is not set; set it to a cron expression such as "0 3 * * *" (03:00 every day).')
    if (config.backupFiles) await checkBackupPath(config.backupPath, config.guardFolders)
    if (config.copyTo) await readSecretFile('COPY_TO_PASSWORD_FILE', config.copyTo.passwordFile, "second repository's password")
    const job = jobFromConfig(config, restic.repository)
    const reporter = await reporterFor(config, log)
    if (job.dump) log.info(`rds: dump ${job.dump.preset ?? 'DUMP_COMMAND'} of ${job.dump.database ?? `service ${job.hooks.service}`}, saved as ${job.dump.filename} in snapshots tagged dump`)
    if (job.stop === 'pause') log.info(`rds: service ${job.hooks.service}'s containers on this node are paused while ${job.backupPath} is backed up`)
    log.info(`rds: restic ${version}; backing up ${job.backupFiles ? job.backupPath : 'the dump'} to ${job.repository.describe} as host ${job.snapshotHost}`)
    if (job.hooks.pre || job.hooks.post) {
      log.info(`rds: hooks run in service ${job.hooks.service}: ${[job.hooks.pre && 'PRE_HOOK', job.hooks.post && 'POST_HOOK'].filter(Boolean).join(', ')}`)
    }
    log.info(`rds: retention ${describeRetention(job.retention)}`)
    if (job.copyTo) log.info(`rds: each backup is copied to ${urlRepository(job.copyTo.url, job.copyTo.passwordFile).describe}`)
    const runContext: RunContext = {
      resticBinary: restic.binary,
      retryLock: restic.retryLock,
      bandwidth: restic.bandwidth,
      log,
      engine: lazyDockerEngine(),
      lockDir: config.lockDir,
      reporter,
    }
    return use(job, runContext)
  })
}
