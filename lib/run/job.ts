import type { Config, Retention } from '../config/environment.js'
import type { Repository } from '../restic/repository.js'
import type { Dump } from '../dumps/presets.js'
import { spreadSchedule } from '../config/spread-schedule.js'

/**
 * One backup job: what to back up, where to, when, and which hooks run around it. The agent's
 * environment describes one job; the pipeline in run/run.ts runs any.
 */
export interface Job {
  name: string
  backupPath: string
  repository: Repository
  schedule?: string
  /** OVERDUE_AFTER in ms, when set: how long the job may go without a success. */
  overdueAfter?: number
  /** The --host recorded in snapshots; stable, unlike a container's hostname. */
  snapshotHost: string
  backupArgs: string[]
  /** Tags every snapshot of the run gets (rds backup --tag), its files' and its dump's. */
  tags: string[]
  retention: Retention
  hooks: {
    service?: string
    pre?: string
    post?: string
    /** In ms (HOOK_TIMEOUT). */
    timeout: number
  }
  /**
   * What a backup must hold not to be taken for a lost or emptied volume (MIN_FILES, MAX_SHRINK %),
   * the snapshots rejected already, and the folders of backupPath that must each keep files (GUARD_FOLDERS).
   */
  guard: { minFiles: number; maxShrink: number; rejected: string[]; folders: string[] }
  /** In ms: a backup whose progress stands still this long is stopped (STALL_TIMEOUT). */
  stallTimeout: number
  /** When its repository is checked (CHECK_AT), and what share of the data is read then. */
  check?: { schedule: string; readDataSubset?: string }
  /** Its restore drills: when (DRILL_AT), the command run on the restored files (DRILL_COMMAND), and its image (DRILL_IMAGE). */
  drill: { schedule?: string; command?: string; image?: string }
  /** A second repository this job's snapshots are copied to after each complete backup. */
  copyTo?: { url: string; passwordFile: string }
  /** A dump streamed from a container of hooks.service into a snapshot of its own (tagged DUMP_TAG). */
  dump?: Dump
  /** Whether backupPath is backed up (a job with a dump may have only the dump). */
  backupFiles: boolean
  /** "pause": hooks.service's containers on this node are paused while backupPath is backed up. */
  stop: 'none' | 'pause'
  /** "never": a missing repository fails the run (exit 10); the controller decides about repositories. */
  createRepository: 'auto' | 'never'
}

export function jobFromConfig(config: Config, repository: Repository): Job {
  const name = config.serviceName ?? config.snapshotHost
  return {
    name,
    backupPath: config.backupPath,
    repository,
    // H is spread by the snapshots' host: agents of one service on several nodes differ by it.
    schedule: config.runAt && spreadSchedule(config.runAt, config.snapshotHost, 'RUN_AT'),
    overdueAfter: config.overdueAfter,
    snapshotHost: config.snapshotHost,
    backupArgs: config.backupArgs,
    tags: [],
    retention: config.retention,
    hooks: { service: config.serviceName, pre: config.preHook, post: config.postHook, timeout: config.hookTimeout },
    guard: { minFiles: config.minFiles, maxShrink: config.maxShrink, rejected: config.rejectedSnapshots, folders: config.guardFolders },
    stallTimeout: config.stallTimeout,
    copyTo: config.copyTo,
    drill: { schedule: config.drill.at, command: config.drill.command, image: config.drill.image },
    check: config.checkAt ? { schedule: config.checkAt, readDataSubset: config.checkReadDataSubset } : undefined,
    dump: config.dump,
    backupFiles: config.backupFiles,
    stop: config.stopDuringBackup,
    createRepository: config.createRepository,
  }
}
