/** The longest line read for a key (a service's name) that opens an object: a longer one is none, and would cost a regex dearly. */
export const MAX_KEY_LINE = 4096

/** What STATUS_FILE records of rejected snapshots: of jobs that are gone, and of each job. */
interface Recorded {
  rejectedSnapshots?: string[]
  jobs?: Record<string, { rejectedSnapshots?: string[] }>
}

/** Every snapshot the guard rejected that the table records: of its jobs, and of jobs that are gone. */
export const rejectedIn = (table: Recorded): string[] => [...(table.rejectedSnapshots ?? []), ...Object.values(table.jobs ?? {}).flatMap((status) => status.rejectedSnapshots ?? [])]

/**
 * The guard's verdicts a STATUS_FILE that is not JSON (edited by hand, damaged by a crash) still
 * shows, each under its job: where the guard could not tag a snapshot (the server refused even the
 * tagged copy), the table is their only record, and "latest" must never become one of them. Read
 * line by line as updateStatus writes the table (two spaces a level, an ID a line): a list ends at
 * the first line that is not a whole ID, so nothing after a damaged list is taken for a verdict. A
 * table laid out otherwise (by hand) gives its lists' IDs to no job in particular.
 */
export function salvageRejected(text: string): { jobs: Record<string, string[]>; gone: string[] } {
  const jobs = new Map<string, string[]>()
  const gone: string[] = []
  // The job whose lines these are: null where that cannot be told (its key damaged, or its end passed).
  let job: string | null = null
  let list: string[] | undefined
  for (const line of text.split(/\r?\n/)) {
    // A quote lost from an ID's line, or a colon from a list's key, loses no verdict.
    const id = list && /^ *"?([0-9a-f]{64})"?,?$/.exec(line)
    if (id) {
      list!.push(id[1]!)
      continue
    }
    list = undefined
    const entry = line.length <= MAX_KEY_LINE ? /^ {4}("(?:[^"\\]|\\.)*"): \{$/.exec(line) : null
    if (entry) job = jobName(entry[1]!)
    else if (/^ {0,4}\S/.test(line)) job = null
    // A job's list that cannot be told whose is kept under no job: a verdict is never dropped, nor given to another job.
    if (/^ {2}"?rejectedSnapshots"? *:? *\[$/.test(line)) list = gone
    else if (/^ {6}"?rejectedSnapshots"? *:? *\[$/.test(line)) list = job === null ? gone : (jobs.get(job) ?? jobs.set(job, []).get(job))
  }
  if (jobs.size === 0 && gone.length === 0) gone.push(...anyLayout(text))
  return { jobs: Object.fromEntries(jobs), gone }
}

/** A job's name as its key writes it; null for a key damaged past reading. */
function jobName(key: string): string | null {
  try {
    return JSON.parse(key) as string
  } catch {
    return null
  }
}

/** The IDs that open each "rejectedSnapshots" list, up to the first thing in it that is not an ID, whatever the layout. */
function anyLayout(text: string): string[] {
  const lists = text.split(/"rejectedSnapshots"\s*:\s*\[/).slice(1)
  return lists.flatMap((list) => [.../^(?:\s*"[0-9a-f]{64}"\s*,?)*/.exec(list)![0].matchAll(/[0-9a-f]{64}/g)].map((match) => match[0]))
}
