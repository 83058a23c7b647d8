import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { execa } from 'execa'
import { readConfig } from '../../lib/config/environment.js'
import { prepareSshTransport, SSH_ALIAS, sshConfigText } from '../../lib/transport/ssh.js'
import { captureLogger } from '../fixtures/log.js'

const KEY = '-----BEGIN OPENSSH PRIVATE KEY-----\nnot-a-real-key\n-----END OPENSSH PRIVATE KEY-----\n'

async function tempDir(t: Test) {
  const dir = await mkdtemp(join(tmpdir(), 'rds-ssh-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

t.test('ssh reads the config as pinning the server and never prompting', async (t) => {
  const dir = await tempDir(t)
  const config = readConfig({ SSH_HOST: 'backup@server.example', SSH_PORT: '2200', REPO_PATH: 'r', SSH_KNOWN_HOSTS_FILE: '/secrets/known hosts%' })
  const configFile = join(dir, 'ssh_config')
  await writeFile(configFile, sshConfigText(config, '/keys/id 100%'))
  // ssh -G prints the configuration ssh would use, as ssh itself parsed it.
  const { stdout } = await execa('ssh', ['-G', '-F', configFile, SSH_ALIAS])
  const effective = new Map(stdout.split('\n').map((line) => [line.slice(0, line.indexOf(' ')), line.slice(line.indexOf(' ') + 1)]))
  t.equal(effective.get('hostname'), 'server.example')
  t.equal(effective.get('port'), '2200')
  t.equal(effective.get('user'), 'backup')
  // -G shows IdentityFile before %-expansion and UserKnownHostsFile after it; either way one path.
  t.equal(effective.get('identityfile'), '/keys/id 100%%')
  t.equal(effective.get('identitiesonly'), 'yes')
  t.equal(effective.get('userknownhostsfile'), '/secrets/known hosts%')
  t.equal(effective.get('globalknownhostsfile'), '/dev/null')
  t.equal(effective.get('stricthostkeychecking'), 'true')
  t.equal(effective.get('batchmode'), 'yes')
  t.equal(effective.get('passwordauthentication'), 'no')
  t.equal(effective.get('kbdinteractiveauthentication'), 'no')
  t.equal(effective.get('serveraliveinterval'), '15')
  t.equal(effective.get('clearallforwardings'), 'yes')
  t.equal(effective.get('forwardagent'), 'no')
})

t.test("any other host (the other end of a restic copy) gets the user's own ssh configuration, none of ours", async (t) => {
  const dir = await tempDir(t)
  const home = join(dir, 'home')
  await mkdir(join(home, '.ssh'), { recursive: true })
  await writeFile(join(home, '.ssh', 'config'), 'Host offsite\n  Port 2299\n  User copier\n')
  const configFile = join(dir, 'ssh_config')
  await writeFile(configFile, sshConfigText(readConfig({ SSH_HOST: 'server', REPO_PATH: 'r' }), '/keys/id'))
  const effective = async (host: string) => (await execa('ssh', ['-G', '-F', configFile, host], { env: { HOME: home } })).stdout
  const offsite = await effective('offsite')
  t.match(offsite, /^port 2299$/m, "the user's ~/.ssh/config applies")
  t.match(offsite, /^user copier$/m)
  t.match(offsite, /^batchmode no$/m, 'our settings do not')
  t.notMatch(offsite, /^identityfile \/keys\/id$/m, 'nor our key')
  t.match(await effective(SSH_ALIAS), /^batchmode yes$/m, 'ours still apply to the repository server')
})

t.test('a private key that others can read is used through a 0600 copy, with a warning', async (t) => {
  const dir = await tempDir(t)
  const state = await tempDir(t)
  const key = join(dir, 'id')
  await writeFile(key, KEY, { mode: 0o444 })
  const config = readConfig({ SSH_HOST: 'h', REPO_PATH: 'r', SSH_PRIVKEY_FILE: key })
  const { log, text } = captureLogger()
  const transport = await prepareSshTransport(config, state, log)
  const written = await readFile(transport.configFile, 'utf8')
  const copy = join(state, 'id_restic')
  t.match(written, `IdentityFile ${copy}`)
  t.equal((await stat(copy)).mode & 0o777, 0o600)
  t.equal((await stat(transport.configFile)).mode & 0o777, 0o600)
  t.equal(await readFile(copy, 'utf8'), KEY)
  t.match(text(), /WARN  SSH_PRIVKEY_FILE .* can be read by other users \(mode 0444\), which ssh refuses; using a private copy with mode 0600/)
  t.notMatch(text(), /not-a-real-key/, 'the key is not logged')
})

t.test('a key with mode 0600 or 0400 is used where it is', async (t) => {
  const dir = await tempDir(t)
  const key = join(dir, 'id')
  await writeFile(key, KEY, { mode: 0o400 })
  const { log, text } = captureLogger()
  const transport = await prepareSshTransport(readConfig({ SSH_HOST: 'h', REPO_PATH: 'r', SSH_PRIVKEY_FILE: key }), dir, log)
  t.match(await readFile(transport.configFile, 'utf8'), `IdentityFile ${key}`)
  t.equal(text(), '')
})
