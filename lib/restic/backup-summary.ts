/** restic backup --json's closing message. */
export interface BackupSummary {
  snapshot_id?: string
  files_new: number
  files_changed: number
  files_unmodified: number
  data_added: number
  total_files_processed: number
  total_bytes_processed: number
  total_duration: number
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`
}

/** One line for the log: what a backup saved. */
export function describeSummary(summary: BackupSummary): string {
  return (
    `snapshot ${summary.snapshot_id?.slice(0, 8)} saved: ${summary.total_files_processed} files ` +
    `(${summary.files_new} new, ${summary.files_changed} changed), ${formatBytes(summary.total_bytes_processed)} processed, ` +
    `${formatBytes(summary.data_added)} added, in ${summary.total_duration.toFixed(1)} s`
  )
}
