import { createInterface } from 'node:readline'
import type { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import type Docker from 'dockerode'
import type { Logger } from '../observe/log.js'

interface SwarmEvent {
  Type?: string
  Action?: string
  Actor?: { ID?: string; Attributes?: Record<string, string> }
}

export interface FollowOptions {
  log: Logger
  /** Aborting stops following; the returned promise then resolves. */
  signal: AbortSignal
  /** Called once for a burst of events (a stack deploy is one), with what happened, in words. */
  onChange: (why: string) => unknown
  /** Called after a lost connection is back: events in between may be lost, so everything is read again. */
  onReconnect: () => unknown
  /** A service whose events are no change (the controller's own: its lease is renewed every 15 s). */
  ignoreService?: string
}

// Events within this long of each other are one change: a stack deploy sends one per service.
const BURST_MS = 100
const RECONNECT_MS = 1000

const describe = (event: SwarmEvent) => `${event.Type} ${event.Actor?.Attributes?.name ?? event.Actor?.ID?.slice(0, 12) ?? ''} ${event.Action}`.trim()

/**
 * Follows the manager's service and node events (swarm scope, seen by managers only), so that a
 * service labelled, relabelled, scaled, moved or removed changes the schedule at once, without
 * polling. Reconnects when the engine goes away.
 */
export async function followSwarmEvents(docker: Docker, options: FollowOptions): Promise<void> {
  const { log, signal } = options
  let burst: string[] = []
  let timer: NodeJS.Timeout | undefined
  const flush = () => {
    const why = burst.length <= 3 ? burst.join(', ') : `${burst.slice(0, 3).join(', ')} and ${burst.length - 3} more`
    burst = []
    timer = undefined
    void options.onChange(why)
  }
  let first = true
  while (!signal.aborted) {
    try {
      const stream = (await docker.getEvents({ filters: { type: ['service', 'node'] }, abortSignal: signal } as Docker.GetEventsOptions)) as unknown as Readable
      if (!first) {
        log.info('controller: following Docker events again')
        await options.onReconnect()
      }
      first = false
      const lines = createInterface({ input: stream, crlfDelay: Infinity })
      // Closing the lines ends the loop below; destroying the stream alone would leave it waiting.
      const stop = () => {
        lines.close()
        stream.destroy()
      }
      signal.addEventListener('abort', stop, { once: true })
      try {
        for await (const line of lines) {
          if (line.trim() === '') continue
          let event: SwarmEvent
          try {
            event = JSON.parse(line)
          } catch {
            continue
          }
          if (options.ignoreService && event.Actor?.ID === options.ignoreService) continue
          burst.push(describe(event))
          timer ??= setTimeout(flush, BURST_MS)
        }
      } finally {
        signal.removeEventListener('abort', stop)
      }
    } catch (error) {
      if (signal.aborted) break
      log.warn(`controller: lost Docker's events (${(error as Error).message}); reconnecting`)
    }
    if (!signal.aborted) await sleep(RECONNECT_MS, undefined, { signal }).catch(() => undefined)
  }
  if (timer) clearTimeout(timer)
}
