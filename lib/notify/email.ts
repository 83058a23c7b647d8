import { ConfigError } from '../errors.js'
import { subjectOf, textOf, type Notification } from './message.js'
import { NOTIFY_TIMEOUT_MS, type Notifier } from './notifier.js'

/**
 * E-mail over SMTP with nodemailer: smtps://USER:PASSWORD@HOST:465?from=A&to=B&to=C for TLS from
 * the start, smtp://USER:PASSWORD@HOST:587?from=A&to=B for STARTTLS, which is then required (a
 * password never crosses the network in the clear), unless ?tls=off (a relay on a trusted network,
 * without a password).
 */
export function emailSender(url: URL, entry: string): Notifier {
  const from = url.searchParams.get('from')
  // One to= per address: NOTIFY_URLS is separated by commas.
  const to = url.searchParams.getAll('to').filter(Boolean)
  if (!from || to.length === 0) throw new ConfigError(`${entry} (e-mail to ${url.hostname}) needs ?from=ADDRESS&to=ADDRESS (one to= per address); add them.`)
  const implicitTls = url.protocol === 'smtps:'
  const tlsOff = url.searchParams.get('tls') === 'off'
  const user = decodeURIComponent(url.username)
  const pass = decodeURIComponent(url.password)
  if (tlsOff && (user || pass)) throw new ConfigError(`${entry} (e-mail to ${url.hostname}) has a password and tls=off; a password is sent only over TLS: remove tls=off.`)
  const describe = `e-mail via ${url.hostname}:${url.port || (implicitTls ? 465 : 587)} to ${to.join(', ')}`
  let transport: Promise<import('nodemailer').Transporter> | undefined
  // nodemailer is loaded when the first e-mail goes, not at every start.
  const open = async () => {
    const { createTransport } = await import('nodemailer')
    return createTransport({
      host: url.hostname,
      port: Number(url.port) || (implicitTls ? 465 : 587),
      secure: implicitTls,
      requireTLS: !implicitTls && !tlsOff,
      ignoreTLS: tlsOff,
      auth: user ? { user, pass } : undefined,
      connectionTimeout: NOTIFY_TIMEOUT_MS,
      greetingTimeout: NOTIFY_TIMEOUT_MS,
      socketTimeout: NOTIFY_TIMEOUT_MS,
    })
  }
  return {
    describe,
    everyRun: false,
    send: async (notification: Notification) => {
      const mailer = await (transport ??= open())
      // nodemailer's errors say what the server answered; the password is never part of them.
      await mailer.sendMail({ from, to, subject: subjectOf(notification), text: textOf(notification) })
    },
  }
}
