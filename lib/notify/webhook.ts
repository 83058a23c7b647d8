import { jsonOf, textOf, type Notification } from './message.js'
import { post, publicPart, type Notifier } from './notifier.js'

/** A generic JSON webhook: POSTs each notification's JSON, with a "text" for chat services. */
export function webhookSender(url: URL): Notifier {
  return {
    describe: `webhook ${publicPart(url)}`,
    everyRun: false,
    send: (notification: Notification) =>
      post(url, { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...jsonOf(notification), text: textOf(notification) }) }, 'webhook request'),
  }
}
