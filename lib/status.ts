import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import type { RunResult } from './backup-run.js'

/** The outcome of the last run, kept in STATUS_FILE for `rds health` (the image's health check). */
export interface RunStatus {
  ok: boolean
  exitCode: number
  finishedAt: string
  message?: string
  snapshotId?: string
}

export function statusOf(result: RunResult, now = new Date()): RunStatus {
  return {
    ok: result.exitCode === 0,
    exitCode: result.exitCode,
    finishedAt: now.toISOString(),
    message: result.error?.message,
    snapshotId: result.summary?.snapshot_id,
  }
}

/** Written to a temporary file and renamed, so that a reader never sees half a status. */
export async function writeStatus(file: string, status: RunStatus): Promise<void> {
  await mkdir(dirname(file), { recursive: true })
  const partial = `${file}.${process.pid}.tmp`
  await writeFile(partial, `${JSON.stringify(status)}\n`)
  await rename(partial, file)
}

/** The last run's status, or undefined when no run has finished yet. */
export async function readStatus(file: string): Promise<RunStatus | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as RunStatus
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
}
