import { readFile } from 'node:fs/promises'
import { hostname } from 'node:os'
import type Docker from 'dockerode'
import { ConfigError } from '../errors.js'
import type { JobTemplate } from './job-service.js'

// Docker bind-mounts /etc/hostname and /etc/resolv.conf from the container's own folder, whose
// name is its ID: unlike the hostname, a stack file cannot change it.
const CONTAINER_FOLDER = /\/containers\/([0-9a-f]{64})\//

async function ownContainerId(): Promise<string> {
  const mounts = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '')
  return CONTAINER_FOLDER.exec(mounts)?.[1] ?? hostname()
}

interface ServiceSpec {
  TaskTemplate?: {
    ContainerSpec?: { Image?: string; Secrets?: unknown[] }
    Networks?: { Target: string; Aliases?: string[] }[]
  }
}

export interface SecretReference {
  File?: { Name?: string }
}

/** Where a secret of a service appears in its containers. */
export const secretPath = (secret: SecretReference) => {
  const name = secret.File?.Name ?? ''
  return name.startsWith('/') ? name : `/run/secrets/${name}`
}

/**
 * What each job takes from the controller's own Swarm service: its image (so that jobs run the
 * same rds), its networks (the server is reached through them) and, of its secrets, only those at
 * `neededFiles` (the key, the known hosts, the password): never the notification URLs or any other
 * secret of the controller. The controller must run as a service; a clear error says so otherwise.
 */
export async function ownJobTemplate(docker: Docker, neededFiles: string[]): Promise<JobTemplate & OwnService & { ownSecrets: SecretReference[] }> {
  const own = await ownService(docker)
  const spec = ((await docker.getService(own.serviceId).inspect()) as { Spec?: ServiceSpec }).Spec
  const template = spec?.TaskTemplate
  const image = template?.ContainerSpec?.Image
  if (!image) throw notAService()
  const needed = new Set(neededFiles)
  const ownSecrets = (template?.ContainerSpec?.Secrets ?? []) as SecretReference[]
  const secrets = ownSecrets.filter((secret) => needed.has(secretPath(secret)))
  return { ...own, image, networks: template?.Networks ?? [], secrets, ownSecrets }
}

/** The controller's own container and the Swarm service it is a task of. */
export interface OwnService {
  containerId: string
  serviceId: string
}

const notAService = () =>
  new ConfigError('MODE=swarm needs the agent to run as a Swarm service on a manager node (each job takes its image, networks and secrets); deploy it with docker stack deploy.')

async function ownService(docker: Docker): Promise<OwnService> {
  const containerId = await ownContainerId()
  const container = (await docker.getContainer(containerId).inspect().catch(() => undefined)) as { Config?: { Labels?: Record<string, string> } } | undefined
  const serviceId = container?.Config?.Labels?.['com.docker.swarm.service.id']
  if (!serviceId) throw notAService()
  return { containerId, serviceId }
}
