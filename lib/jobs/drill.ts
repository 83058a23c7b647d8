import { lstat } from 'node:fs/promises'
import { join } from 'node:path'
import type Docker from 'dockerode'
import { runDrillContainer } from '../docker/drill-container.js'
import { RunError } from '../errors.js'
import type { Logger } from '../observe/log.js'
import { keepingTail } from '../observe/log.js'
import type { Reporter } from '../observe/reporter.js'
import { outcomeOf } from '../observe/status.js'
import type { Restic } from '../restic/command.js'
import { listPath } from '../restic/snapshots.js'
import { restoreToDirectory } from '../restore/directory.js'
import { tarOf, withTempDir } from '../restore/volume-transfer.js'
import type { Job } from './job.js'
import { runLockKey, type RunContext } from './run.js'
import { takeRunLock } from './run-lock.js'

/** One job's restore drill: which snapshots, and what proves the restored data usable. */
export interface Drill {
  job: string
  /** The snapshots' host: the drill restores its latest. */
  host: string
  restic: Restic
  /** Run with `sh -c` on the restored files (rds.backup.drill-command, DRILL_COMMAND), e.g. pg_restore --list. */
  command?: string
  /** The image the command runs in: the service's own, or DRILL_IMAGE. */
  image?: string
  /** Snapshots the guard rejected: the drill restores the latest accepted one. */
  rejected?: readonly string[]
}

/** How many of the snapshot's files are missing from the restore, or differ in size; the first of each. */
async function compareWithListing(drill: Drill, snapshot: Parameters<typeof listPath>[1], target: string, log: Logger) {
  let files = 0
  const missing: string[] = []
  const resized: string[] = []
  await listPath(drill.restic, snapshot, undefined, log, async (node) => {
    if (node.type !== 'file') return
    files++
    const restored = await lstat(join(target, node.path)).catch(() => undefined)
    if (!restored?.isFile()) missing.push(node.path)
    else if (restored.size !== node.size) resized.push(`${node.path} (${restored.size} bytes where the snapshot says ${node.size})`)
  })
  return { files, missing, resized }
}

/**
 * Restores the job's latest snapshot into a scratch directory, checks that every file of the
 * snapshot's own listing is there with its size, and runs the drill command on it, if any.
 * Resolves to what passed; throws a RunError that says what failed.
 */
export async function runDrill(drill: Drill, docker: () => Promise<Docker>, log: Logger, signal?: AbortSignal): Promise<string> {
  return withTempDir(async (dir) => {
    const target = join(dir, 'restored')
    const snapshot = await restoreToDirectory(drill.restic, { choice: { snapshot: 'latest', host: drill.host, rejected: drill.rejected }, includes: [], target, force: false, progress: false }, log)
    const { files, missing, resized } = await compareWithListing(drill, snapshot, target, log)
    if (missing.length > 0 || resized.length > 0) {
      throw new RunError(
        `the restore of snapshot ${snapshot.short_id} does not match its listing: ${missing.length} of ${files} files missing${missing[0] ? ` (the first: ${missing[0]})` : ''}, ` +
          `${resized.length} with another size${resized[0] ? ` (the first: ${resized[0]})` : ''}.`,
      )
    }
    const passed = `snapshot ${snapshot.short_id} restored: all ${files} files present, with their sizes`
    if (!drill.command) return passed
    if (!drill.image) throw new RunError(`the drill command of ${drill.job} has no image to run in; set DRILL_IMAGE.`)
    log.info(`drill: running the drill command in a throwaway container of ${drill.image}`)
    // The snapshot's paths (/volumes, or BACKUP_PATH) are the drill directory's top.
    const tar = tarOf(join(target, snapshot.paths.length === 1 ? snapshot.paths[0]! : '.'), signal)
    // Taken at once: tar's output is not kept for a reader that comes later.
    const input = tar.readable()
    const { exitCode, output } = await runDrillContainer(await docker(), drill.image, drill.command, input, signal).finally(() => tar.kill())
    await tar.catch(() => undefined)
    for (const line of output.split('\n')) if (line.trim()) log.debug(`drill: ${line}`)
    if (exitCode !== 0) throw new RunError(`the drill command exited with ${exitCode}: ${output.split('\n').slice(-3).join(' ') || 'no output'}`)
    return `${passed}; the drill command passed`
  })
}

/** A drill, logged, recorded in STATUS_FILE and notified like a run; resolves to whether it passed. */
export async function drillAndReport(drill: Drill, docker: () => Promise<Docker>, reporter: Reporter | undefined, baseLog: Logger, signal?: AbortSignal): Promise<boolean> {
  const { log, tail } = keepingTail(baseLog)
  const started = new Date()
  log.info(`drill: ${drill.job}: restoring its latest snapshot into a scratch directory`)
  let ok = true
  let message: string
  try {
    const rejected = [...(drill.rejected ?? []), ...((await reporter?.rejectedSnapshots()) ?? [])]
    message = await runDrill({ ...drill, rejected }, docker, log, signal)
    log.info(`drill: ${drill.job}: ${message}`)
  } catch (error) {
    ok = false
    message = (error as Error).message
    log.error(`drill: ${drill.job}: ${message}`)
  }
  await reporter?.finished({ job: drill.job, kind: 'drill', outcome: outcomeOf(started, new Date(), ok, message, ok ? 0 : 1), logTail: tail() })
  return ok
}

/** The Docker engine of this node (DOCKER_HOST, or the socket), loaded only when a drill command runs. */
export const localDocker = (): (() => Promise<Docker>) => {
  let docker: Promise<Docker> | undefined
  return () => (docker ??= import('dockerode').then(({ default: Client }) => new Client()))
}

/**
 * One drill of the agent's job (DRILL_AT, or rds drill), under the job's run lock so that it never
 * runs beside its backup. Resolves to whether it passed.
 */
export async function drillJob(job: Job, context: RunContext): Promise<boolean> {
  let release: () => Promise<void>
  try {
    release = await takeRunLock(context.lockDir, runLockKey(job), job.name, context.log)
  } catch (error) {
    context.log.warn(`drill: skipped: ${(error as Error).message}`)
    return false
  }
  try {
    const restic: Restic = { binary: context.resticBinary, repository: job.repository, retryLock: context.retryLock, signal: context.signal }
    const drill: Drill = { job: job.name, host: job.snapshotHost, restic, command: job.drill.command, image: job.drill.image, rejected: job.guard.rejected }
    return await drillAndReport(drill, localDocker(), context.reporter, context.log, context.signal)
  } finally {
    await release()
  }
}
