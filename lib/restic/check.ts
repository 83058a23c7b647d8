import type { Logger } from '../observe/log.js'
import { runRestic, type Restic } from './command.js'
import { resticJson } from './snapshots.js'

/**
 * `restic check`, reading `readDataSubset` of the data too (CHECK_READ_DATA_SUBSET: "5%" reads a
 * different twentieth each time), then the repository's size on the server. A repository with
 * errors is a RunError that quotes restic.
 */
export async function checkRepository(restic: Restic, readDataSubset: string | undefined, log: Logger): Promise<{ sizeBytes?: number }> {
  await runRestic(restic, ['check', ...(readDataSubset ? ['--read-data-subset', readDataSubset] : [])], { log })
  const [stats] = await resticJson<{ total_size?: number }>(restic, ['stats', '--mode', 'raw-data', '--json', '--no-lock'], log)
  return { sizeBytes: stats?.total_size }
}
