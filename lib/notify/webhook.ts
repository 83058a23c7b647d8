import { ConfigError } from '../errors.js'
import { jsonOf, subjectOf, textOf, type Notification } from './message.js'
import { basicAuth, flagOption, post, postJson, publicPart, type Notifier } from './notifier.js'

/** A generic JSON webhook: POSTs each notification's JSON, with a "text" for chat services. */
export function webhookSender(url: URL): Notifier {
  return {
    describe: `webhook ${publicPart(url)}`,
    everyRun: false,
    send: async (notification: Notification) => {
      await postJson(url, { ...jsonOf(notification), text: textOf(notification) }, 'webhook request')
    },
  }
}

/** The options of shoutrrr's generic service that rds reads (by any case, as shoutrrr does); any other is passed on in the target's query. */
const GENERIC_OPTIONS = ['template', 'contenttype', 'disabletls', 'method', 'titlekey', 'messagekey']

/**
 * shoutrrr's generic webhook: generic://HOST/PATH (HTTPS; disabletls=yes for HTTP) or
 * generic+https://URL. Sends the text as it is, or with template=json a JSON object of a title
 * and a message (titlekey, messagekey name them; $KEY=VALUE adds a field). @NAME=VALUE adds a
 * header (@authorization=...); other options are passed on to the target, _NAME as NAME.
 */
export function genericSender(url: URL, entry: string): Notifier {
  const label = `${entry} (generic)`
  const shortcut = url.protocol.startsWith('generic+')
  const options = new URLSearchParams()
  const forwarded = new URLSearchParams()
  // Header names in lower case: one name, one value (a second spelling would be joined to the first).
  const headers: Record<string, string> = {}
  const fields: Record<string, string> = {}
  for (const [key, value] of url.searchParams) {
    if (key.startsWith('@')) {
      if (!/^@[A-Za-z0-9-]+$/.test(key)) throw new ConfigError(`${label} has the header option "${key}"; write @NAME=VALUE with a header's name (letters, digits and -).`)
      headers[key.slice(1).toLowerCase()] = value
    } else if (key.startsWith('$')) fields[key.slice(1)] = value
    else if (key.startsWith('_')) forwarded.append(key.slice(1), value)
    else if (key.toLowerCase() === 'title') throw new ConfigError(`${label} has the option "title", which it does not take: rds writes each notification's own title.`)
    else if (GENERIC_OPTIONS.includes(key.toLowerCase())) options.set(key.toLowerCase(), value)
    else forwarded.append(key, value)
  }
  const template = options.get('template')
  if (template !== null && template.toLowerCase() !== 'json') throw new ConfigError(`${label} has template=${template}; rds sends the text as it is, or with template=json a JSON object: use that or leave it out.`)
  const method = (options.get('method') ?? 'POST').toUpperCase()
  if (method !== 'POST' && method !== 'PUT') throw new ConfigError(`${label} has method=${method}; use POST or PUT.`)
  if (shortcut && options.has('disabletls')) throw new ConfigError(`${label} has disabletls with ${url.protocol}//; write generic+http:// instead.`)
  const scheme = shortcut ? url.protocol.slice('generic+'.length, -1) : flagOption(options, 'disabletls', label) ? 'http' : 'https'
  const json = template !== null
  if (!json && Object.keys(fields).length > 0) throw new ConfigError(`${label} has $${Object.keys(fields)[0]}, a JSON field, without template=json; add template=json or remove it.`)
  const target = new URL(`${scheme}://${url.host}${url.pathname}`)
  target.search = forwarded.toString()
  // fetch takes no user in a URL: it goes as the header a browser would send, unless @authorization says otherwise.
  if (url.username || url.password) headers.authorization ??= basicAuth(url)
  headers['content-type'] ??= options.get('contenttype') ?? (json ? 'application/json' : 'text/plain; charset=utf-8')
  const body = (notification: Notification) =>
    json
      ? JSON.stringify({ [options.get('titlekey') ?? 'title']: subjectOf(notification), [options.get('messagekey') ?? 'message']: textOf(notification, { subject: false }), ...fields })
      : textOf(notification)
  return {
    describe: `generic ${publicPart(target)}`,
    everyRun: false,
    send: async (notification: Notification) => {
      await post(target, { method, headers, body: body(notification) }, 'generic webhook request')
    },
  }
}
