import { lstat, readdir, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { formatBytes } from '../restic/backup-summary.js'
import { RunError } from '../errors.js'
import type { Logger } from '../observe/log.js'
import type { Reporter } from '../observe/reporter.js'
import { checkRepository } from '../restic/check.js'
import { runRestic, type Restic } from '../restic/command.js'
import { unlockStale } from '../restic/locks.js'
import { urlRepository } from '../restic/repository.js'
import { describeRetention, forgetRejected, GROUP_BY, keepArgs } from '../restic/retention.js'
import { resticJson } from '../restic/snapshots.js'
import type { MaintainedRepository } from './maintenance-file.js'

/** restic's SFTP backend uploads into "<name>-restic-temp-<random>" and renames; a killed upload leaves it. */
const ABANDONED_UPLOAD = /-restic-temp-/
/** An upload untouched for a day is abandoned: no live restic takes that long over one file. */
export const ABANDONED_AFTER_MS = 24 * 60 * 60_000

export interface MaintenanceContext {
  resticBinary: string
  /** The directory the repositories are in (/home/restic). */
  repositoriesDir: string
  /** restic runs as this user: the repositories' owner, so that the files it writes stay theirs. */
  user?: { uid: number; gid: number }
  log: Logger
  reporter: Reporter
  signal?: AbortSignal
  /** For the tests: what counts as "now" for abandoned uploads. */
  now?: () => number
}

/** The job name a repository's maintenance is recorded under, in STATUS_FILE and notifications. */
export const maintenanceJob = (repository: string) => `maintenance ${repository}`

/**
 * Removes restic's abandoned upload files (older than a day) under a repository: neither check
 * nor prune reports or removes them, and interrupted runs leave many. Resolves to how many and their size.
 */
export async function removeAbandonedUploads(dir: string, now = Date.now()): Promise<{ files: number; bytes: number }> {
  const removed = { files: 0, bytes: 0 }
  // A repository that is not there has nothing abandoned: the other steps say it is missing.
  const entries = await readdir(dir, { withFileTypes: true, recursive: true }).catch((error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? [] : Promise.reject(error)))
  for (const entry of entries) {
    if (!entry.isFile() || !ABANDONED_UPLOAD.test(entry.name)) continue
    const path = join(entry.parentPath ?? entry.path, entry.name)
    const stats = await lstat(path)
    if (now - stats.mtimeMs < ABANDONED_AFTER_MS) continue
    await unlink(path)
    removed.files++
    removed.bytes += stats.size
  }
  return removed
}

const countSnapshots = async (restic: Restic, log: Logger) => (await resticJson<unknown>(restic, ['snapshots', '--json', '--no-lock'], log)).length

/**
 * One repository's maintenance: forget by its policy and prune, check, remove abandoned uploads.
 * Each step runs even when one before it failed (a policy refused still leaves the repository to
 * check); the run fails if any step did. Reported like a backup: STATUS_FILE, notifications.
 */
export async function maintainRepository(repository: MaintainedRepository, context: MaintenanceContext): Promise<boolean> {
  const { log, reporter } = context
  const job = maintenanceJob(repository.name)
  const path = join(context.repositoriesDir, repository.name)
  const restic: Restic = {
    binary: context.resticBinary,
    repository: urlRepository(path, repository.passwordFile),
    // An agent's backup holds a lock for as long as it runs: wait for it rather than fail.
    retryLock: '30m',
    signal: context.signal,
    user: context.user,
  }
  const startedAt = new Date()
  await reporter.started(job, 'maintenance')
  const done: string[] = []
  const failures: string[] = []
  const step = async (what: string, run: () => Promise<string | undefined>) => {
    try {
      const result = await run()
      if (result !== undefined) done.push(result)
    } catch (error) {
      failures.push(`${what}: ${(error as Error).message}`)
      log.error(`${job}: ${what} failed: ${(error as Error).message}`)
    }
  }
  log.info(`${job}: policy ${describeRetention(repository.retention)}`)
  // A backup killed on its node leaves its lock, which would hold prune and check off: restic's own
  // rule (not refreshed for 30 minutes) says which are dead. A live backup's lock is waited for.
  await step('stale locks', async () => {
    await unlockStale(restic, log)
    return undefined
  })
  if (keepArgs(repository.retention).length > 0) {
    await step('forget and prune', async () => {
      // The server knows the rejections by their tag (on a copy, when an append-only client tagged them).
      const { heldHosts: held, listed } = await forgetRejected(restic, log)
      const before = listed.length
      // A host's rejected snapshots are forgotten only after an accepted one: no host is gone with them.
      const hosts = listed.map((snapshot) => snapshot.hostname).filter((host) => !held.includes(host))
      if (held.length > 0) log.warn(`${job}: no retention for ${held.join(', ')}: the newest snapshot the guard saw there was rejected (a lost or emptied volume); it runs again after an accepted backup`)
      const retained = [...new Set(hosts)].sort()
      await runRestic(restic, retained.length > 0 ? ['forget', ...retained.flatMap((host) => ['--host', host]), ...GROUP_BY, ...keepArgs(repository.retention), '--prune'] : ['prune'], { log })
      const after = await countSnapshots(restic, log)
      const message = `forgot ${before - after} of ${before} snapshots and pruned${held.length > 0 ? `; retention held back for ${held.join(', ')} (a rejected newest snapshot)` : ''}`
      log.info(`${job}: ${message}`)
      return message
    })
  }
  let sizeBytes: number | undefined
  await step('check', async () => {
    ;({ sizeBytes } = await checkRepository(restic, repository.readDataSubset, log))
    const message = `checked${repository.readDataSubset ? ` (reading ${repository.readDataSubset} of the data)` : ''}: no errors`
    log.info(`${job}: ${message}`)
    return message
  })
  await step('abandoned uploads', async () => {
    const removed = await removeAbandonedUploads(path, context.now?.())
    const message = removed.files === 0 ? 'no abandoned uploads' : `removed ${removed.files} abandoned uploads (${formatBytes(removed.bytes)})`
    log.info(`${job}: ${message}`)
    return message
  })
  const finishedAt = new Date()
  const ok = failures.length === 0
  await reporter.finished({
    job,
    kind: 'maintenance',
    outcome: {
      startedAt: startedAt.toISOString(),
      finishedAt: finishedAt.toISOString(),
      ok,
      exitCode: ok ? 0 : 1,
      message: ok ? done.join('; ') : failures.join('; '),
      durationSeconds: Math.round((finishedAt.getTime() - startedAt.getTime()) / 100) / 10,
    },
  })
  if (sizeBytes !== undefined) log.info(`${job}: ${formatBytes(sizeBytes)} on disk`)
  return ok
}

/** Every repository in turn, each whatever became of the others; then a RunError names those that failed. */
export async function maintainAll(repositories: MaintainedRepository[], context: MaintenanceContext): Promise<void> {
  const failed: string[] = []
  for (const repository of repositories) {
    if (context.signal?.aborted) break
    if (!(await maintainRepository(repository, context))) failed.push(repository.name)
  }
  if (failed.length > 0) throw new RunError(`the maintenance of ${failed.join(', ')} failed (see the errors above).`)
}
