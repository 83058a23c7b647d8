// Notifications from real runs of rds backup: a local HTTP listener takes the webhook and the
// healthchecks pings, and a real SMTP server (smtp-server) on loopback takes the e-mail, over
// STARTTLS and with a password.
import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { execa } from 'execa'
import { SMTPServer } from 'smtp-server'
import { RDS, runBin } from '../fixtures/cli.js'
import { freePort, useServerAndData } from '../fixtures/sftp-server.js'
import { captureLogger } from '../fixtures/log.js'
import { notifications } from '../../lib/notify/listener.js'
import { Reporter } from '../../lib/observe/reporter.js'

const fixture = useServerAndData(t)
const WEBHOOK_TOKEN = 'webhook-token-not-for-logs'
const SMTP_PASSWORD = 'smtp-password-not-for-logs'

interface Received {
  path: string
  headers: IncomingMessage['headers']
  body: string
}

async function httpListener(t: Test): Promise<{ port: number; received: Received[] }> {
  const received: Received[] = []
  const server = createServer(async (request: IncomingMessage, response) => {
    let body = ''
    for await (const chunk of request) body += chunk
    received.push({ path: request.url ?? '', headers: request.headers, body })
    response.writeHead(request.url?.startsWith('/broken') ? 500 : 200).end(request.url?.startsWith('/broken') ? 'the listener is broken' : 'OK')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return { port: (server.address() as AddressInfo).port, received }
}

async function smtpServer(t: Test, dir: string): Promise<{ port: number; mails: { user?: string; data: string }[]; cert: string }> {
  const key = join(dir, 'smtp.key')
  const cert = join(dir, 'smtp.crt')
  await execa('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost'])
  const mails: { user?: string; data: string }[] = []
  const server = new SMTPServer({
    key: await readFile(key),
    cert: await readFile(cert),
    authMethods: ['PLAIN', 'LOGIN'],
    // smtp-server refuses AUTH before STARTTLS: a mail that arrives proves both.
    onAuth: (auth, _session, done) => (auth.username === 'rds' && auth.password === SMTP_PASSWORD ? done(null, { user: auth.username }) : done(new Error('Invalid username or password'))),
    onData: (stream, session, done) => {
      let data = ''
      stream.on('data', (chunk: Buffer) => (data += chunk.toString()))
      stream.on('end', () => {
        mails.push({ user: session.user as string | undefined, data })
        done()
      })
    },
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return { port: (server.server.address() as AddressInfo).port, mails, cert }
}

t.test('a failure, then a recovery, reach the webhook, the healthchecks check and the mailbox; no secret is logged', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rds-notify-'))
  t.teardown(() => rm(dir, { recursive: true }))
  const http = await httpListener(t)
  const smtp = await smtpServer(t, dir)
  const urls = join(dir, 'notify-urls')
  await writeFile(
    urls,
    [
      `http://127.0.0.1:${http.port}/hook?token=${WEBHOOK_TOKEN}`,
      `hc+http://127.0.0.1:${http.port}/ping/{job}`,
      `smtp://rds:${SMTP_PASSWORD}@localhost:${smtp.port}?from=rds@example.com&to=ops@example.com&to=dba@example.com`,
      `http://127.0.0.1:${http.port}/broken/${WEBHOOK_TOKEN}`,
    ].join('\n'),
  )
  const wrongPassword = join(dir, 'wrong')
  await writeFile(wrongPassword, 'wrong\n')
  const env = fixture.server.env(fixture.data, { REPO_PATH: 'notify', NOTIFY_URLS_FILE: urls, NODE_EXTRA_CA_CERTS: smtp.cert, LOCK_DIR: join(dir, 'locks'), STATUS_FILE: join(dir, 'status.json') })
  const logs: string[] = []
  const backup = async (extra: Record<string, string> = {}) => {
    const run = await runBin(RDS, ['backup'], { ...env, ...extra })
    logs.push(run.stderr)
    return run
  }
  const paths = () => http.received.map((request) => request.path.replace(/\?.*/, '').replace(WEBHOOK_TOKEN, 'TOKEN'))

  const first = await backup()
  t.equal(first.exitCode, 0, first.stderr)
  t.same(paths(), ['/ping/restic-docker-swarm/start', '/ping/restic-docker-swarm'], 'a success pings the check, and by default tells nobody else')
  t.equal(smtp.mails.length, 0)

  http.received.length = 0
  t.equal((await backup({ RESTIC_REPO_PASSWORD_FILE: wrongPassword })).exitCode, 12, 'the notifications do not change the exit code')
  t.same(paths().sort(), ['/broken/TOKEN', '/hook', '/ping/restic-docker-swarm/fail', '/ping/restic-docker-swarm/start'])
  const hook = JSON.parse(http.received.find((request) => request.path.startsWith('/hook'))!.body)
  t.match(hook, { event: 'failure', kind: 'backup', job: 'restic-docker-swarm', ok: false, exitCode: 12, message: /the password in RESTIC_REPO_PASSWORD_FILE .* is wrong/, text: /^\[rds\] FAILED: backup of restic-docker-swarm\n/ })
  t.match(hook.logTail.join('\n'), /ERROR run: failed after/)
  t.match(http.received.find((request) => request.path.endsWith('/fail'))!.body, /The end of its log:\n[\s\S]*is wrong/, 'the failure ping carries the log tail')
  t.equal(smtp.mails.length, 1)
  t.equal(smtp.mails[0]!.user, 'rds', 'the mail came with the password, over TLS')
  t.match(smtp.mails[0]!.data, /Subject: \[rds\] FAILED: backup of restic-docker-swarm/)
  t.match(smtp.mails[0]!.data, /To: ops@example.com, dba@example.com/)

  http.received.length = 0
  t.equal((await backup()).exitCode, 0)
  t.match(JSON.parse(http.received.find((request) => request.path.startsWith('/hook'))!.body), { event: 'recovery', ok: true })
  t.match(smtp.mails[1]!.data, /Subject: \[rds\] recovered: backup of restic-docker-swarm succeeded again/)

  const all = logs.join('')
  t.match(all, /notify: could not send the failure of restic-docker-swarm's backup to webhook http:\/\/127\.0\.0\.1:\d+\/…: the webhook request was answered 500 Internal Server Error: the listener is broken/)
  t.match(all, /notify: sent the failure of restic-docker-swarm's backup to e-mail via localhost:\d+ to ops@example.com, dba@example.com/)
  t.notMatch(all, WEBHOOK_TOKEN)
  t.notMatch(all, SMTP_PASSWORD)
})

t.test('a self-hosted ntfy and Gotify, and a generic webhook, get a failure and a recovery from real runs, in their own requests', async (t) => {
  const http = await httpListener(t)
  const dir = await mkdtemp(join(tmpdir(), 'rds-notify-kinds-'))
  t.teardown(() => rm(dir, { recursive: true }))
  const secrets = ['ntfy-password-secret', 'AGotifyTokenSecret', 'generic-key-secret']
  const urls = join(dir, 'notify-urls')
  await writeFile(
    urls,
    [
      `ntfy://rds:${secrets[0]}@127.0.0.1:${http.port}/backups?scheme=http`,
      `gotify://127.0.0.1:${http.port}/gotify/${secrets[1]}?disabletls=yes`,
      `generic+http://127.0.0.1:${http.port}/generic?template=json&@X-Api-Key=${secrets[2]}&$source=rds&channel=ops`,
    ].join('\n'),
  )
  const wrongPassword = join(dir, 'wrong')
  await writeFile(wrongPassword, 'wrong\n')
  const env = fixture.server.env(fixture.data, { REPO_PATH: 'notify-kinds', NOTIFY_URLS_FILE: urls, LOCK_DIR: join(dir, 'locks'), STATUS_FILE: join(dir, 'status.json') })
  const first = await runBin(RDS, ['backup'], env)
  t.equal(first.exitCode, 0, first.stderr)
  t.same(http.received, [], 'a success is told to none of them by default')
  const failed = await runBin(RDS, ['backup'], { ...env, RESTIC_REPO_PASSWORD_FILE: wrongPassword })
  t.equal(failed.exitCode, 12, failed.stderr)
  const byPath = (path: string) => http.received.filter((request) => request.path.startsWith(path))
  t.match(byPath('/backups')[0], { headers: { authorization: `Basic ${Buffer.from(`rds:${secrets[0]}`).toString('base64')}`, title: '[rds] FAILED: backup of restic-docker-swarm', priority: 'high' }, body: /^Error: restic backup failed: the password in RESTIC_REPO_PASSWORD_FILE .* is wrong[\s\S]*The end of its log:\n/ })
  t.match(byPath('/gotify/message')[0], { headers: { 'x-gotify-key': secrets[1] } })
  t.match(JSON.parse(byPath('/gotify/message')[0]!.body), { title: '[rds] FAILED: backup of restic-docker-swarm', priority: 8 })
  t.match(byPath('/generic')[0], { path: '/generic?channel=ops', headers: { 'x-api-key': secrets[2], 'content-type': 'application/json' } })
  t.match(JSON.parse(byPath('/generic')[0]!.body), { title: '[rds] FAILED: backup of restic-docker-swarm', message: /is wrong/, source: 'rds' })

  const good = await runBin(RDS, ['backup'], env)
  t.equal(good.exitCode, 0, good.stderr)
  t.match(byPath('/backups')[1], { headers: { title: '[rds] recovered: backup of restic-docker-swarm succeeded again', priority: 'default' } })
  t.match(JSON.parse(byPath('/gotify/message')[1]!.body), { title: /^\[rds\] recovered/, priority: 4 })
  t.match(JSON.parse(byPath('/generic')[1]!.body), { title: /^\[rds\] recovered/ })
  const logs = failed.stderr + good.stderr
  t.match(logs, /notify: sent the failure of restic-docker-swarm's backup to ntfy http:\/\/127\.0\.0\.1:\d+\/…\n/)
  t.match(logs, /notify: sent the recovery of restic-docker-swarm's backup to Gotify http:\/\/127\.0\.0\.1:\d+\/…\n/)
  for (const secret of secrets) t.notMatch(logs, secret)
})

t.test('NOTIFY_ON=success tells of every good run; a destination that is down fails nothing', async (t) => {
  const http = await httpListener(t)
  const closed = await freePort()
  const env = fixture.server.env(fixture.data, { REPO_PATH: 'notify-on', NOTIFY_URLS: `http://127.0.0.1:${http.port}/hook, http://127.0.0.1:${closed}/down`, NOTIFY_ON: 'success' })
  const run = await runBin(RDS, ['backup'], env)
  t.equal(run.exitCode, 0)
  t.match(JSON.parse(http.received[0]!.body), { event: 'success', ok: true, snapshot: { id: /^[0-9a-f]{64}$/ } })
  t.match(run.stderr, /WARN\s+notify: could not send the success of restic-docker-swarm's backup to webhook http:\/\/127\.0\.0\.1:\d+\/…: the webhook request failed \(connect ECONNREFUSED 127\.0\.0\.1:\d+\)/)
})

t.test('bad notification settings are refused before anything runs, without the secret', async (t) => {
  const env = fixture.server.env(fixture.data, { REPO_PATH: 'notify-bad' })
  const cases: [Record<string, string>, RegExp][] = [
    [{ NOTIFY_URLS: 'ftp://user:pw-secret@host/x' }, /^rds: NOTIFY_URLS: entry 1 has the scheme "ftp", which is not one of https, http, hc\+https, hc\+http, smtp, smtps, ntfy, gotify, pushover, discord, slack, telegram, teams, teams\+https, generic, generic\+https, generic\+http\.\n$/],
    [{ NOTIFY_URLS: 'discord://pw-secret@123456?colour=red' }, /^rds: NOTIFY_URLS: entry 1 \(Discord\) has the option "colour", which it does not take; it takes username \(docs\/monitoring\.md\)\.\n$/],
    [{ NOTIFY_URLS: 'https://ok.example.com/x, telegram://123:pw-secret@telegram' }, /^rds: NOTIFY_URLS: entry 2 \(Telegram\) names no chat: add \?chats=@CHANNEL or \?chats=CHAT_ID\.\n$/],
    [{ NOTIFY_URLS: 'teams://g@t/a/pw-secret' }, /^rds: NOTIFY_URLS: entry 1 \(Teams\) needs \?host=ORG\.webhook\.office\.com/],
    [{ NOTIFY_URLS: 'gotify://gotify.example.com' }, /^rds: NOTIFY_URLS: entry 1 \(Gotify\) needs a server and an application token: write gotify:\/\/HOST\/TOKEN\.\n$/],
    [{ NOTIFY_URLS: 'generic://h.example.com/pw-secret?template=xml' }, /^rds: NOTIFY_URLS: entry 1 \(generic\) has template=xml; rds sends the text as it is, or with template=json/],
    [{ NOTIFY_URLS: 'slack://pw-secret@channel' }, /^rds: NOTIFY_URLS: entry 1 \(Slack\) is neither a webhook nor a bot token/],
    [{ NOTIFY_URLS: 'ntfy://ntfy.sh/a/pw-secret' }, /^rds: NOTIFY_URLS: entry 1 \(ntfy\) needs a server and one topic/],
    [{ NOTIFY_URLS: 'telegram://123:pw-secret@telegram?chats=@c:abc' }, /^rds: NOTIFY_URLS: entry 1 \(Telegram\) has the chat "@c:abc"; write @CHANNEL, a chat ID, or CHAT_ID:THREAD_ID\.\n$/],
    [{ NOTIFY_URLS: 'generic://h.example.com/pw-secret?Title=x' }, /^rds: NOTIFY_URLS: entry 1 \(generic\) has the option "title", which it does not take: rds writes each notification's own title\.\n$/],
    [{ NOTIFY_URLS: 'ntfy://u:pw-secret%zz@ntfy.sh/t' }, /^rds: NOTIFY_URLS: entry 1 has a % that is not followed by two hex digits; write a % in a password as %25\.\n$/],
    [{ NOTIFY_URLS: 'https://ok.example.com/hook,pw-secret' }, /^rds: NOTIFY_URLS: entry 2 is not a URL; use https:\/\/\.\.\./],
    [{ NOTIFY_URLS: 'smtp://u:pw-secret@mail.example.com' }, /^rds: NOTIFY_URLS: entry 1 \(e-mail to mail\.example\.com\) needs \?from=ADDRESS&to=ADDRESS/],
    [{ NOTIFY_URLS: 'smtp://u:pw-secret@mail.example.com?from=a@b&to=c@d&tls=off' }, /has a password and tls=off; a password is sent only over TLS/],
    [{ NOTIFY_URLS: 'https://x.example.com/pw-secret', NOTIFY_ON: 'failure,sometimes' }, /^rds: NOTIFY_ON names "sometimes"; use a comma-separated list of failure, overdue, recovery and success\.\n$/],
    [{ NOTIFY_URLS: 'https://x.example.com/pw-secret', NOTIFY_URLS_FILE: '/x' }, /^rds: NOTIFY_URLS and NOTIFY_URLS_FILE are both set; keep one/],
    [{ NOTIFY_URLS_FILE: '/nonexistent/urls' }, /^rds: NOTIFY_URLS_FILE is \/nonexistent\/urls, which does not exist/],
  ]
  for (const [extra, expected] of cases) {
    const run = await runBin(RDS, ['backup'], { ...env, ...extra })
    t.equal(run.exitCode, 2, JSON.stringify(extra))
    t.match(run.stderr, expected)
    t.notMatch(run.stderr, 'pw-secret')
    t.notMatch(run.stderr, 'run: starting', 'nothing ran')
  }
})

t.test('a job that goes OVERDUE is told once per episode to the webhook (never to healthchecks, which keeps its own clock), and its next success is a recovery', async (t) => {
  const http = await httpListener(t)
  const dir = await mkdtemp(join(tmpdir(), 'rds-overdue-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const { log, text } = captureLogger()
  const listener = notifications(`http://127.0.0.1:${http.port}/hook, hc+http://127.0.0.1:${http.port}/ping/{job}`, undefined, log)!
  const reporter = new Reporter({ statusFile: join(dir, 'status.json'), listeners: [listener], log })
  await reporter.watch([{ name: 'stack_db', schedule: '0 3 * * *', overdueAfterMs: 60_000 }])
  const start = Date.now()
  await reporter.noticeOverdue(new Date(start + 30_000))
  t.same(http.received, [], 'not yet overdue: nothing sent')
  await reporter.noticeOverdue(new Date(start + 61_000))
  await reporter.noticeOverdue(new Date(start + 120_000))
  t.same(http.received.map((request) => request.path), ['/hook'], 'one notification for the episode, and no healthchecks ping')
  t.match(JSON.parse(http.received[0]!.body), { event: 'overdue', kind: 'backup', job: 'stack_db', ok: false, message: /^no successful backup of stack_db since it was first seen at \S+ \(it has never succeeded\): OVERDUE at \S+ \(OVERDUE_AFTER\)$/ })
  t.match(text(), /ERROR status: stack_db is OVERDUE/)

  const ok = { startedAt: new Date().toISOString(), finishedAt: new Date().toISOString(), ok: true, message: 'backed up', durationSeconds: 1, exitCode: 0 }
  await reporter.finished({ job: 'stack_db', kind: 'backup', outcome: ok })
  t.match(JSON.parse(http.received.find((request) => request.path === '/hook' && request.body.includes('recovery'))!.body), { event: 'recovery', ok: true }, 'the success after it is a recovery')
  const before = http.received.filter((request) => request.path === '/hook').length
  await reporter.noticeOverdue(new Date(Date.now() + 61_000))
  t.equal(http.received.filter((request) => request.path === '/hook').length, before + 1, 'a new episode is told again')
})
