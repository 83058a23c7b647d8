import { mkdir, mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { checkSecretFiles, readSecretFile } from '../../lib/config/secret-files.js'

const KEY = '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n'

t.test('each kind of bad secret file gets its own sentence, and contents never appear', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rds-secrets-'))
  t.teardown(() => import('node:fs/promises').then((fs) => fs.rm(dir, { recursive: true })))
  const key = join(dir, 'key')
  const knownHosts = join(dir, 'known_hosts')
  const password = join(dir, 'password')
  await writeFile(key, KEY)
  await writeFile(knownHosts, '# only a comment\n\n')
  await writeFile(password, 'hunter2-secret\n')
  const files = { sshPrivkeyFile: key, sshKnownHostsFile: knownHosts, passwordFile: password }

  await t.rejects(checkSecretFiles({ ...files, sshPrivkeyFile: join(dir, 'missing') }), {
    name: 'ConfigError',
    message: `SSH_PRIVKEY_FILE is ${join(dir, 'missing')}, which does not exist; create the SSH private key there (usually as a Swarm secret) or point SSH_PRIVKEY_FILE at it.`,
  })
  await t.rejects(checkSecretFiles({ ...files, sshPrivkeyFile: password }), { message: /^SSH_PRIVKEY_FILE is .*, which does not hold a private key/ })
  await t.rejects(checkSecretFiles(files), { message: /^SSH_KNOWN_HOSTS_FILE is .*, which has no host keys; create it from the server's \/etc\/ssh\/host_fingerprints\/known_hosts\.$/ })
  await writeFile(knownHosts, '[server]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample\n')
  await checkSecretFiles(files)

  await writeFile(password, '\n')
  await t.rejects(checkSecretFiles(files), { message: /^RESTIC_REPO_PASSWORD_FILE is .*, which is empty; put the repository password in it\.$/ })
  await mkdir(join(dir, 'a-dir'))
  await t.rejects(readSecretFile('RESTIC_REPO_PASSWORD_FILE', join(dir, 'a-dir'), 'repository password'), { message: /which is a directory/ })
  await writeFile(password, 'hunter2-secret\n')
  t.equal(await readSecretFile('X', password, 'x'), 'hunter2-secret\n')
})
