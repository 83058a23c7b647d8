import t from 'tap'
import { readConfig } from '../../lib/config/environment.js'
import { repositoryEnv, repositoryOptions, serverRepository, urlRepository } from '../../lib/restic/repository.js'

const config = readConfig({ SSH_HOST: 'backup@server', SSH_PORT: '2200', REPO_PATH: '/srv/db', RESTIC_REPO_PASSWORD_FILE: '/s/pw' })

t.test('the repository URL names the ssh alias, and the ssh config travels in sftp.args', async (t) => {
  const repository = serverRepository(config, { alias: 'rds-repository-server', configFile: '/tmp/rds-1/ssh_config' })
  t.equal(repository.url, 'sftp:rds-repository-server:/srv/db')
  t.equal(repository.describe, '/srv/db on backup@server:2200')
  t.same(repositoryEnv(repository), { RESTIC_REPOSITORY: 'sftp:rds-repository-server:/srv/db', RESTIC_PASSWORD_FILE: '/s/pw' })
  t.same(repositoryOptions(repository), ['--option', 'sftp.args=-F /tmp/rds-1/ssh_config'])
  t.same(repositoryOptions(repository, '2m'), ['--option', 'sftp.args=-F /tmp/rds-1/ssh_config', '--retry-lock', '2m'])
})

t.test('a config path with spaces is quoted for restic', async (t) => {
  const repository = serverRepository(config, { alias: 'a', configFile: '/tmp/my dir/ssh_config' })
  t.same(repository.options, ['sftp.args=-F "/tmp/my dir/ssh_config"'])
})

t.test("a confined or append-only key: restic's rclone backend runs ssh, and says its mode and repository to the server", async (t) => {
  for (const [mode, args] of [
    ['append-only', 'serve restic --stdio --append-only'],
    ['confined', 'serve restic --stdio'],
  ] as const) {
    const repository = serverRepository({ ...config, serverMode: mode }, { alias: 'rds-repository-server', configFile: '/tmp/my dir/ssh_config' })
    t.equal(repository.url, 'rclone:/srv/db')
    t.equal(repository.describe, `/srv/db on backup@server:2200 (${mode})`)
    t.same(repository.options, ['rclone.program=ssh -F "/tmp/my dir/ssh_config" rds-repository-server', `rclone.args=${args}`])
    t.equal(repository.ssh?.mode, mode)
  }
})

t.test('any restic repository URL, described without its password', async (t) => {
  const repository = urlRepository('rest:https://backup:s3cr3t@rest.example.com:8000/db/', '/s/pw')
  t.equal(repository.describe, 'rest:https://backup:***@rest.example.com:8000/db/')
  t.same(repositoryEnv(repository), { RESTIC_REPOSITORY: 'rest:https://backup:s3cr3t@rest.example.com:8000/db/', RESTIC_PASSWORD_FILE: '/s/pw' })
  t.same(repositoryEnv(repository, 'from'), { RESTIC_FROM_REPOSITORY: 'rest:https://backup:s3cr3t@rest.example.com:8000/db/', RESTIC_FROM_PASSWORD_FILE: '/s/pw' })
  t.same(repositoryOptions(repository), [], 'the URL, with its credentials, is never an argument')
  t.equal(urlRepository('s3:s3.amazonaws.com/bucket/db', '/p').describe, 's3:s3.amazonaws.com/bucket/db')
  t.equal(urlRepository('rest:https://t0ken@host/', '/p').describe, 'rest:https://***@host/', 'a token with no user')
  t.equal(urlRepository('rest:https://user:p@ss@host/', '/p').describe, 'rest:https://user:***@host/', 'a password with an "@" in it')
  t.equal(urlRepository('/srv/restic/db', '/p').ssh, undefined)
})
