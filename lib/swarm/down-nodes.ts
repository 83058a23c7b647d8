import type { SwarmNode } from './cluster.js'
import type { SwarmJob } from './discover.js'
import type { Logger } from '../observe/log.js'
import type { Reporter } from '../observe/reporter.js'
import { outcomeOf } from '../observe/outcome.js'

/** Whether a failure's sentence says that this node went down, or was down (as discover and job-task word it). */
const failedThere = (node: string, message = '') => message.includes(`node ${node} went down`) || message.includes(`node ${node} is down`)

/**
 * A node that goes down is a warning and a failure of each job whose data is on it, at once
 * (notified as any failure), not when a backup of it next falls due. Each going down is told once.
 */
export class DownNodes {
  /** The nodes last seen down; undefined before the first discovery. */
  private down?: Set<string>

  constructor(
    private readonly log: Logger,
    private readonly reporter: Reporter,
  ) {}

  async notice(nodes: SwarmNode[], jobs: SwarmJob[]): Promise<void> {
    const down = new Set(nodes.filter((node) => node.state === 'down').map((node) => node.id))
    const atStart = this.down === undefined
    const newlyDown = nodes.filter((node) => down.has(node.id) && !this.down?.has(node.id))
    this.down = down
    for (const node of newlyDown) {
      let names = [...new Set(jobs.filter((job) => job.backup && job.node?.nodeId === node.id).map((job) => job.name))].sort()
      // Down before this controller started: told already of the jobs whose last attempt failed there.
      if (atStart) names = (await Promise.all(names.map(async (name) => (failedThere(node.name, (await this.reporter.status(name))?.lastAttempt?.message) ? [] : [name])))).flat()
      if (names.length === 0) continue
      const message = `node ${node.name} went down: the data of ${names.join(', ')} on it cannot be backed up until the node is back.`
      this.log.warn(`controller: ${message}`)
      const now = new Date()
      for (const name of names) await this.reporter.finished({ job: name, kind: 'backup', outcome: outcomeOf(now, now, false, message, 1) })
    }
  }
}
