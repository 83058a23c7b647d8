import { createRequire } from 'node:module'
import type { Readable, Writable } from 'node:stream'
import { Command, CommanderError } from 'commander'
import parseArgsStringToArgv from 'string-argv'
import { runAgent } from '../schedule/agent.js'
import { runJob, type RunContext } from '../jobs/run.js'
import type { Config, Env } from '../config/environment.js'
import { ConfigError, EXIT, RunError } from '../errors.js'
import type { HookEngine } from '../jobs/hooks.js'
import { jobFromConfig, type Job } from '../jobs/job.js'
import { createLogger, type Logger } from '../observe/log.js'
import { describeRetention } from '../restic/retention.js'
import { copySnapshots } from '../restic/copy.js'
import { exportSnapshot } from '../restore/export.js'
import { restoreToDirectory } from '../restore/directory.js'
import { checkResticVersion, runRestic, type Restic } from '../restic/command.js'
import { listPath, resolveSnapshot, type SnapshotNode } from '../restic/snapshots.js'
import { writeOut } from './output.js'
import { urlRepository } from '../restic/repository.js'
import { readSecretFile } from '../config/secret-files.js'
import { exportVolume, importVolume, restoreToVolume } from '../restore/volume-transfer.js'
import type { VolumeHelper } from '../docker/volume-helper.js'
import { readStatus } from '../observe/status.js'
import { checkBackupPath, openWorkspace } from '../config/workspace.js'

export interface CliContext {
  env: Env
  stdin: Readable
  stdout: Writable
  stderr: Writable
  /** Aborted on SIGTERM or SIGINT. */
  stop: AbortSignal
}

const HELP_FOOTER = `
Configuration comes from environment variables (SSH_HOST, REPO_PATH, RUN_AT, ...): see the README.
Exit codes: 0 success, 1 failure, 2 bad configuration, 3 incomplete snapshot, 10 no repository,
11 repository locked, 12 wrong password, 130 interrupted.`

/**
 * The Docker engine hooks run in (DOCKER_HOST, or /var/run/docker.sock). dockerode, with gRPC, adds
 * 200 ms and 16 MiB to start-up, so it is loaded only when the first hook runs.
 */
function lazyDockerEngine(): () => Promise<HookEngine> {
  let engine: Promise<HookEngine> | undefined
  const load = async () => {
    const [{ default: Docker }, { dockerEngine }] = await Promise.all([import('dockerode'), import('../docker/engine.js')])
    return dockerEngine(new Docker())
  }
  return () => (engine ??= load())
}

/** Opens the workspace, checks everything a backup needs, then hands the job to `use`. */
function withJob(context: CliContext, log: Logger, use: (job: Job, runContext: RunContext) => Promise<number>, requireSchedule: boolean): Promise<number> {
  return withRestic(context, log, async (restic, config, version) => {
    // readConfig has checked RUN_AT's syntax; the agent also needs it to be there.
    if (requireSchedule && !config.runAt) throw new ConfigError('RUN_AT is not set; set it to a cron expression such as "0 3 * * *" (03:00 every day).')
    await checkBackupPath(config.backupPath)
    if (config.copyTo) await readSecretFile('COPY_TO_PASSWORD_FILE', config.copyTo.passwordFile, "second repository's password")
    const job = jobFromConfig(config, restic.repository)
    log.info(`rds: restic ${version}; backing up ${job.backupPath} to ${job.repository.describe} as host ${job.snapshotHost}`)
    if (job.hooks.pre || job.hooks.post) {
      log.info(`rds: hooks run in service ${job.hooks.service}: ${[job.hooks.pre && 'PRE_HOOK', job.hooks.post && 'POST_HOOK'].filter(Boolean).join(', ')}`)
    }
    log.info(`rds: retention ${describeRetention(job.retention)}`)
    if (job.copyTo) log.info(`rds: each backup is copied to ${urlRepository(job.copyTo.url, job.copyTo.passwordFile).describe}`)
    const runContext: RunContext = {
      resticBinary: restic.binary,
      retryLock: restic.retryLock,
      log,
      engine: lazyDockerEngine(),
      lockDir: config.lockDir,
      statusFile: config.statusFile,
    }
    return use(job, runContext)
  })
}

const { version } = createRequire(import.meta.url)('../../../package.json') as { version: string }

/** The Docker side of volume commands, loaded only when one runs (see lazyDockerEngine); SIGTERM stops it. */
async function volumeHelper(context: CliContext): Promise<VolumeHelper> {
  const [{ default: Docker }, { helperImage }] = await Promise.all([import('dockerode'), import('../docker/volume-helper.js')])
  const docker = new Docker()
  return { docker, image: await helperImage(docker, context.env.HELPER_IMAGE?.trim() || undefined), signal: context.stop }
}

/**
 * Opens the workspace (closed again afterwards) and checks restic, then hands restic for the
 * repository, the configuration and restic's version to `use`.
 */
async function withRestic(
  context: CliContext,
  log: Logger,
  use: (restic: Restic, config: Config, version: string) => Promise<number | void>,
): Promise<number> {
  const workspace = await openWorkspace(context.env, log)
  try {
    const { config, repository } = workspace
    const version = await checkResticVersion(config.resticBinary)
    const restic: Restic = { binary: config.resticBinary, repository, retryLock: config.retryLock, signal: context.stop }
    return (await use(restic, config, version)) ?? EXIT.ok
  } finally {
    await workspace.close()
  }
}

const isTerminal = (stream: Writable) => (stream as { isTTY?: boolean }).isTTY === true
const collect = (value: string, previous: string[]) => [...previous, value]

function buildProgram(context: CliContext, setExitCode: (code: number) => void): Command {
  const program = new Command('rds')
    .version(version, '-V, --version')
    .description('Encrypted, incremental backups of a Docker Swarm volume with restic over SFTP.')
    .addHelpText('after', HELP_FOOTER)
    .exitOverride()
    .configureOutput({
      writeOut: (text) => context.stdout.write(text),
      writeErr: (text) => context.stderr.write(text),
    })
    .showHelpAfterError('(run "rds --help" for usage)')

  program
    .command('agent')
    .description('run the agent: take a backup on every tick of RUN_AT until stopped (SIGTERM or SIGINT)')
    .option('-v, --verbose', "log restic's and the hooks' own output")
    .addHelpText('after', '\nEXTRA_ARGS, if set, is added to the options of this command, e.g. EXTRA_ARGS=--verbose.')
    .action(async (options: { verbose?: boolean }) => {
      const log = createLogger({ verbose: options.verbose, stream: context.stderr })
      setExitCode(
        await withJob(
          context,
          log,
          async (job, runContext) => {
            await runAgent(job, { ...runContext, stop: context.stop })
            return EXIT.ok
          },
          true,
        ),
      )
    })

  program
    .command('backup')
    .description('take one backup now with the same steps as the agent (hooks, backup, retention); exit 0 only if it succeeded')
    .option('-v, --verbose', "log restic's and the hooks' own output")
    .action(async (options: { verbose?: boolean }) => {
      const log = createLogger({ verbose: options.verbose, stream: context.stderr })
      setExitCode(
        await withJob(
          context,
          log,
          async (job, runContext) => (await runJob(job, { ...runContext, signal: context.stop })).exitCode,
          false,
        ),
      )
    })
  // The browsing and restoring commands log plainly; agent and backup make their own, with --verbose.
  const plainLog = createLogger({ stream: context.stderr })
  const hostOption = '--host <host>'
  const hostHelp = 'with "latest": the newest snapshot of this host (its SNAPSHOT_HOST) rather than of any'

  program
    .command('snapshots')
    .description('list the snapshots in the repository')
    .option('--json', 'print them as JSON, for scripts')
    .option(hostOption, 'only the snapshots of this host')
    .action(async (options: { json?: boolean; host?: string }) => {
      const args = ['snapshots', ...(options.json ? ['--json'] : []), ...(options.host ? ['--host', options.host] : [])]
      const stdoutTo = isTerminal(context.stdout) ? 'inherit' : context.stdout
      setExitCode(await withRestic(context, plainLog, (restic) => runRestic(restic, args, { log: plainLog, stdoutTo })))
    })

  program
    .command('ls')
    .description('list the files in a snapshot, or under one of its paths')
    .argument('[snapshot]', 'a snapshot ID or "latest"', 'latest')
    .argument('[path]', 'a folder or file in the snapshot')
    .option('--json', 'print the entries as JSON, for scripts')
    .option(hostOption, hostHelp)
    .action(async (snapshot: string, path: string | undefined, options: { json?: boolean; host?: string }) => {
      setExitCode(
        await withRestic(context, plainLog, async (restic) => {
          const found = await resolveSnapshot(restic, { snapshot, host: options.host }, plainLog)
          // One JSON array, written an entry at a time as restic lists them.
          let separator = '['
          const asJson = async (node: SnapshotNode) => {
            await writeOut(context.stdout, `${separator}${JSON.stringify(node)}`)
            separator = ','
          }
          const asText = (node: SnapshotNode) => {
            const owner = `${node.uid ?? '?'}/${node.gid ?? '?'}`
            return writeOut(context.stdout, `${node.permissions ?? node.type} ${owner.padEnd(11)} ${String(node.size ?? '').padStart(12)} ${node.mtime?.slice(0, 19).replace('T', ' ') ?? ''} ${node.path}\n`)
          }
          await listPath(restic, found, path, plainLog, options.json ? asJson : asText)
          if (options.json) await writeOut(context.stdout, separator === '[' ? '[]\n' : ']\n')
        }),
      )
    })

  program
    .command('restore')
    .description('restore a snapshot, or some of its paths, into a new or empty directory or Docker volume')
    .argument('[snapshot]', 'a snapshot ID or "latest"', 'latest')
    .option('--target <dir>', "the directory to restore into; the snapshot's paths are recreated under it")
    .option('--to-volume <name>', "the Docker volume to restore into, created if needed; the snapshot's path becomes its root")
    .option('--include <path>', 'restore only this folder or file of the snapshot (repeatable)', collect, [])
    .option('--force', 'restore into a directory or volume that is not empty, overwriting what the snapshot holds')
    .option(hostOption, hostHelp)
    .action(async (snapshot: string, options: { target?: string; toVolume?: string; include: string[]; force?: boolean; host?: string }) => {
      if (Boolean(options.target) === Boolean(options.toVolume)) {
        throw new ConfigError('give exactly one destination: --target DIR or --to-volume NAME.')
      }
      const restore = { choice: { snapshot, host: options.host }, includes: options.include, force: Boolean(options.force), progress: isTerminal(context.stdout) }
      setExitCode(
        await withRestic(context, plainLog, async (restic) => {
          if (options.toVolume) await restoreToVolume(restic, await volumeHelper(context), options.toVolume, restore, plainLog)
          else await restoreToDirectory(restic, { ...restore, target: options.target! }, plainLog)
        }),
      )
    })

  program
    .command('export')
    .description('write a snapshot (or a live Docker volume, with --volume) as a tar archive to a file or to standard output')
    .argument('[snapshot]', 'a snapshot ID or "latest"', 'latest')
    .option('--output <file>', 'the tar file to write (written whole or not at all); standard output by default')
    .option('--path <path>', 'only this folder of the snapshot (as tar), or this file (its contents, as they are)')
    .option('--volume <name>', 'export this Docker volume as it is now, without any repository')
    .option(hostOption, hostHelp)
    .action(async (snapshot: string, options: { output?: string; path?: string; volume?: string; host?: string }) => {
      if (!options.output && isTerminal(context.stdout)) {
        throw new ConfigError('refusing to write a tar archive to a terminal; give --output FILE, or pipe the output to a file or a program.')
      }
      if (options.volume) {
        await exportVolume(await volumeHelper(context), options.volume, options.output, context.stdout, plainLog)
        return
      }
      setExitCode(
        await withRestic(context, plainLog, (restic) =>
          exportSnapshot(restic, { choice: { snapshot, host: options.host }, path: options.path, output: options.output, stdout: context.stdout }, plainLog),
        ),
      )
    })

  program
    .command('import')
    .description('create a Docker volume from a tar archive (as rds export writes), checked whole first')
    .argument('<file>', 'the tar file, or - for standard input')
    .requiredOption('--to-volume <name>', 'the volume to create')
    .option('--force', 'write into a volume that already exists and is not empty')
    .action(async (file: string, options: { toVolume: string; force?: boolean }) => {
      await importVolume(await volumeHelper(context), file, context.stdin, options.toVolume, Boolean(options.force), plainLog)
    })

  program
    .command('copy')
    .description('copy snapshots to a second repository (restic copy), creating it if needed')
    .requiredOption('--to <repository>', 'the second repository: any restic repository URL')
    .requiredOption('--to-password-file <file>', "the file holding the second repository's password")
    .option(hostOption, "only this host's snapshots")
    .action(async (options: { to: string; toPasswordFile: string; host?: string }) => {
      setExitCode(
        await withRestic(context, plainLog, async (restic) => {
          await readSecretFile('--to-password-file', options.toPasswordFile, "second repository's password")
          const copy = { to: options.to, toPasswordFile: options.toPasswordFile, host: options.host, progress: isTerminal(context.stdout) }
          await copySnapshots(restic, copy, plainLog)
        }),
      )
    })

  program
    .command('health')
    .description("report the last run's outcome from STATUS_FILE: exit 0 if it succeeded or none has finished yet, 1 if it failed")
    .action(async () => {
      const file = context.env.STATUS_FILE?.trim()
      if (!file) throw new ConfigError('STATUS_FILE is not set; set it to the file where the agent records its last run (the image sets /run/rds/status.json).')
      const status = await readStatus(file)
      if (status?.running) context.stdout.write(`a run is in progress since ${status.running.since} (process ${status.running.pid})\n`)
      if (status?.finishedAt === undefined) {
        context.stdout.write('no run has finished yet\n')
      } else if (status.ok) {
        context.stdout.write(`the last run succeeded at ${status.finishedAt}${status.snapshotId ? ` (snapshot ${status.snapshotId.slice(0, 8)})` : ''}\n`)
      } else {
        context.stdout.write(`the last run failed at ${status.finishedAt} with exit code ${status.exitCode}: ${status.message ?? 'no message'}\n`)
        setExitCode(EXIT.failure)
      }
    })
  return program
}

/** rds's command line. Resolves to the exit code; never calls process.exit. */
export async function main(argv: string[], context: CliContext): Promise<number> {
  let exitCode: number = EXIT.ok
  // EXTRA_ARGS is how a stack file adds options to the image's "rds agent" command.
  const args = argv[0] === 'agent' ? [...argv, ...parseArgsStringToArgv(context.env.EXTRA_ARGS ?? '')] : argv
  const program = buildProgram(context, (code) => (exitCode = code))
  if (args.length === 0) {
    program.outputHelp()
    return EXIT.usage
  }
  try {
    await program.parseAsync(args, { from: 'user' })
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.usage
    if (error instanceof ConfigError || error instanceof RunError) {
      context.stderr.write(`rds: ${error.message}\n`)
      return error.exitCode
    }
    if ((error as Error).name === 'AbortError') {
      context.stderr.write('rds: interrupted before it finished; nothing was left half-done.\n')
      return EXIT.interrupted
    }
    if ((error as NodeJS.ErrnoException).code === 'EPIPE') {
      context.stderr.write('rds: the reader of the output went away before it was written whole.\n')
      return EXIT.failure
    }
    // Anything else (the Docker engine, the file system) still gets one line and a failure code.
    context.stderr.write(`rds: ${error instanceof Error ? error.message : String(error)}\n`)
    return EXIT.failure
  }
  return exitCode
}
