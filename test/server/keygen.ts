import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { serverAuthorizedKeys } from '../../lib/server/authorized-keys.js'
import { RDS, runBin } from '../fixtures/cli.js'

const env = { PATH: process.env.PATH ?? '/usr/bin:/bin' }

async function keysDir(t: { teardown: (f: () => Promise<void>) => void }) {
  const dir = await mkdtemp(join(tmpdir(), 'rds-keygen-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

t.test('rds keygen: a key pair, its line added to the authorized keys, and the commands to run next', async (t) => {
  const dir = await keysDir(t)
  await writeFile(join(dir, 'authorized_keys'), 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOld old-agent\n')
  const made = await runBin(RDS, ['keygen', '--repository', 'app/db', '--dir', dir], env)
  t.equal(made.exitCode, 0, made.stderr)
  const publicKey = (await readFile(join(dir, 'rds-agent-app-db.pub'), 'utf8')).trim()
  t.match(publicKey, /^ssh-ed25519 \S+ rds-agent-app-db$/)
  t.equal((await stat(join(dir, 'rds-agent-app-db'))).mode & 0o777, 0o600, 'the private key is private')
  const line = `restrict,command="rds-serve --append-only app/db" ${publicKey}`
  t.equal(await readFile(join(dir, 'authorized_keys'), 'utf8'), `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOld old-agent\n${line}\n`, 'the line is added, the old keys kept')
  t.same(serverAuthorizedKeys(await readFile(join(dir, 'authorized_keys'), 'utf8'), 'x').keys.map((key) => key.mode), ['sftp', 'append-only'], 'the server accepts the file')
  t.match(made.stdout, line)
  t.match(made.stdout, `docker secret create rds-agent-app-db ${join(dir, 'rds-agent-app-db')}`)
  t.match(made.stdout, new RegExp(`docker secret create (restic-ssh-authorized-keys-\\d{14}) ${join(dir, 'authorized_keys')}\\n`))
  t.match(made.stdout, /docker service update --detach=false --secret-rm "\$restic_ssh_authorized_keys" --secret-add source=restic-ssh-authorized-keys-\d{14},target=restic-ssh-authorized-keys backup_server\n/)
  t.match(made.stdout, /--secret-add source=rds-agent-app-db,target=restic-ssh-privkey,mode=0400 --env-add SERVER_MODE=append-only --env-add REPO_PATH=app\/db --env-rm KEEP_LAST .* --env-rm PRUNE backup_agent\n/)
  t.notMatch(made.stdout, /PRIVATE KEY/, 'the private key is never printed')

  const again = await runBin(RDS, ['keygen', '--repository', 'app/db', '--dir', dir], env)
  t.equal(again.exitCode, 2)
  t.match(again.stderr, /rds-agent-app-db exists already; choose another --name, or remove it first\./)
})

t.test('confined and SFTP keys; bad input is refused and leaves nothing behind', async (t) => {
  const dir = await keysDir(t)
  const confined = await runBin(RDS, ['keygen', '--repository', 'web', '--mode', 'confined', '--name', 'web-key', '--dir', dir, '--server-service', 'prod_server'], env)
  t.equal(confined.exitCode, 0, confined.stderr)
  t.match(confined.stdout, /^restrict,command="rds-serve web" ssh-ed25519 \S+ web-key\n/)
  t.match(confined.stdout, / prod_server\n/)
  t.match(confined.stdout, /--env-add SERVER_MODE=confined --env-add REPO_PATH=web backup_agent\n/, 'a confined agent keeps its retention')
  const sftp = await runBin(RDS, ['keygen', '--mode', 'sftp', '--dir', dir], env)
  t.equal(sftp.exitCode, 0, sftp.stderr)
  t.match(sftp.stdout, /^ssh-ed25519 \S+ rds-agent-sftp\n/)
  t.match(sftp.stdout, /--env-add SERVER_MODE=sftp backup_agent\n/)

  for (const [args, message] of [
    [['--repository', '../etc'], /--repository must be a path under the server's repositories such as "app\/db", not "\.\.\/etc"\./],
    [[], /--repository is needed for an append-only key/],
    [['--repository', 'db', '--mode', 'delete-all'], /--mode must be "append-only", "confined" or "sftp", not "delete-all"\./],
    [['--repository', 'db', '--name', 'a b'], /--name must be a Swarm secret name/],
  ] as const) {
    const refused = await runBin(RDS, ['keygen', ...args, '--dir', dir, '--authorized-keys', 'other'], env)
    t.equal(refused.exitCode, 2, args.join(' '))
    t.match(refused.stderr, message)
  }
  await t.rejects(stat(join(dir, 'other')), 'no authorized keys file was made')
  await t.rejects(stat(join(dir, 'rds-agent-..-etc')), 'no key was made')
})
