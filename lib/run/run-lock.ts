import { createHash } from 'node:crypto'
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { hostname } from 'node:os'
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
  /** Where the process runs: its pid means something only there. */
  hostname?: string
}

/** Whether the owner is a process of this host that no longer exists (killed, even by SIGKILL). */
function isDeadHere(owner: LockOwner | undefined): owner is LockOwner {
  if (!owner || owner.hostname !== hostname()) return false
  try {
    process.kill(owner.pid, 0)
    return false
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH'
  }
}

const readOwner = (file: string) => readFile(file, 'utf8').then((text) => JSON.parse(text) as LockOwner).catch(() => undefined)

/** The run lock of a job of the whole-Swarm controller: what its runs, and the restores that hold them, take. */
export const swarmJobLock = (lockDir: string, job: string, log: Logger) => takeRunLock(lockDir, `swarm\n${job}`, job, log)

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
  const lock = () =>
    lockfile.lock(target, {
      realpath: false,
      lockfilePath: `${target}.lock`,
      stale: staleMs,
      update: Math.min(UPDATE_MS, staleMs / 2),
      retries: 0,
      onCompromised: (error) => log.warn(`run lock: ${error.message}; another run of ${jobName} may now start beside this one.`),
    })
  const own = () => writeFile(ownerFile, JSON.stringify({ pid: process.pid, since: new Date().toISOString(), hostname: hostname() } satisfies LockOwner), { mode: 0o600 })
  let release: () => Promise<void>
  try {
    release = await lock()
    await own()
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ELOCKED') throw error
    const owner = await readOwner(ownerFile)
    const taken = isDeadHere(owner) ? await takeOver(target, ownerFile, owner, lock, own) : undefined
    if (!taken) {
      // A takeover that found another run already there names that run.
      const holder = isDeadHere(owner) ? await readOwner(ownerFile) : owner
      const who = holder ? ` (process ${holder.pid}, since ${holder.since})` : ''
      throw new RunError(`another run of ${jobName} is in progress${who}; this one was not started: wait for it to finish.`, EXIT.locked)
    }
    log.warn(`run lock: taken over from process ${owner!.pid}, which held it since ${owner!.since} and is gone (killed)`)
    release = taken
  }
  return async () => {
    await rm(ownerFile, { force: true })
    await release().catch((error: Error) => log.warn(`run lock: could not be released (${error.message}); it is taken over ${staleMs / 1000} s from now.`))
  }
}

/**
 * Takes the lock of a holder that is dead, at once rather than once the lock is stale. Takeovers
 * are one at a time (a lock of their own), and each looks at the owner again inside it: of two
 * runs that found the same dead holder, the second finds the first's lock and does not remove it.
 */
async function takeOver(target: string, ownerFile: string, dead: LockOwner, lock: () => Promise<() => Promise<void>>, own: () => Promise<void>): Promise<(() => Promise<void>) | undefined> {
  let releaseTakeover: () => Promise<void>
  try {
    releaseTakeover = await lockfile.lock(`${target}.takeover`, { realpath: false, stale: STALE_MS, retries: { retries: 20, minTimeout: 50, maxTimeout: 500 } })
  } catch {
    return undefined
  }
  try {
    const owner = await readOwner(ownerFile)
    if (owner?.pid !== dead.pid || owner.since !== dead.since) return undefined
    // The lock must be the dead holder's own, made before it wrote that it holds it: a run that took
    // it meanwhile as stale, and has not written its owner yet, made a newer one.
    const made = (await stat(`${target}.lock`).catch(() => undefined))?.birthtimeMs
    if (!made || made > Date.parse(dead.since)) return undefined
    await rm(`${target}.lock`, { recursive: true, force: true })
    const release = await lock()
    await own()
    return release
  } catch {
    return undefined
  } finally {
    await releaseTakeover().catch(() => undefined)
  }
}
