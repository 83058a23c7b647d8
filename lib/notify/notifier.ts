import type { RunKind } from '../observe/run-report.js'
import { ConfigError } from '../errors.js'
import type { Notification } from './message.js'

/** One destination of NOTIFY_URLS. */
export interface Notifier {
  /** How the destination is named in the log: its kind and host, never a secret of its URL. */
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

/**
 * The query options of a destination's URL, refusing any it does not take: a setting that does
 * not apply is never silently ignored. `entry` names the URL ("NOTIFY_URLS: entry 2 (discord)").
 */
export function optionsOf(url: URL, entry: string, takes: string[]): URLSearchParams {
  for (const key of new Set(url.searchParams.keys())) {
    if (!takes.includes(key)) throw new ConfigError(`${entry} has the option "${key}", which it does not take; ${takes.length ? `it takes ${takes.join(', ')}` : 'it takes none'} (docs/monitoring.md).`)
  }
  return url.searchParams
}

/** An option's values, given as repeated options or separated by commas written %2C (a comma separates NOTIFY_URLS). */
export const listOption = (options: URLSearchParams, key: string) =>
  options.getAll(key).flatMap((value) => value.split(',')).map((value) => value.trim()).filter(Boolean)

/** A yes/no option as shoutrrr writes it (yes, no, true, false, 1, 0). */
export function flagOption(options: URLSearchParams, key: string, entry: string): boolean {
  const value = options.get(key)
  if (value === null) return false
  if (/^(yes|true|1)$/i.test(value)) return true
  if (/^(no|false|0)$/i.test(value)) return false
  throw new ConfigError(`${entry} has ${key}=${value}; use ${key}=yes or ${key}=no.`)
}

/** A URL's user or password as written (URL-encoded in NOTIFY_URLS); a bad escape throws URIError, which notifierFor says. */
export const decoded = (part: string) => decodeURIComponent(part)

/** HTTP basic authentication with a URL's user and password. */
export const basicAuth = (url: URL) => `Basic ${Buffer.from(`${decoded(url.username)}:${decoded(url.password)}`).toString('base64')}`

/**
 * Sends an HTTP request (POST unless said otherwise) and resolves to the answer's text; a failure
 * or an answer that is not 2xx is an error that says it, with the start of the answer. The URL's
 * path and query and the headers' values, which may hold a token, never reach the message; a
 * redirect is a failure (it would turn a POST into a GET that looks sent, or carry the token on).
 */
export async function post(url: URL, init: { method?: string; headers?: Record<string, string>; body?: string }, what: string): Promise<string> {
  const secrets = [url.href, `${url.pathname}${url.search}`, url.pathname, url.search, ...Object.values(init.headers ?? {})].filter((secret) => secret.length >= 4)
  const hide = (text: string) => secrets.reduce((hidden, secret) => hidden.replaceAll(secret, '…'), text)
  let response: Response
  try {
    response = await fetch(url, { method: 'POST', ...init, redirect: 'error', signal: AbortSignal.timeout(NOTIFY_TIMEOUT_MS) })
  } catch (error) {
    // fetch says only "fetch failed"; the cause says why (refused, timed out, a redirect, a bad
    // certificate). Without a cause the request could not be made at all, and its message may quote a header.
    const cause = (error as Error).cause as Error | undefined
    const why = cause ? hide(cause.message) : (error as Error).name === 'TimeoutError' ? `no answer within ${NOTIFY_TIMEOUT_MS / 1000} s` : 'a header or the URL holds a character HTTP does not allow'
    throw new Error(`the ${what} failed (${why})`)
  }
  const text = await response.text().catch(() => '')
  if (response.ok) return text
  // An answer may quote the request (its path, a header): what it quotes of the secrets is hidden.
  const body = hide(text).slice(0, 200).trim()
  throw new Error(`the ${what} was answered ${response.status} ${response.statusText}${body ? `: ${body}` : ''}`)
}

/** post() of a JSON body, as most services' APIs take it. */
export const postJson = (url: URL, payload: unknown, what: string, headers: Record<string, string> = {}) =>
  post(url, { headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(payload) }, what)
