import { statfs } from 'node:fs/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import type Docker from 'dockerode'
import type { Logger } from '../observe/log.js'
import { CACHE_DIR, createJobService, DOCKER_SOCKET, type JobTemplate } from './job-service.js'
import { serviceOutput } from './job-log.js'
import { FINAL_STATES } from './job-task.js'
import { JOB_LABEL, nameNodes } from './cluster.js'

/** A container that mounts a volume: a Swarm task's (with its service) or a plain one. */
export interface VolumeUser {
  container: string
  service?: string
  running: boolean
}

/** The volumes of one node, with the containers that mount each. */
export interface NodeVolumes {
  node: string
  /** Its Swarm node ID: how jobs name their node. */
  nodeId?: string
  /** Bytes free where its Docker keeps volumes (see surveyLocalVolumes); unknown from an older survey. */
  free?: number
  volumes: { name: string; driver: string; usedBy: VolumeUser[] }[]
}

// What a survey prints on stdout, one line: a marker so that nothing else in the output is taken for it.
const SURVEY_PREFIX = 'rds-volume-survey '
const POLL_MS = 1000
const SURVEY_TIMEOUT_MS = 5 * 60_000

/**
 * This engine's volumes, who mounts them, and the room left for more: what `rds survey-volumes`
 * prints on each node. The room is that of the survey container's own root, which is on the
 * filesystem where the engine keeps its containers and, beside them, its volumes (unless its
 * volumes folder is a mount of its own): no mount of the node's disk needed.
 */
export async function surveyLocalVolumes(docker: Docker): Promise<NodeVolumes> {
  const [info, listed, containers, room] = await Promise.all([
    docker.info() as Promise<{ Name?: string; Swarm?: { NodeID?: string } }>,
    docker.listVolumes() as Promise<{ Volumes?: { Name: string; Driver?: string }[] | null }>,
    docker.listContainers({ all: true }),
    statfs('/').catch(() => undefined),
  ])
  return {
    node: info.Name ?? 'unknown',
    nodeId: info.Swarm?.NodeID || undefined,
    free: room && room.bavail * room.bsize,
    volumes: (listed.Volumes ?? [])
      .map((volume) => ({
        name: volume.Name,
        driver: volume.Driver ?? 'local',
        usedBy: containers
          .filter((container) => container.Mounts.some((mount) => mount.Type === 'volume' && mount.Name === volume.Name))
          .filter((container) => container.Labels[JOB_LABEL] === undefined)
          .map((container) => ({
            container: container.Names[0]?.replace(/^\//, '') ?? container.Id.slice(0, 12),
            service: container.Labels['com.docker.swarm.service.name'],
            running: container.State === 'running',
          })),
      }))
      .sort((a, b) => a.name.localeCompare(b.name)),
  }
}

export const surveyLine = (survey: NodeVolumes) => `${SURVEY_PREFIX}${JSON.stringify(survey)}\n`

/** A node whose volumes are unknown, and why: `rds coverage` names it rather than leave it out. */
export interface UnsurveyedNode {
  node: string
  why: string
}

/**
 * Surveys the volumes of every node at once: a global Swarm job of the controller's image runs
 * `rds survey-volumes` on each node, and its output is read back. The service is always removed.
 * A node that is down or not active cannot run it, and one may not answer: each is named.
 */
export async function surveyNodes(docker: Docker, template: JobTemplate, log: Logger, signal?: AbortSignal): Promise<{ surveys: NodeVolumes[]; unsurveyed: UnsurveyedNode[] }> {
  const all = nameNodes(await docker.listNodes())
  const nodes = all.filter((node) => node.state === 'ready' && node.availability === 'active')
  const unsurveyed: UnsurveyedNode[] = all
    .filter((node) => !nodes.includes(node))
    .map((node) => ({ node: node.name, why: node.state === 'ready' ? `its availability is ${node.availability}, so no job runs there` : `it is ${node.state}` }))
  const serviceId = await createJobService(docker, {
    name: `rds-survey-${Date.now().toString(36)}`,
    job: 'survey',
    mode: { Global: {} },
    image: template.image,
    command: ['rds', 'survey-volumes'],
    // The image's cache VOLUME in memory: an anonymous volume would outlive the survey.
    mounts: [
      { Type: 'bind', Source: DOCKER_SOCKET, Target: DOCKER_SOCKET, ReadOnly: true },
      { Type: 'tmpfs', Target: CACHE_DIR },
    ],
  })
  try {
    const deadline = Date.now() + SURVEY_TIMEOUT_MS
    for (;;) {
      const tasks = (await docker.listTasks({ filters: { service: [serviceId] } })) as { Status?: { State?: string } }[]
      const done = tasks.filter((task) => FINAL_STATES.has(task.Status?.State ?? ''))
      if (tasks.length >= nodes.length && done.length === tasks.length) break
      if (Date.now() > deadline || signal?.aborted) {
        throw new Error(`the survey of the nodes' volumes did not finish within ${SURVEY_TIMEOUT_MS / 60_000} minutes (${done.length} of ${nodes.length} nodes answered)`)
      }
      await sleep(POLL_MS)
    }
    const surveys = (await serviceOutput(docker, serviceId))
      .filter(({ stream, line }) => stream === 'stdout' && line.startsWith(SURVEY_PREFIX))
      .map(({ line }) => JSON.parse(line.slice(SURVEY_PREFIX.length)) as NodeVolumes)
    const answered = new Set(surveys.map((survey) => survey.nodeId))
    for (const node of nodes) if (!answered.has(node.id)) unsurveyed.push({ node: node.name, why: 'it did not answer the survey' })
    if (unsurveyed.length > 0) log.warn(`survey: ${unsurveyed.length} of ${all.length} nodes were not surveyed; their volumes and free space are unknown`)
    // Named as jobs name them: two nodes may share a host name.
    const named = surveys.map((survey) => ({ ...survey, node: nodes.find((node) => node.id === survey.nodeId)?.name ?? survey.node }))
    return { surveys: named.sort((a, b) => a.node.localeCompare(b.node)), unsurveyed: unsurveyed.sort((a, b) => a.node.localeCompare(b.node)) }
  } finally {
    await docker.getService(serviceId).remove().catch(() => undefined)
  }
}
