import { setTimeout as sleep } from 'node:timers/promises'
import type { Command } from 'commander'
import { RunError } from '../errors.js'
import type { CommandContext } from './context.js'

// How long a volume may stay in use by a container that is being removed.
const IN_USE_WAIT_MS = 120_000

/** Not for people: what a rehearsal's clean-up job runs on a node, to remove its copy's volumes there. */
export function addRemoveVolumesCommand(program: Command, { cli }: CommandContext): void {
  program.command('remove-volumes', { hidden: true }).argument('<names...>').action(async (names: string[]) => {
    const { default: Docker } = await import('dockerode')
    const docker = new Docker()
    const deadline = Date.now() + IN_USE_WAIT_MS
    for (const name of names) {
      for (;;) {
        const failure = await docker.getVolume(name).remove().then(() => undefined, (error: { statusCode?: number; message: string }) => error)
        if (!failure || failure.statusCode === 404) break
        // 409: a container that is going away still holds it.
        if (failure.statusCode !== 409 || Date.now() > deadline || cli.stop.aborted) throw new RunError(`volume ${name} could not be removed: ${failure.message}`)
        await sleep(1000)
      }
    }
  })
}
