import type { NodeVolumes, UnsurveyedNode } from './volume-survey.js'
import type { SwarmJob } from './discover.js'

export type CoverageStatus = 'covered' | 'excluded' | 'NOT COVERED' | 'unused' | 'NOT SURVEYED'

/** One volume on one node, and whether a backup covers it; or a node whose volumes are unknown (NOT SURVEYED, volume empty). */
export interface CoverageRow {
  node: string
  volume: string
  status: CoverageStatus
  /** The services whose containers mount it. */
  services: string[]
  /** The job that backs it up, when covered. */
  job?: string
  /** When the job's newest snapshot was taken, when there is one. */
  lastSnapshot?: string
  /** When its service's definition (and its stack's) was last saved with a backup: what rds stack restore needs. */
  lastDefinition?: string
  /** Its off-site copies (rds.backup.copy-to): when the newest snapshot there was taken, and whether the last copy failed. */
  copies?: { destination: string; newest?: string; failed?: boolean }[]
  /** Whether the last rehearsal of its stack passed (rds rehearse), if one ran. */
  rehearsal?: 'passed' | 'FAILED'
  /** Worth a look: an anonymous volume (its name changes with its container), one on several nodes, a bad label. */
  flags: string[]
}

// Docker names an anonymous volume with 64 hexadecimal digits.
const ANONYMOUS = /^[0-9a-f]{64}$/

/**
 * Every volume on every node, marked covered (a job backs it up, or dumps its service, on that node), excluded (its
 * service is labelled but rds.backup.volumes leaves it out, or every service using it says
 * rds.backup=false: `optedOut`), NOT COVERED (a container uses it and nothing backs it up) or
 * unused. `lastSnapshots` gives each job's newest snapshot time by its host. Each node that was not
 * surveyed is a row NOT SURVEYED, with why.
 */
export function computeCoverage(surveys: NodeVolumes[], jobs: SwarmJob[], lastSnapshots: Map<string, string>, optedOut: Set<string> = new Set(), unsurveyed: UnsurveyedNode[] = []): CoverageRow[] {
  const nodesOf = new Map<string, Set<string>>()
  for (const survey of surveys) for (const volume of survey.volumes) nodesOf.set(volume.name, (nodesOf.get(volume.name) ?? new Set()).add(survey.node))
  // A node that is down may be lost for good: what brings its services back elsewhere.
  const unknown = unsurveyed.map((node): CoverageRow => ({ node: node.node, volume: '', status: 'NOT SURVEYED', services: [], flags: [node.why, ...(/^it is (down|unknown|disconnected)/.test(node.why) ? [`if it is lost: rds recover --node ${node.node}`] : [])] }))
  return surveys.flatMap((survey) =>
    survey.volumes.map((volume): CoverageRow => {
      const services = [...new Set(volume.usedBy.flatMap((user) => (user.service ? [user.service] : [])))].sort()
      const inUse = volume.usedBy.some((user) => user.running || user.service !== undefined)
      const labelled = jobs.filter((job) => services.includes(job.service))
      const backsUp = (job: SwarmJob) => job.backup?.volumes.some((backed) => backed.source === volume.name)
      // A service's dump (rds.backup.dump) is the backup of the database whose files it leaves out.
      const covering = labelled.find((job) => (backsUp(job) || job.backup?.dump) && (survey.nodeId ? job.node?.nodeId === survey.nodeId : job.node?.nodeName === survey.node))
      const flags: string[] = []
      if (covering && !backsUp(covering)) flags.push('by its dump')
      if (covering?.unavailable) flags.push(`its job cannot run now: ${covering.unavailable}`)
      if (ANONYMOUS.test(volume.name)) flags.push('anonymous')
      const elsewhere = nodesOf.get(volume.name)?.size ?? 1
      if (elsewhere > 1) flags.push(`on ${elsewhere} nodes`)
      for (const job of labelled) if (job.error) flags.push(`label error: ${job.error}`)
      const status: CoverageStatus = covering
        ? 'covered'
        : labelled.some((job) => job.backup && !job.backup.dump && !backsUp(job)) || (services.length > 0 && services.every((service) => optedOut.has(service)))
          ? 'excluded'
          : inUse
            ? 'NOT COVERED'
            : 'unused'
      return { node: survey.node, volume: volume.name, status, services, job: covering?.name, lastSnapshot: covering ? lastSnapshots.get(covering.name) : undefined, flags }
    }),
  ).concat(unknown)
}
