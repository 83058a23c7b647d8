import { ConfigError } from '../errors.js'
import { isAlarm, subjectOf, textOf, type Notification } from './message.js'
import { basicAuth, decoded, flagOption, listOption, optionsOf, post, postJson, publicPart, type Notifier } from './notifier.js'

// Push services for phones, in shoutrrr's URL forms: a failure or an OVERDUE job is sent with a
// high priority, a recovery or a success with the default one.

/**
 * ntfy (ntfy.sh or self-hosted): ntfy://[USER:PASSWORD@]HOST/TOPIC, or ntfy://:TOKEN@HOST/TOPIC
 * for an access token; scheme=http for a server without TLS. The topic is as secret as a password.
 */
export function ntfySender(url: URL, entry: string): Notifier {
  const label = `${entry} (ntfy)`
  const options = optionsOf(url, label, ['scheme'])
  const scheme = options.get('scheme') ?? 'https'
  if (scheme !== 'https' && scheme !== 'http') throw new ConfigError(`${label} has scheme=${scheme}; use https or http.`)
  const topic = url.pathname.replace(/^\/+|\/+$/g, '')
  if (!url.host || !topic || topic.includes('/')) throw new ConfigError(`${label} needs a server and one topic: write ntfy://HOST/TOPIC (ntfy://ntfy.sh/TOPIC for the public server).`)
  const target = new URL(`${scheme}://${url.host}/${topic}`)
  // ntfy takes an access token as the password of an empty user.
  const auth: Record<string, string> = url.username || url.password ? { authorization: basicAuth(url) } : {}
  return {
    describe: `ntfy ${publicPart(target)}`,
    everyRun: false,
    send: async (notification: Notification) => {
      const headers = { ...auth, title: subjectOf(notification), priority: isAlarm(notification) ? 'high' : 'default', tags: isAlarm(notification) ? 'warning' : 'white_check_mark' }
      // Over 4,096 bytes ntfy makes the message an attachment (which a server without attachments refuses).
      await post(target, { headers, body: textOf(notification, { subject: false, maxBytes: 4_000 }) }, 'ntfy request')
    },
  }
}

/** Gotify: gotify://HOST[:PORT][/PATH]/APP_TOKEN, disabletls=yes for a server without TLS. */
export function gotifySender(url: URL, entry: string): Notifier {
  const label = `${entry} (Gotify)`
  const options = optionsOf(url, label, ['disabletls'])
  const parts = url.pathname.split('/').filter(Boolean)
  const token = parts.pop()
  if (!url.host || !token) throw new ConfigError(`${label} needs a server and an application token: write gotify://HOST/TOKEN.`)
  const target = new URL(`${flagOption(options, 'disabletls', label) ? 'http' : 'https'}://${url.host}/${[...parts, 'message'].join('/')}`)
  return {
    describe: `Gotify ${publicPart(target)}`,
    everyRun: false,
    send: async (notification: Notification) => {
      // The token goes in Gotify's header, not in the query where proxies log it.
      const message = { title: subjectOf(notification), message: textOf(notification, { subject: false }), priority: isAlarm(notification) ? 8 : 4 }
      await postJson(target, message, 'Gotify request', { 'x-gotify-key': token })
    },
  }
}

const PUSHOVER_API = new URL('https://api.pushover.net/1/messages.json')

/** Pushover: pushover://shoutrrr:API_TOKEN@USER_KEY[?devices=phone] (one devices= per device). */
export function pushoverSender(url: URL, entry: string): Notifier {
  const label = `${entry} (Pushover)`
  const options = optionsOf(url, label, ['devices'])
  const token = decoded(url.password)
  const user = url.hostname
  if (!token || !user) throw new ConfigError(`${label} needs an API token and a user key: write pushover://shoutrrr:API_TOKEN@USER_KEY.`)
  const devices = listOption(options, 'devices')
  return {
    describe: 'Pushover',
    everyRun: false,
    send: async (notification: Notification) => {
      const form = new URLSearchParams({ token, user, title: subjectOf(notification).slice(0, 250), message: textOf(notification, { subject: false, maxChars: 1_024 }), priority: isAlarm(notification) ? '1' : '0' })
      if (devices.length > 0) form.set('device', devices.join(','))
      await post(PUSHOVER_API, { headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form.toString() }, 'Pushover request')
    },
  }
}
