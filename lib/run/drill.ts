import { lstat } from 'node:fs/promises'
import { join } from 'node:path'
import type Docker from 'dockerode'
import { runDrillContainer } from '../docker/drill-container.js'
import { RunError } from '../errors.js'
import type { Logger } from '../observe/log.js'
import { keepingTail } from '../observe/log.js'
import type { Reporter } from '../observe/reporter.js'
import { outcomeOf } from '../observe/outcome.js'
import type { Restic } from '../restic/command.js'
import { listPath, resolveSnapshot, type SnapshotChoice, type SnapshotInfo } from '../restic/snapshots.js'
import { DUMP_TAG } from '../dumps/presets.js'
import { restoreToDirectory } from '../restore/directory.js'
import { withTempDir } from '../restore/volume-transfer.js'
import { drillArchive } from '../restore/drill-archive.js'
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
  /** What the job backs up: its files (the path its snapshots record), its dump (the file name), or both. */
  parts: { files?: string; dump?: string }
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

/** Restores the newest accepted snapshot a choice names into `target`, and checks it against its listing. */
async function restoreAndCompare(drill: Drill, choice: SnapshotChoice, target: string, log: Logger): Promise<{ snapshot: SnapshotInfo; files: number }> {
  const snapshot = await restoreToDirectory(drill.restic, { choice, includes: [], target, force: false, progress: false }, log)
  const { files, missing, resized } = await compareWithListing(drill, snapshot, target, log)
  if (missing.length > 0 || resized.length > 0) {
    throw new RunError(
      `the restore of snapshot ${snapshot.short_id} does not match its listing: ${missing.length} of ${files} files missing${missing[0] ? ` (the first: ${missing[0]})` : ''}, ` +
        `${resized.length} with another size${resized[0] ? ` (the first: ${resized[0]})` : ''}.`,
    )
  }
  return { snapshot, files }
}

/**
 * Restores the job's newest accepted snapshots into a scratch directory (the files, and the dump,
 * each its own) and checks that every file of each snapshot's own listing is there with its size.
 * Resolves to what passed; throws a RunError that says what failed.
 */
async function restoreDrill(drill: Drill, latest: SnapshotChoice, log: Logger): Promise<string> {
  return withTempDir(async (dir) => {
    const passed: string[] = []
    if (drill.parts.files !== undefined) {
      const { snapshot, files } = await restoreAndCompare(drill, { ...latest, path: drill.parts.files }, join(dir, 'files'), log)
      passed.push(`snapshot ${snapshot.short_id} restored: all ${files} files present, with their sizes`)
    }
    if (drill.parts.dump !== undefined) {
      const { snapshot } = await restoreAndCompare(drill, { ...latest, tag: DUMP_TAG, path: `/${drill.parts.dump}` }, join(dir, 'dump'), log)
      passed.push(`dump ${snapshot.short_id} restored: ${drill.parts.dump} whole`)
    }
    return passed.join('; ')
  })
}

/**
 * Runs the drill command on the job's newest accepted snapshots in a throwaway container: they
 * stream straight from the repository into it (the files' path is the drill directory's top, the
 * dump file is in it), each held against its listing on the way, so that nothing is staged on this
 * machine's disk but in the container itself.
 */
async function commandDrill(drill: Drill, latest: SnapshotChoice, docker: () => Promise<Docker>, log: Logger, signal?: AbortSignal): Promise<string> {
  if (!drill.image) throw new RunError(`the drill command of ${drill.job} has no image to run in; set DRILL_IMAGE.`)
  const { restic } = drill
  const files = drill.parts.files === undefined ? undefined : { snapshot: await resolveSnapshot(restic, { ...latest, path: drill.parts.files }, log), path: drill.parts.files }
  const dump = drill.parts.dump === undefined ? undefined : { snapshot: await resolveSnapshot(restic, { ...latest, tag: DUMP_TAG, path: `/${drill.parts.dump}` }, log), filename: drill.parts.dump }
  log.info(`drill: running the drill command in a throwaway container of ${drill.image}`)
  const { archive, done, stop } = drillArchive(restic, { files, dump }, log)
  const ran = await runDrillContainer(await docker(), drill.image, drill.command!, archive, signal).finally(() => stop('the drill container did not read the whole archive'))
  // An archive that failed explains a command that then failed on half of it.
  const checked = await done
  for (const line of ran.output.split('\n')) if (line.trim()) log.debug(`drill: ${line}`)
  if (ran.exitCode !== 0) throw new RunError(`the drill command exited with ${ran.exitCode}: ${ran.output.split('\n').slice(-3).join(' ') || 'no output'}`)
  return `${checked.join('; ')}; the drill command passed`
}

/** A drill of the job's newest accepted snapshots: a restore, or the drill command on them. */
export async function runDrill(drill: Drill, docker: () => Promise<Docker>, log: Logger, signal?: AbortSignal): Promise<string> {
  const latest = { snapshot: 'latest', host: drill.host, rejected: drill.rejected }
  return drill.command ? commandDrill(drill, latest, docker, log, signal) : restoreDrill(drill, latest, log)
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
    const restic: Restic = { binary: context.resticBinary, repository: job.repository, retryLock: context.retryLock, bandwidth: context.bandwidth, signal: context.signal }
    const drill: Drill = { job: job.name, host: job.snapshotHost, restic, command: job.drill.command, image: job.drill.image, rejected: job.guard.rejected,
      parts: { files: job.backupFiles ? job.backupPath : undefined, dump: job.dump?.filename },
    }
    return await drillAndReport(drill, localDocker(), context.reporter, context.log, context.signal)
  } finally {
    await release()
  }
}
