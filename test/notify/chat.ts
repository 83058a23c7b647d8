// Discord, Slack, Telegram and Teams each get a failure and a recovery in the request their API
// expects (a local listener stands in for the service), cut to the service's limit with the log's
// last line kept, and no token ever reaches the log.
import t, { type Test } from 'tap'
import { notifications } from '../../lib/notify/listener.js'
import { captureLogger } from '../fixtures/log.js'
import { failureAndRecovery, serviceListener, type ServiceRequest } from '../fixtures/notify-services.js'

const { failure, recovery, failed } = failureAndRecovery()
const json = (request: ServiceRequest) => JSON.parse(request.body) as Record<string, unknown>

/** Sends a failure and then its recovery through NOTIFY_URLS=url; resolves to the requests and the log. */
async function failThenRecover(t: Test, url: string, answer?: Parameters<typeof serviceListener>[1]) {
  const requests = await serviceListener(t, answer)
  const { log, text } = captureLogger()
  const listener = notifications(url, undefined, log)!
  await listener.finished(failure, undefined)
  await listener.finished(recovery, failed)
  return { requests, log: text() }
}

t.test('Discord: the webhook gets the text as content, at most 2,000 characters ending with the log\'s last line', async (t) => {
  const { requests, log } = await failThenRecover(t, 'discord://discord-token-secret@123456789012345678?username=backups')
  t.equal(requests.length, 2)
  for (const request of requests) t.match(request, { method: 'POST', host: 'discord.com', path: '/api/webhooks/123456789012345678/discord-token-secret', headers: { 'content-type': 'application/json' } })
  const [first, second] = requests.map(json) as { content: string; username: string }[]
  t.match(first!.content, /^\[rds\] FAILED: backup of stack_db\n/)
  t.ok(first!.content.length <= 2_000, `${first!.content.length} characters`)
  t.match(first!.content, /ERROR run: failed after 3 s: the password is wrong\n$/, 'the last log line is kept')
  t.equal(first!.username, 'backups')
  t.match(second!.content, /^\[rds\] recovered: backup of stack_db succeeded again/)
  t.match(log, /notify: sent the failure of stack_db's backup to Discord/)
  t.notMatch(log, /discord-token-secret|123456789012345678/)
})

t.test('Slack: an incoming webhook gets {text}; the Web API gets the channel with the bot token, and its refusal in a 200 is a failure', async (t) => {
  const hook = await failThenRecover(t, 'slack://backups@T0000000/B0000000/slackhooksecret00000000000', () => ({ status: 200, body: 'ok', type: 'text/plain' }))
  t.match(hook.requests[0], { method: 'POST', host: 'hooks.slack.com', path: '/services/T0000000/B0000000/slackhooksecret00000000000' })
  t.match(json(hook.requests[0]!), { text: /^\[rds\] FAILED: backup of stack_db\n[\s\S]*the password is wrong\n$/, username: 'backups' })
  t.match(json(hook.requests[1]!), { text: /^\[rds\] recovered/ })
  t.notMatch(hook.log, /slackhooksecret|T0000000/)

  let refuse = false
  const api = await failThenRecover(t, 'slack://xoxb:123456789012-1234567890123-slackbotsecret@C0123CHANNEL', () => ({ status: 200, body: JSON.stringify(refuse ? { ok: false, error: 'channel_not_found' } : { ok: true }) }))
  t.match(api.requests[0], { host: 'slack.com', path: '/api/chat.postMessage', headers: { authorization: 'Bearer xoxb-123456789012-1234567890123-slackbotsecret' } })
  t.match(json(api.requests[0]!), { channel: 'C0123CHANNEL', text: /^\[rds\] FAILED/ })
  refuse = true
  const { log, text } = captureLogger()
  await notifications('slack://xoxb:123456789012-1234567890123-slackbotsecret@C0123CHANNEL', undefined, log)!.finished(failure, undefined)
  t.match(text(), /WARN\s+notify: could not send the failure of stack_db's backup to Slack \(Web API\): the Slack request was refused: channel_not_found/)
  t.notMatch(api.log + text(), /slackbotsecret/)
})

t.test('Telegram: sendMessage once per chat (a topic as CHAT:THREAD), at most 4,096 characters', async (t) => {
  const { requests, log } = await failThenRecover(t, 'telegram://110201543:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw@telegram?chats=@backups%2C-1001234567890:42', () => ({ status: 200, body: '{"ok":true,"result":{}}' }))
  t.equal(requests.length, 4, 'two chats, two notifications')
  for (const request of requests) t.match(request, { method: 'POST', host: 'api.telegram.org', path: '/bot110201543:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/sendMessage' })
  const bodies = requests.map(json) as { chat_id: string; text: string; message_thread_id?: number }[]
  t.match(bodies[0], { chat_id: '@backups', text: /^\[rds\] FAILED: backup of stack_db\n/ })
  t.notOk('message_thread_id' in bodies[0]!)
  t.match(bodies[1], { chat_id: '-1001234567890', message_thread_id: 42 })
  t.ok(bodies[0]!.text.length <= 4_096 && bodies[0]!.text.endsWith('the password is wrong\n'))
  t.match(bodies[2], { chat_id: '@backups', text: /^\[rds\] recovered/ })
  t.notMatch(log, /AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw|110201543/)
})

t.test('Teams: a Workflows webhook and an incoming webhook get an Adaptive Card in a message', async (t) => {
  const workflow = 'teams+https://prod-01.westeurope.logic.azure.com:443/workflows/0a1b/triggers/manual/paths/invoke?api-version=2016-06-01&sig=teamssigsecret'
  const flow = await failThenRecover(t, workflow, () => ({ status: 202, body: '' }))
  t.match(flow.requests[0], { method: 'POST', host: 'prod-01.westeurope.logic.azure.com', path: '/workflows/0a1b/triggers/manual/paths/invoke?api-version=2016-06-01&sig=teamssigsecret' })
  const message = json(flow.requests[0]!) as { type: string; attachments: { contentType: string; content: { type: string; body: { text: string }[] } }[] }
  t.equal(message.type, 'message')
  t.match(message.attachments[0], { contentType: 'application/vnd.microsoft.card.adaptive', content: { type: 'AdaptiveCard' } })
  t.equal(message.attachments[0]!.content.body[0]!.text, '[rds] FAILED: backup of stack_db')
  t.match(message.attachments[0]!.content.body[1]!.text, /^Error: the password in RESTIC_REPO_PASSWORD_FILE is wrong\n/)
  t.match(flow.log, /sent the failure of stack_db's backup to Teams https:\/\/prod-01\.westeurope\.logic\.azure\.com\/…/)
  t.notMatch(flow.log, /teamssigsecret|0a1b/)

  const group = '11111111-2222-4333-8444-555555555555'
  const legacy = await failThenRecover(t, `teams://${group}@${group}/0123456789abcdef0123456789abcdef/${group}?host=example.webhook.office.com`, () => ({ status: 200, body: '1' }))
  t.match(legacy.requests[1], { host: 'example.webhook.office.com', path: `/webhookb2/${group}@${group}/IncomingWebhook/0123456789abcdef0123456789abcdef/${group}` })
  t.match((json(legacy.requests[1]!) as typeof message).attachments[0]!.content.body[0]!.text, /^\[rds\] recovered/)
})

t.test("shoutrrr's other forms: Slack's hook:A-B-C@webhook, Teams's five-part webhook; Teams's 200 that says delivery failed is a failure; one Telegram chat that fails keeps none from the others", async (t) => {
  const hook = await failThenRecover(t, 'slack://hook:T0000000-B0000000-slackhooksecret00000000000@webhook?botname=backups', () => ({ status: 200, body: 'ok', type: 'text/plain' }))
  t.match(hook.requests[0], { host: 'hooks.slack.com', path: '/services/T0000000/B0000000/slackhooksecret00000000000' })
  t.match(json(hook.requests[0]!), { username: 'backups' })

  const group = '11111111-2222-4333-8444-555555555555'
  const url = `teams://${group}@${group}/0123456789abcdef0123456789abcdef/${group}/V2extrasecret?host=example.webhook.office.com`
  const requests = await serviceListener(t, () => ({ status: 200, body: 'Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 413', type: 'text/plain' }))
  const { log, text } = captureLogger()
  await notifications(url, undefined, log)!.finished(failure, undefined)
  t.match(requests[0], { path: `/webhookb2/${group}@${group}/IncomingWebhook/0123456789abcdef0123456789abcdef/${group}/V2extrasecret` })
  t.match(text(), /WARN\s+notify: could not send the failure of stack_db's backup to Teams https:\/\/example\.webhook\.office\.com\/…: the Teams request was not delivered: Webhook message delivery failed/)
  t.notMatch(text(), /V2extrasecret/)
})

t.test('Telegram: a chat that fails is said, and the other chat still gets its message', async (t) => {
  const requests = await serviceListener(t, (request) => (request.body.includes('"@gone"') ? { status: 400, body: '{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}' } : { status: 200, body: '{"ok":true}' }))
  const { log, text } = captureLogger()
  await notifications('telegram://110201543:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw@telegram?chats=@gone&chats=@backups', undefined, log)!.finished(failure, undefined)
  t.same(requests.map((request) => json(request).chat_id).sort(), ['@backups', '@gone'])
  t.match(text(), /WARN\s+notify: could not send the failure of stack_db's backup to Telegram: 1 of 2 chat\(s\) did not get it: the Telegram request was answered 400 Bad Request: \{"ok":false,"error_code":400,"description":"Bad Request: chat not found"\}/)
  t.notMatch(text(), /AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/)
})
