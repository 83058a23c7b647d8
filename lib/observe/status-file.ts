import { copyFile, link, mkdir, open, readFile, rename, rm } from 'node:fs/promises'
import { dirname } from 'node:path'
import lockfile from 'proper-lockfile'
import { rejectedIn } from './rejected.js'
import { salvagedTable } from './salvage.js'
import { LEGACY_JOB, type StatusTable } from './status.js'
import { RunError } from '../errors.js'

/** STATUS_FILE's text; undefined when nothing has been recorded yet. */
async function readText(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
}

/** The table the text holds; a SyntaxError for one that is damaged. */
function parseTable(text: string | undefined): StatusTable {
  if (text === undefined) return { jobs: {} }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    // JSON.parse's own words quote the text near the fault, over several lines: the runs' logs in
    // it may hold what hooks printed.
    throw new SyntaxError('it is not JSON')
  }
  // JSON, but no table (null, a number, a list): as damaged as text that is not JSON.
  if (!isObject(parsed)) throw new SyntaxError('it holds no table')
  if (!('jobs' in parsed)) return fromLegacy(parsed as LegacyStatus & Omit<StatusTable, 'jobs'>)
  // A table whose jobs are not a table (null, a list) would take changes that are never written.
  if (!isObject(parsed.jobs)) throw new SyntaxError('its "jobs" is not a table')
  return parsed as unknown as StatusTable
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value)

/** The table, or an empty one when nothing has been recorded yet. */
export async function readStatus(file: string): Promise<StatusTable> {
  return parseTable(await readText(file))
}

/** STATUS_FILE as versions before the status table wrote it: one job, unnamed. */
interface LegacyStatus {
  lastSnapshot?: { id: string; savedAt: string; repository: string }
}

/**
 * The one thing of an old status that matters is the last snapshot (the vanished-repository guard);
 * what the table keeps besides its jobs is carried too, for a table whose "jobs" was lost by hand.
 */
function fromLegacy(legacy: LegacyStatus & Omit<StatusTable, 'jobs'>): StatusTable {
  const saved = legacy.lastSnapshot
  const { rejectedSnapshots, copiedInto, forgottenJobs } = legacy
  return {
    jobs: saved ? { [LEGACY_JOB]: { watchedSince: saved.savedAt, lastSnapshot: { id: saved.id, time: saved.savedAt, repository: saved.repository } } } : {},
    ...(rejectedSnapshots && { rejectedSnapshots }),
    ...(copiedInto && { copiedInto }),
    ...(forgottenJobs && { forgottenJobs }),
  }
}

let writes = 0

/**
 * A table that cannot be read (edited by hand, damaged on the disk) is never overwritten: it is kept
 * aside for a person to mend, and a new table starts from what can still be read of it (salvagedTable:
 * the guard's verdicts, which "latest" must never become, each job's last snapshot). The update is
 * made on the new table and fails saying so.
 */
async function setAside(file: string, text: string, error: Error): Promise<{ table: StatusTable; said: string }> {
  const aside = `${file}.unreadable-${new Date().toISOString().replace(/[:.]/g, '-')}`
  const { table, lostSnapshots } = salvagedTable(text)
  // A second name for it, then the new table renamed over the first: at no moment is neither there,
  // and no space is needed. A file system without hard links gets a copy.
  await link(file, aside).catch(() => copyFile(file, aside))
  const count = new Set(rejectedIn(table)).size
  const kept = `${Object.keys(table.jobs).length} job(s)${count > 0 ? `, with the ${count} rejected snapshot(s) it still shows` : ''}`
  // Without its last snapshot, a job's repository that vanishes would be started afresh: said loudest.
  const lost = lostSnapshots > 0 ? `; the last snapshot of ${lostSnapshots} job(s) could not be read: until their next backup, a repository of theirs that vanished would be started afresh` : ''
  // Written before the change is made: a change that throws leaves the verdicts kept all the same.
  // Where it cannot be written, the damaged table is still in place: no second name is left for it.
  await writeWhole(file, table).catch(async (error: Error) => {
    await rm(aside, { force: true })
    throw error
  })
  return { table, said: `STATUS_FILE ${file} could not be read (${error.message}); it was kept as ${aside} and a new one is started from what could still be read of it (${kept})${lost}; what could not be read is only in the file kept` }
}

/** An update that found STATUS_FILE damaged, and said so; `table` is the new one, when the change was made on it and written. */
export class StatusSetAside extends Error {
  constructor(
    message: string,
    readonly table?: StatusTable,
  ) {
    super(message)
  }
}

/** The table; of one that is not JSON (until the next update sets it aside), what can still be read of it. */
export async function readStatusOrSalvage(file: string): Promise<StatusTable> {
  const text = await readText(file)
  try {
    return parseTable(text)
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error
    return salvagedTable(text!).table
  }
}

/**
 * The table, or of one that is not JSON the verdicts it shows; a file that cannot be read now
 * (EACCES, EIO) fails, saying so: its verdicts are never taken for none.
 */
export async function readVerdicts(file: string): Promise<StatusTable> {
  return readStatusOrSalvage(file).catch((error: Error) => {
    throw new RunError(`STATUS_FILE ${file} cannot be read (${error.message}); it records the snapshots the guard rejected, which no backup may be compared with nor restored as "latest": make it readable again.`)
  })
}

/** The snapshots the guard rejected, as REJECTED_SNAPSHOTS and STATUS_FILE record them: never "latest". */
export async function rejectedSnapshots(config: { statusFile?: string; rejectedSnapshots: readonly string[] }): Promise<string[]> {
  const recorded = config.statusFile ? await readVerdicts(config.statusFile) : { jobs: {} }
  return [...config.rejectedSnapshots, ...rejectedIn(recorded)]
}

/** Written aside, flushed to the disk and renamed: a reader never sees half of it, nor a crash an empty one. */
async function writeWhole(file: string, table: StatusTable): Promise<void> {
  const partial = `${file}.${process.pid}.${++writes}.partial`
  try {
    // The runs' logs hold what hooks printed: the owner's alone to read.
    const handle = await open(partial, 'w', 0o600)
    try {
      await handle.writeFile(`${JSON.stringify(table, null, 2)}\n`)
      await handle.sync()
    } finally {
      await handle.close()
    }
    await rename(partial, file)
  } catch (error) {
    await rm(partial, { force: true })
    throw error
  }
}

/** The table; one that is not JSON is set aside, and the new one given with what to say of it. */
async function tableToUpdate(file: string): Promise<{ table: StatusTable; said?: string }> {
  const text = await readText(file)
  try {
    return { table: parseTable(text) }
  } catch (error) {
    // Only a table that is not JSON is set aside; a file that cannot be read now (EACCES, EIO) fails this update alone.
    if (!(error instanceof SyntaxError)) throw error
    return setAside(file, text!, error)
  }
}

/**
 * Reads the table, lets `change` edit it, and writes it back whole (a reader never sees half of
 * it), under a lock that every process writing STATUS_FILE shares: the agent, and an `rds backup`
 * started beside it with docker exec, each change their own job's entry.
 */
export async function updateStatus(file: string, change: (table: StatusTable) => void): Promise<StatusTable> {
  await mkdir(dirname(file), { recursive: true })
  const release = await lockfile.lock(file, { realpath: false, lockfilePath: `${file}.lock`, stale: 10_000, retries: { retries: 50, minTimeout: 20, maxTimeout: 200 } })
  try {
    const { table, said } = await tableToUpdate(file)
    delete table.jobs[LEGACY_JOB]
    try {
      change(table)
    } catch (error) {
      // What the person must hear first is that the table was damaged.
      throw said === undefined ? error : new StatusSetAside(said)
    }
    await writeWhole(file, table)
    if (said !== undefined) throw new StatusSetAside(said, table)
    return table
  } finally {
    await release()
  }
}
