import { setTimeout as sleep } from 'node:timers/promises'
import type Docker from 'dockerode'
import type { Logger } from '../observe/log.js'

/**
 * The label on the controller's own service that says which of its containers is the controller,
 * and until when: "<container ID> <ISO time>". A label of the service, not of its tasks, so that
 * writing it restarts nothing.
 */
export const LEASE_LABEL = 'rds.controller-lease'
// How long a lease holds unless renewed, and how often the holder renews it.
const LEASE_MS = 60_000
const RENEW_MS = 15_000

interface ServiceInfo {
  Version?: { Index?: number }
  Spec: { Labels?: Record<string, string> } & Record<string, unknown>
}

const parse = (label: string | undefined) => {
  const [holder, until] = (label ?? '').split(' ')
  return holder && until ? { holder, until: Date.parse(until) } : undefined
}

/**
 * One controller at a time in a Swarm: a second replica, or the new task of a start-first update,
 * waits in standby until the lease is free, and the holder stops when it loses the lease. The
 * lease is taken and renewed by updating the service at the version it was read at, so of two
 * controllers that try at once, Swarm lets one write and refuses the other.
 */
export class ControllerLease {
  constructor(
    private readonly docker: Docker,
    private readonly serviceId: string,
    /** This controller: its container's ID. */
    private readonly holder: string,
    private readonly log: Logger,
  ) {}

  /**
   * The lease label as this controller last saw it change, by its own monotonic clock. Whether
   * another's lease is still held is judged by how long its label has stood unchanged here, never
   * by the time written in it: that is the holder's clock, and managers' clocks differ (or jump).
   */
  private observed?: { label: string; at: number; lease: { holder: string; until: number } }

  /**
   * Takes the lease, or renews it, if it is free, expired or this controller's own; resolves to
   * whose it is now.
   */
  private async take(): Promise<{ holder: string; until: number; from?: string }> {
    const service = this.docker.getService(this.serviceId)
    const info = (await service.inspect()) as ServiceInfo
    const label = info.Spec.Labels?.[LEASE_LABEL]
    const parsed = parse(label)
    if (parsed && label !== this.observed?.label) this.observed = { label: label!, at: performance.now(), lease: parsed }
    // A lease whose label vanished (docker stack deploy rewrites the labels) holds until it would have expired.
    const lease = parsed ?? this.observed?.lease
    const renewedLately = this.observed !== undefined && performance.now() - this.observed.at < LEASE_MS
    if (lease && lease.holder !== this.holder && renewedLately && (await this.running(lease.holder))) return lease
    const until = Date.now() + LEASE_MS
    const labels = { ...info.Spec.Labels, [LEASE_LABEL]: `${this.holder} ${new Date(until).toISOString()}` }
    await service.update({ version: info.Version?.Index, ...info.Spec, Labels: labels })
    return { holder: this.holder, until, from: lease && lease.holder !== this.holder ? lease.holder : undefined }
  }

  /** Whether a container is a running task of the service: a killed controller's lease is free at once. */
  private async running(containerId: string): Promise<boolean> {
    const tasks = (await this.docker.listTasks({ filters: { service: [this.serviceId] } })) as { Status?: { State?: string; ContainerStatus?: { ContainerID?: string } } }[]
    // A holder named by its host name (the container's short ID) when it could not read its full ID.
    return tasks.some((task) => task.Status?.State === 'running' && task.Status.ContainerStatus?.ContainerID?.startsWith(containerId))
  }

  /** Waits in standby until this controller holds the lease; false if `stop` came first. */
  async acquire(stop: AbortSignal): Promise<boolean> {
    let told: string | undefined
    while (!stop.aborted) {
      const lease = await this.take().catch((error: Error) => {
        this.log.warn(`controller: could not take the lease (${error.message}); trying again`)
        return undefined
      })
      if (lease?.holder === this.holder) {
        if (told || lease.from) this.log.info(`controller: the lease is free${lease.from ? ` (the controller in container ${lease.from.slice(0, 12)} is gone)` : ''}; this controller takes over`)
        return true
      }
      if (lease && told !== lease.holder) {
        told = lease.holder
        this.log.warn(`controller: standby: the controller in container ${lease.holder.slice(0, 12)} holds the lease (it renews it every ${RENEW_MS / 1000} s); this one waits, and takes over when it stops, or has not renewed it for ${LEASE_MS / 1000} s`)
      }
      await sleep(RENEW_MS, undefined, { signal: stop }).catch(() => undefined)
    }
    return false
  }

  /**
   * Renews the lease until `stop` is aborted; the signal returned is aborted when the lease is
   * lost (another controller took it after this one could not renew it in time).
   */
  keep(stop: AbortSignal): AbortSignal {
    const lost = new AbortController()
    let renewedAt = performance.now()
    const renew = setInterval(async () => {
      const lease = await this.take().catch((error: Error) => {
        this.log.warn(`controller: could not renew the lease (${error.message})`)
        return undefined
      })
      if (lease?.holder === this.holder) renewedAt = performance.now()
      // Stops well before another controller may take the lease as expired: never two at once.
      const expired = performance.now() - renewedAt > LEASE_MS - 2 * RENEW_MS
      if ((lease && lease.holder !== this.holder) || expired) {
        this.log.error(`controller: lost the lease${lease ? ` to the controller in container ${lease.holder.slice(0, 12)}` : ''}; stopping, so that two controllers never run at once`)
        clearInterval(renew)
        lost.abort()
      }
    }, RENEW_MS)
    stop.addEventListener('abort', () => clearInterval(renew), { once: true })
    return lost.signal
  }

  /** Gives the lease up (at a clean stop), so that a controller in standby takes over at once. */
  async release(): Promise<void> {
    const service = this.docker.getService(this.serviceId)
    const info = (await service.inspect()) as ServiceInfo
    if (parse(info.Spec.Labels?.[LEASE_LABEL])?.holder !== this.holder) return
    const labels = { ...info.Spec.Labels }
    delete labels[LEASE_LABEL]
    await service.update({ version: info.Version?.Index, ...info.Spec, Labels: labels })
  }
}
