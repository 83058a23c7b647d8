import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { Accounts, parseAccounts, readAccounts } from '../../lib/console/accounts.js'
import { RDS, runBin } from '../fixtures/cli.js'

const dir = await mkdtemp(join(tmpdir(), 'rds-console-accounts-'))
t.teardown(() => rm(dir, { recursive: true, force: true }))

t.test('rds console-user reads the password from stdin and prints a line with its salted hash only; the line logs in with that password alone', async (t) => {
  const password = 'a long enough password'
  const made = await runBin(RDS, ['console-user', 'alice', '--role', 'operator'], {}, { input: `${password}\n` })
  t.equal(made.exitCode, 0, made.stderr)
  t.match(made.stdout, /^user alice operator scrypt\$32768\$8\$1\$\S+\$\S+\n$/)
  t.notMatch(made.stdout + made.stderr, password)
  const again = await runBin(RDS, ['console-user', 'alice', '--role', 'operator'], {}, { input: password })
  t.not(again.stdout, made.stdout, 'a new salt each time')
  const accounts = new Accounts(parseAccounts(`# the console's users\n\n${made.stdout}`, 'users'))
  t.match(await accounts.login('alice', password), { name: 'alice', role: 'operator', kind: 'user' })
  t.equal(await accounts.login('alice', `${password}!`), undefined)
  t.equal(await accounts.login('bob', password), undefined)
  t.equal(accounts.byToken(`alice.${password}`), undefined, "a user's password is no token")
  const short = await runBin(RDS, ['console-user', 'bob'], {}, { input: 'short' })
  t.equal(short.exitCode, 2)
  t.match(short.stderr, /at least 12 characters/)
  const role = await runBin(RDS, ['console-user', 'bob', '--role', 'admin'], {}, { input: password })
  t.equal(role.exitCode, 2)
  t.match(role.stderr, /--role must be "operator" or "read-only", not "admin"/)
})

t.test('rds console-token prints the line on stdout and the token once on stderr; the token, and only it, is the account', async (t) => {
  const made = await runBin(RDS, ['console-token', 'nightly'], {})
  t.equal(made.exitCode, 0, made.stderr)
  t.match(made.stdout, /^token nightly read-only sha256\$[0-9a-f]{64}\n$/)
  const token = /^(nightly\.[A-Za-z0-9_-]{43})\n$/.exec(made.stderr)?.[1]
  t.ok(token, made.stderr)
  t.notMatch(made.stdout, token!.split('.')[1]!, 'the file holds no token')
  const accounts = new Accounts(parseAccounts(made.stdout, 'users'))
  t.match(accounts.byToken(token!), { name: 'nightly', role: 'read-only', kind: 'token' })
  t.equal(accounts.byToken(`${token}x`), undefined)
  t.equal(await accounts.login('nightly', token!.split('.')[1]!), undefined, 'a token logs in no one')
})

t.test('a bad line of CONSOLE_USERS_FILE is refused naming its number, and so are a name twice and a missing file', async (t) => {
  const line = 'user alice operator scrypt$32768$8$1$c2FsdA==$a2V5'
  t.throws(() => parseAccounts(`${line}\nuser bob admin scrypt$1$1$1$a$b`, 'f'), /line 2 of CONSOLE_USERS_FILE \(f\) is not "user NAME ROLE HASH"/)
  t.throws(() => parseAccounts(`user alice operator hunter2`, 'f'), /line 1 of CONSOLE_USERS_FILE/, 'a password in the clear')
  t.throws(() => parseAccounts(`${line}\n${line}`, 'f'), /line 2 of CONSOLE_USERS_FILE \(f\) names alice again/)
  t.throws(() => parseAccounts('# nobody\n', 'f'), /names no user/)
  await t.rejects(readAccounts(join(dir, 'missing')), /CONSOLE_USERS_FILE is .*missing, which does not exist/)
  await writeFile(join(dir, 'users'), `${line}\n`)
  t.ok(await readAccounts(join(dir, 'users')))
})
