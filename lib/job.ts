import type { Config, Retention } from './config.js'
import type { Repository } from './repository.js'

/**
 * One backup job: what to back up, where to, when, and which hooks run around it. The agent's
 * environment describes one job; the pipeline in backup-run.ts runs any.
 */
export interface Job {
  name: string
  backupPath: string
  repository: Repository
  schedule?: string
  /** The --host recorded in snapshots; stable, unlike a container's hostname. */
  snapshotHost: string
  backupArgs: string[]
  retention: Retention
  hooks: {
    service?: string
    pre?: string
    post?: string
  }
  /** A second repository this job's snapshots are copied to after each complete backup. */
  copyTo?: { url: string; passwordFile: string }
}

export function jobFromConfig(config: Config, repository: Repository): Job {
  return {
    name: config.serviceName ?? config.snapshotHost,
    backupPath: config.backupPath,
    repository,
    schedule: config.runAt,
    snapshotHost: config.snapshotHost,
    backupArgs: config.backupArgs,
    retention: config.retention,
    hooks: { service: config.serviceName, pre: config.preHook, post: config.postHook },
    copyTo: config.copyTo,
  }
}
