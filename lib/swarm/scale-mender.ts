import { RESTORING_LABEL, type SwarmService } from './cluster.js'
import type { ControllerOptions } from './controller-options.js'
import { SCALED_FROM_LABEL, scaleBack } from './scale.js'
import { swarmJobLock } from '../run/run-lock.js'

/**
 * A service still labelled rds.scaled-from while no run of its job holds the job's run lock was
 * left at 0 by a scale-back that failed (or a run that was killed): it is scaled back, and at
 * every later discovery until it holds. In the background: it may wait minutes for the tasks.
 */
export class ScaleMender {
  private mending = false

  constructor(private readonly options: ControllerOptions) {}

  /** Starts mending the services left at 0, unless a mending is going; `jobOf` names a service's job (its run lock). */
  mend(services: SwarmService[], jobOf: (service: string) => string): void {
    // One an in-place restore left at 0 stays there: its volumes may be half-restored (see interruptedRestore).
    const left = services.filter((service) => service.serviceLabels[SCALED_FROM_LABEL] !== undefined && service.serviceLabels[RESTORING_LABEL] === undefined)
    const { log, docker, lockDir, schedule, stop } = this.options
    if (left.length === 0 || this.mending || schedule === false || stop.aborted) return
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
    })().finally(() => (this.mending = false))
  }
}
