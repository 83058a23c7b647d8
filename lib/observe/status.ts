import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import type { RunResult } from '../jobs/run.js'

/**
 * What STATUS_FILE keeps for `rds health` (the image's health check): the outcome of the last run
 * that finished, a run in progress, and the last snapshot saved, which outlives failed runs.
 */
export interface RunStatus {
  ok?: boolean
  exitCode?: number
  finishedAt?: string
  message?: string
  snapshotId?: string
  /** Present while a run is going. */
  running?: { since: string; pid: number }
  /** The last snapshot a run saved, and where: a repository that later vanishes is then noticed. */
  lastSnapshot?: { id: string; savedAt: string; repository: string }
}

export function statusOf(result: RunResult, previous: RunStatus | undefined, repository: string, now = new Date()): RunStatus {
  const snapshotId = result.summary?.snapshot_id
  return {
    ok: result.exitCode === 0,
    exitCode: result.exitCode,
    finishedAt: now.toISOString(),
    message: result.error?.message,
    snapshotId,
    lastSnapshot: snapshotId ? { id: snapshotId, savedAt: now.toISOString(), repository } : previous?.lastSnapshot,
  }
}

/** Written to a temporary file and renamed, so that a reader never sees half a status. */
export async function writeStatus(file: string, status: RunStatus): Promise<void> {
  await mkdir(dirname(file), { recursive: true })
  const partial = `${file}.${process.pid}.tmp`
  await writeFile(partial, `${JSON.stringify(status)}\n`)
  await rename(partial, file)
}

/** The status, or undefined when no run has started yet. */
export async function readStatus(file: string): Promise<RunStatus | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as RunStatus
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
}
