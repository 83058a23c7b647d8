import { ConfigError } from '../errors.js'
import { subjectOf, textOf, type Notification } from './message.js'
import { decoded, listOption, optionsOf, postJson, publicPart, type Notifier } from './notifier.js'

// Chat services, in shoutrrr's URL forms. Each is sent the notification's text, cut to the
// service's limit by dropping the oldest lines of the log's tail first.

/** Discord: discord://TOKEN@WEBHOOK_ID (from https://discord.com/api/webhooks/WEBHOOK_ID/TOKEN). */
export function discordSender(url: URL, entry: string): Notifier {
  const label = `${entry} (Discord)`
  const options = optionsOf(url, label, ['username'])
  const token = decoded(url.username)
  if (!token || !url.hostname || url.pathname.replace(/\/$/, '')) throw new ConfigError(`${label} needs a webhook's token and ID only: write discord://TOKEN@WEBHOOK_ID.`)
  const target = new URL(`https://discord.com/api/webhooks/${url.hostname}/${token}`)
  const username = options.get('username')
  return {
    describe: 'Discord',
    everyRun: false,
    send: async (notification: Notification) => {
      await postJson(target, { content: textOf(notification, { maxChars: 2_000 }), ...(username ? { username } : {}) }, 'Discord request')
    },
  }
}

/**
 * Slack: an incoming webhook, slack://[BOTNAME@]A/B/C or slack://hook:A-B-C@webhook (from
 * https://hooks.slack.com/services/A/B/C), or the Web API with a bot token, slack://xoxb:TOKEN@CHANNEL.
 */
export function slackSender(url: URL, entry: string): Notifier {
  const label = `${entry} (Slack)`
  const options = optionsOf(url, label, ['botname', 'username'])
  const text = (notification: Notification) => textOf(notification, { maxChars: 4_000 })
  if (url.username === 'xoxb' || url.username === 'xoxp') {
    const token = `${url.username}-${decoded(url.password)}`
    if (!url.password || !url.hostname) throw new ConfigError(`${label} needs a token and a channel: write slack://xoxb:TOKEN@CHANNEL.`)
    const channel = url.hostname
    const botname = options.get('botname') ?? options.get('username')
    return {
      describe: 'Slack (Web API)',
      everyRun: false,
      send: async (notification: Notification) => {
        const payload = { channel, text: text(notification), ...(botname ? { username: botname } : {}) }
        const answer = await postJson(new URL('https://slack.com/api/chat.postMessage'), payload, 'Slack request', { 'content-type': 'application/json; charset=utf-8', authorization: `Bearer ${token}` })
        // The Web API answers 200 also when it refuses: its "ok" says which.
        const { ok, error } = JSON.parse(answer || '{}') as { ok?: boolean; error?: string }
        if (!ok) throw new Error(`the Slack request was refused: ${error ?? answer.slice(0, 200)}`)
      },
    }
  }
  // shoutrrr writes a webhook's token either as the path or as hook:A-B-C@webhook.
  const hook = url.username === 'hook' && url.hostname === 'webhook'
  const parts = hook ? decoded(url.password).split('-') : [url.hostname, ...url.pathname.split('/').filter(Boolean)]
  if (parts.length !== 3 || parts.some((part) => !/^[A-Za-z0-9]+$/.test(part))) throw new ConfigError(`${label} is neither a webhook nor a bot token: write slack://A/B/C for https://hooks.slack.com/services/A/B/C, or slack://xoxb:TOKEN@CHANNEL.`)
  const target = new URL(`https://hooks.slack.com/services/${parts.join('/')}`)
  const username = options.get('botname') ?? options.get('username') ?? (hook ? '' : decoded(url.username))
  return {
    describe: 'Slack (webhook)',
    everyRun: false,
    send: async (notification: Notification) => {
      await postJson(target, { text: text(notification), ...(username ? { username } : {}) }, 'Slack request')
    },
  }
}

/** Telegram: telegram://BOT_TOKEN@telegram?chats=@CHANNEL (one chats= per chat, CHAT_ID:THREAD_ID for a topic). */
export function telegramSender(url: URL, entry: string): Notifier {
  const label = `${entry} (Telegram)`
  const options = optionsOf(url, label, ['chats', 'channels'])
  const token = `${decoded(url.username)}:${decoded(url.password)}`
  const chats = [...listOption(options, 'chats'), ...listOption(options, 'channels')]
  if (!/^\d+:[\w-]+$/.test(token) || url.hostname !== 'telegram') throw new ConfigError(`${label} needs a bot token: write telegram://BOT_TOKEN@telegram?chats=CHAT (the token is NUMBER:SECRET).`)
  if (chats.length === 0) throw new ConfigError(`${label} names no chat: add ?chats=@CHANNEL or ?chats=CHAT_ID.`)
  const badChat = chats.find((chat) => !/^(@\w+|-?\d+)(:\d+)?$/.test(chat))
  if (badChat !== undefined) throw new ConfigError(`${label} has the chat ${JSON.stringify(badChat)}; write @CHANNEL, a chat ID, or CHAT_ID:THREAD_ID.`)
  const target = new URL(`https://api.telegram.org/bot${token}/sendMessage`)
  return {
    describe: 'Telegram',
    everyRun: false,
    // Every chat at once, so that one that fails keeps no other from its message.
    send: async (notification: Notification) => {
      const sent = await Promise.allSettled(
        chats.map((chat) => {
          const [chatId, thread] = chat.split(':')
          return postJson(target, { chat_id: chatId, text: textOf(notification, { maxChars: 4_096 }), ...(thread ? { message_thread_id: Number(thread) } : {}) }, 'Telegram request')
        }),
      )
      const failed = sent.flatMap((result) => (result.status === 'rejected' ? [(result.reason as Error).message] : []))
      if (failed.length > 0) throw new Error(`${failed.length} of ${chats.length} chat(s) did not get it: ${failed[0]}`)
    },
  }
}

/**
 * Microsoft Teams: a Workflows webhook (teams+https://URL, the "Send webhook alerts to a channel"
 * template), or an incoming webhook in shoutrrr's form,
 * teams://GROUP@TENANT/ALT_ID/GROUP_OWNER?host=ORG.webhook.office.com. Both take an Adaptive Card.
 */
export function teamsSender(url: URL, entry: string): Notifier {
  const label = `${entry} (Teams)`
  let target: URL
  if (url.protocol === 'teams+https:') {
    target = new URL(url.href.slice('teams+'.length))
  } else {
    const options = optionsOf(url, label, ['host'])
    // A fifth part (extraId) ends the webhooks Teams makes now.
    const [altId, owner, extra, ...rest] = url.pathname.split('/').filter(Boolean)
    const host = options.get('host')
    if (!url.username || !altId || !owner || rest.length > 0) throw new ConfigError(`${label} is not a webhook: write teams://GROUP@TENANT/ALT_ID/GROUP_OWNER?host=HOST, or teams+https://URL for a Workflows webhook.`)
    // Without a host shoutrrr used outlook.office.com, whose webhooks Microsoft has retired.
    if (!host) throw new ConfigError(`${label} needs ?host=ORG.webhook.office.com, the host of its webhook's URL.`)
    target = new URL(`https://${host}/webhookb2/${url.username}@${url.hostname}/IncomingWebhook/${altId}/${owner}${extra ? `/${extra}` : ''}`)
  }
  return {
    describe: `Teams ${publicPart(target)}`,
    everyRun: false,
    send: async (notification: Notification) => {
      const card = {
        $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
        type: 'AdaptiveCard',
        version: '1.4',
        body: [
          { type: 'TextBlock', text: subjectOf(notification), weight: 'Bolder', size: 'Medium', wrap: true },
          // Teams takes at most 28 KB of a message, escapes and all.
          { type: 'TextBlock', text: textOf(notification, { subject: false, maxBytes: 20_000 }), wrap: true },
        ],
      }
      const message = { type: 'message', attachments: [{ contentType: 'application/vnd.microsoft.card.adaptive', contentUrl: null, content: card }] }
      const answer = await postJson(target, message, 'Teams request')
      // An incoming webhook answers 200 also when delivery failed ("Webhook message delivery failed..."); it says 1 when it did not.
      if (/(^|\.)(webhook\.office\.com|outlook\.office\.com)$/.test(target.hostname) && answer.trim() !== '1') throw new Error(`the Teams request was not delivered: ${answer.slice(0, 200)}`)
    },
  }
}
