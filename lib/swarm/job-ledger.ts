import { appendFile, mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import type Docker from 'dockerode'

/**
 * The start of every job service's name, which is also its container's host name: restic records
 * it in its locks, so that a lock's owner can be traced to a job.
 */
export const JOB_HOSTNAME_PREFIX = 'rds-job-'
// How many ended jobs are remembered: far more than run between two checks of a repository.
const ENDED_KEPT = 1000

/**
 * The book of the controller's job services: the Swarm they belong to (its ID is in each job's
 * name, so that two Swarms sharing a repository never judge each other's locks), and which jobs
 * are known to have ended, their task seen in a final state on a node that reported it. The ended
 * ones are kept in a file (in LOCK_DIR) that the controller and an `rds backup --service` beside
 * it share: either may have run the job whose lock the other finds.
 */
export class JobLedger {
  /** The start of this Swarm's job names: rds-job-<first 8 characters of the Swarm's ID>-. */
  readonly prefix: string

  constructor(
    swarmId: string,
    private readonly endedFile: string,
  ) {
    this.prefix = `${JOB_HOSTNAME_PREFIX}${swarmId.toLowerCase().replace(/[^a-z0-9]/g, '').slice(0, 8)}-`
  }

  /** The Swarm's ID, from the manager the controller talks to. */
  static async of(docker: Docker, endedFile: string): Promise<JobLedger> {
    const info = (await docker.info()) as { Swarm?: { Cluster?: { ID?: string } } }
    const id = info.Swarm?.Cluster?.ID
    if (!id) throw new Error('the Docker engine reports no Swarm cluster ID; is it a Swarm manager?')
    return new JobLedger(id, endedFile)
  }

  /** A new job service's name (and host name) for a job: at most 63 letters, digits and dashes. */
  serviceName(jobName: string): string {
    const slug = jobName.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 32)
    return `${this.prefix}${slug}-${Date.now().toString(36)}`
  }

  /** Whether a host name is one of this Swarm's jobs. */
  ours(hostname: string): boolean {
    return hostname.startsWith(this.prefix)
  }

  /** Records that a job's task ended (its final state), before its service is removed. */
  async recordEnded(serviceName: string, state: string): Promise<void> {
    await mkdir(dirname(this.endedFile), { recursive: true })
    // One short line, appended in one write: processes that record at once do not mix their lines.
    await appendFile(this.endedFile, `${serviceName} ${state}\n`)
    const lines = await this.lines()
    if (lines.length <= 2 * ENDED_KEPT) return
    const partial = `${this.endedFile}.${process.pid}.partial`
    await writeFile(partial, `${lines.slice(-ENDED_KEPT).join('\n')}\n`)
    await rename(partial, this.endedFile)
  }

  /** The final state a job's task was seen in, if it was seen to end. */
  async endedAs(serviceName: string): Promise<string | undefined> {
    const line = (await this.lines()).reverse().find((candidate) => candidate.startsWith(`${serviceName} `))
    return line?.slice(serviceName.length + 1)
  }

  private async lines(): Promise<string[]> {
    const text = await readFile(this.endedFile, 'utf8').catch((error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? '' : Promise.reject(error)))
    return text.split('\n').filter(Boolean)
  }
}
