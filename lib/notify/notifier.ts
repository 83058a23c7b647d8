import type { RunKind } from '../observe/run-report.js'
import type { Notification } from './message.js'

/** One destination of NOTIFY_URLS. */
export interface Notifier {
  /** How the destination is named in the log: its scheme and host, never a secret of its URL. */
  describe: string
  /** Sent whichever events NOTIFY_ON names (healthchecks.io is a dead man's switch: it wants every run). */
  everyRun: boolean
  send(notification: Notification): Promise<void>
  started?(job: string, kind: RunKind): Promise<void>
}

/** How long one notification may take before it is given up (and logged). */
export const NOTIFY_TIMEOUT_MS = 15_000

/** Paths and queries often carry a token (Slack's, Discord's): only the scheme and host are ever shown. */
export const publicPart = (url: URL) => `${url.protocol}//${url.host}/…`

/** Sends an HTTP POST; a failure or an answer that is not 2xx is an error that says it, with the start of the answer. */
export async function post(url: URL, init: { headers?: Record<string, string>; body?: string }, what: string): Promise<void> {
  let response: Response
  try {
    response = await fetch(url, { method: 'POST', ...init, signal: AbortSignal.timeout(NOTIFY_TIMEOUT_MS) })
  } catch (error) {
    // fetch says only "fetch failed"; the cause says why (refused, timed out, a bad certificate).
    throw new Error(`the ${what} failed (${((error as Error).cause as Error | undefined)?.message ?? (error as Error).message})`)
  }
  if (response.ok) return
  const body = (await response.text().catch(() => '')).slice(0, 200).trim()
  throw new Error(`the ${what} was answered ${response.status} ${response.statusText}${body ? `: ${body}` : ''}`)
}
