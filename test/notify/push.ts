// ntfy, Gotify and Pushover each get a failure (high priority) and a recovery (the default one) in
// the request their API expects (a local listener stands in for the service); no token is logged.
import t, { type Test } from 'tap'
import { notifications } from '../../lib/notify/listener.js'
import { captureLogger } from '../fixtures/log.js'
import { failureAndRecovery, serviceListener } from '../fixtures/notify-services.js'

const { failure, recovery, failed } = failureAndRecovery()

async function failThenRecover(t: Test, url: string) {
  const requests = await serviceListener(t)
  const { log, text } = captureLogger()
  const listener = notifications(url, undefined, log)!
  await listener.finished(failure, undefined)
  await listener.finished(recovery, failed)
  t.equal(requests.length, 2, 'a failure and a recovery')
  return { requests, log: text() }
}

t.test('ntfy: the text to the topic, with a title, a priority and tags in headers, and the access token as a password', async (t) => {
  const { requests, log } = await failThenRecover(t, 'ntfy://:tk_ntfytokensecret@ntfy.sh/rds-alerts-topicsecret')
  t.match(requests[0], {
    method: 'POST',
    host: 'ntfy.sh',
    path: '/rds-alerts-topicsecret',
    headers: { authorization: `Basic ${Buffer.from(':tk_ntfytokensecret').toString('base64')}`, title: '[rds] FAILED: backup of stack_db', priority: 'high', tags: 'warning' },
  })
  t.match(requests[0]!.body, /^Error: the password in RESTIC_REPO_PASSWORD_FILE is wrong\n[\s\S]*the password is wrong\n$/)
  t.ok(Buffer.byteLength(requests[0]!.body) <= 4_096, 'under ntfy\'s message size, so not made an attachment')
  t.match(requests[1], { headers: { title: '[rds] recovered: backup of stack_db succeeded again', priority: 'default' } })
  t.match(log, /sent the failure of stack_db's backup to ntfy https:\/\/ntfy\.sh\/…/)
  t.notMatch(log, /tokensecret|topicsecret/)
})

t.test('Gotify: JSON with title, message and priority to /message under its path, the token in its header', async (t) => {
  const { requests, log } = await failThenRecover(t, 'gotify://gotify.example.com:8443/sub/path/AppTokenSecret')
  t.match(requests[0], { method: 'POST', host: 'gotify.example.com:8443', path: '/sub/path/message', headers: { 'x-gotify-key': 'AppTokenSecret', 'content-type': 'application/json' } })
  t.match(JSON.parse(requests[0]!.body), { title: '[rds] FAILED: backup of stack_db', message: /^Error: /, priority: 8 })
  t.match(JSON.parse(requests[1]!.body), { title: /^\[rds\] recovered/, priority: 4 })
  t.notMatch(log, /AppTokenSecret/)
})

t.test('Pushover: a form with token, user, title, a message of at most 1,024 characters, priority and devices', async (t) => {
  const { requests, log } = await failThenRecover(t, 'pushover://shoutrrr:pushoverapptokensecret@pushoveruserkeysecret/?devices=phone&devices=tablet')
  t.match(requests[0], { method: 'POST', host: 'api.pushover.net', path: '/1/messages.json', headers: { 'content-type': 'application/x-www-form-urlencoded' } })
  const form = new URLSearchParams(requests[0]!.body)
  t.same(
    { token: form.get('token'), user: form.get('user'), title: form.get('title'), priority: form.get('priority'), device: form.get('device') },
    { token: 'pushoverapptokensecret', user: 'pushoveruserkeysecret', title: '[rds] FAILED: backup of stack_db', priority: '1', device: 'phone,tablet' },
  )
  t.ok(form.get('message')!.length <= 1_024 && form.get('message')!.endsWith('the password is wrong\n'), 'cut to Pushover\'s limit, the last log line kept')
  t.equal(new URLSearchParams(requests[1]!.body).get('priority'), '0')
  t.notMatch(log, /secret/)
})

t.test('ntfy: a log of many bytes a character (non-ASCII) is still cut under 4,096 bytes', async (t) => {
  const requests = await serviceListener(t)
  const wide = { ...failure, logTail: Array.from({ length: 200 }, (_, i) => `ERROR  restic: Datei “Übersicht-${i}.odt” – 読み取りエラー`) }
  await notifications('ntfy://ntfy.sh/rds-alerts', undefined, captureLogger().log)!.finished(wide, undefined)
  t.ok(Buffer.byteLength(requests[0]!.body) <= 4_096, `${Buffer.byteLength(requests[0]!.body)} bytes`)
  t.match(requests[0]!.body, /読み取りエラー\n$/, 'ending with the last line')
})
