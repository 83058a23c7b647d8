import { readFile } from 'node:fs/promises'

/** What STATUS_FILE records of rejected snapshots: of jobs that are gone, and of each job. */
interface Recorded {
  rejectedSnapshots?: string[]
  jobs?: Record<string, { rejectedSnapshots?: string[] }>
}

/** Every snapshot the guard rejected that the table records: of its jobs, and of jobs that are gone. */
export const rejectedIn = (table: Recorded): string[] => [...(table.rejectedSnapshots ?? []), ...Object.values(table.jobs ?? {}).flatMap((status) => status.rejectedSnapshots ?? [])]

/**
 * The rejected snapshots' IDs a STATUS_FILE that is not JSON (cut short by a full disk, edited by
 * hand) still holds: every full ID in its "rejectedSnapshots" lists, up to where it breaks. On an
 * append-only server, where the guard cannot tag a snapshot, this table is their only record; lost,
 * "latest" could become a snapshot the guard refused.
 */
export function salvageRejected(text: string): string[] {
  const lists = text.split(/"rejectedSnapshots"\s*:\s*\[/).slice(1)
  return [...new Set(lists.flatMap((list) => [...list.split(']')[0]!.matchAll(/"([0-9a-f]{64})"/g)].map((match) => match[1]!)))]
}

/** The snapshots the guard rejected, as REJECTED_SNAPSHOTS and STATUS_FILE record them: never "latest". */
export async function rejectedSnapshots(config: { statusFile?: string; rejectedSnapshots: readonly string[] }): Promise<string[]> {
  return [...config.rejectedSnapshots, ...(config.statusFile ? await recordedIn(config.statusFile) : [])]
}

async function recordedIn(file: string): Promise<string[]> {
  // A file that cannot be read now (missing, EACCES) records none, as before: a restore by ID never needs it.
  const text = await readFile(file, 'utf8').catch(() => undefined)
  if (text === undefined) return []
  try {
    return rejectedIn(JSON.parse(text) as Recorded)
  } catch {
    return salvageRejected(text)
  }
}
