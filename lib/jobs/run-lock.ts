import { createHash } from 'node:crypto'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import lockfile from 'proper-lockfile'
import { EXIT, RunError } from '../errors.js'
import type { Logger } from '../observe/log.js'

// proper-lockfile touches a held lock this often, and takes over one left untouched this long: the
// lock of a process that died (even by SIGKILL) is free again after STALE_MS.
const UPDATE_MS = 5_000
const STALE_MS = 30_000

/** Who holds a run lock, written beside it for the message a second run gets. */
interface LockOwner {
  pid: number
  since: string
}

/**
 * Takes the run lock of one job, shared by every process that can see `lockDir` (the agent and a
 * `docker exec ... rds backup` beside it), and resolves to its release. A lock that is held makes a
 * RunError with exit code 11 that says since when; nothing has been done then.
 */
export async function takeRunLock(lockDir: string, jobKey: string, jobName: string, log: Logger, staleMs = STALE_MS): Promise<() => Promise<void>> {
  await mkdir(lockDir, { recursive: true, mode: 0o700 })
  const name = createHash('sha256').update(jobKey).digest('hex').slice(0, 16)
  const target = join(lockDir, name)
  const ownerFile = join(lockDir, `${name}.owner.json`)
  let release: () => Promise<void>
  try {
    release = await lockfile.lock(target, {
      realpath: false,
      lockfilePath: `${target}.lock`,
      stale: staleMs,
      update: Math.min(UPDATE_MS, staleMs / 2),
      retries: 0,
      onCompromised: (error) => log.warn(`run lock: ${error.message}; another run of ${jobName} may now start beside this one.`),
    })
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ELOCKED') throw error
    const owner = await readFile(ownerFile, 'utf8').then((text) => JSON.parse(text) as LockOwner).catch(() => undefined)
    const who = owner ? ` (process ${owner.pid}, since ${owner.since})` : ''
    throw new RunError(`another run of ${jobName} is in progress${who}; this one was not started: wait for it to finish.`, EXIT.locked)
  }
  const owner: LockOwner = { pid: process.pid, since: new Date().toISOString() }
  await writeFile(ownerFile, JSON.stringify(owner), { mode: 0o600 })
  return async () => {
    await rm(ownerFile, { force: true })
    await release().catch((error: Error) => log.warn(`run lock: could not be released (${error.message}); it is taken over ${staleMs / 1000} s from now.`))
  }
}
