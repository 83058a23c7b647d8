import { ConfigError } from '../errors.js'
import { discordSender, slackSender, teamsSender, telegramSender } from './chat.js'
import { emailSender } from './email.js'
import { healthchecksPinger } from './healthchecks.js'
import type { Notifier } from './notifier.js'
import { gotifySender, ntfySender, pushoverSender } from './push.js'
import { genericSender, webhookSender } from './webhook.js'

/** Each URL scheme of NOTIFY_URLS and the destination it names (shoutrrr's schemes, beside rds's own). */
const SCHEMES: Record<string, (url: URL, entry: string) => Notifier> = {
  https: webhookSender,
  http: webhookSender,
  'hc+https': healthchecksPinger,
  'hc+http': healthchecksPinger,
  smtp: emailSender,
  smtps: emailSender,
  ntfy: ntfySender,
  gotify: gotifySender,
  pushover: pushoverSender,
  discord: discordSender,
  slack: slackSender,
  telegram: telegramSender,
  teams: teamsSender,
  'teams+https': teamsSender,
  generic: genericSender,
  'generic+https': genericSender,
  'generic+http': genericSender,
}

/** The destination a URL names, by its scheme; a ConfigError (never showing the URL) for one that names none. */
export function notifierFor(raw: string, index: number): Notifier {
  const entry = `NOTIFY_URLS: entry ${index + 1}`
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new ConfigError(`${entry} is not a URL; use https://..., ntfy://..., smtp://... or another kind docs/monitoring.md lists.`)
  }
  const scheme = url.protocol.slice(0, -1)
  const sender = SCHEMES[scheme]
  if (!sender) throw new ConfigError(`${entry} has the scheme "${scheme}", which is not one of ${Object.keys(SCHEMES).join(', ')}.`)
  try {
    return sender(url, entry)
  } catch (error) {
    // A %-escape that is not one (decodeURIComponent), a host= that is no host (new URL): said without the URL.
    if (error instanceof URIError) throw new ConfigError(`${entry} has a % that is not followed by two hex digits; write a % in a password as %25.`)
    if (error instanceof TypeError) throw new ConfigError(`${entry} (${scheme}) does not make a valid URL of its service; check its host.`)
    throw error
  }
}
