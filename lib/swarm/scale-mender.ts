import { RESTORING_LABEL, type SwarmService } from './cluster.js'
import type { ControllerOptions } from './controller-options.js'
import { SCALED_FROM_LABEL, scaleBack } from './scale.js'
import { restoringOnLabel, startOnNode, stoppedOn } from './node-stop.js'
import { swarmJobLock } from '../run/run-lock.js'

/**
 * A service still labelled rds.scaled-from while no run of its job holds the job's run lock was
 * left at 0 by a scale-back that failed (or a run that was killed): it is scaled back, and at
 * every later discovery until it holds. So is a global service left stopped on a node
 * (rds.stopped-on.NODE) by an in-place restore there that ended, or was cut off before or after it
 * rewrote the volumes (not while: then it is marked rds.restoring.NODE, and stays stopped there).
 * In the background: it may wait minutes for the tasks.
 */
export class ScaleMender {
  private mending = false

  constructor(private readonly options: ControllerOptions) {}

  /**
   * Starts mending the services left at 0 or stopped on a node, unless a mending is going; `jobOf`
   * names a service's job (its run lock), on a node for a global service.
   */
  mend(services: SwarmService[], jobOf: (service: string, nodeId?: string) => string): void {
    // One an in-place restore left at 0 stays there: its volumes may be half-restored (see interruptedRestore).
    const left = services.filter((service) => service.serviceLabels[SCALED_FROM_LABEL] !== undefined && service.serviceLabels[RESTORING_LABEL] === undefined)
    const stopped = services.flatMap((service) => stoppedOn(service.serviceLabels).filter((nodeId) => service.serviceLabels[restoringOnLabel(nodeId)] === undefined).map((nodeId) => ({ service: service.name, nodeId })))
    const { log, docker, lockDir, schedule, stop } = this.options
    if ((left.length === 0 && stopped.length === 0) || this.mending || schedule === false || stop.aborted) return
    this.mending = true
    void (async () => {
      for (const service of left) {
        const job = jobOf(service.name)
        let release: (() => Promise<void>) | undefined
        try {
          release = await swarmJobLock(lockDir, job, log)
        } catch {
          continue // a run of it is going: it scales the service back itself
        }
        try {
          log.warn(`controller: ${service.name} is still scaled to 0 by a backup that has ended; scaling it back`)
          await scaleBack(docker, service.name, log)
        } catch (error) {
          log.error(`controller: could not scale ${service.name} back: ${(error as Error).message}; trying again at the next change in the Swarm`)
        } finally {
          await release()
        }
      }
      for (const { service, nodeId } of stopped) {
        let release: (() => Promise<void>) | undefined
        try {
          release = await swarmJobLock(lockDir, jobOf(service, nodeId), log)
        } catch {
          continue // its restore is going: it starts the service there itself
        }
        try {
          if ((await startOnNode(docker, service, nodeId, log, false)) === 'started') log.warn(`controller: ${service} was still stopped on node ${nodeId} by an in-place restore that ended or was cut off with its volumes whole; started there again`)
        } catch (error) {
          log.error(`controller: could not start ${service} on node ${nodeId} again: ${(error as Error).message}; trying again at the next change in the Swarm`)
        } finally {
          await release()
        }
      }
    })().finally(() => (this.mending = false))
  }
}
