import t from 'tap'
import { readConfig } from '../../lib/config/environment.js'
import { RunError } from '../../lib/errors.js'
import { serverRepository } from '../../lib/restic/repository.js'
import { resticFailure } from '../../lib/restic/errors.js'

const repository = serverRepository(readConfig({ SSH_HOST: 'backup', REPO_PATH: 'db' }), {
  alias: 'rds-repository-server',
  configFile: '/tmp/x/ssh_config',
})
const fatal = 'Fatal: unable to open repository at sftp:rds-repository-server:db: unable to start the sftp session, error: EOF'

// These stderr lines are what ssh and restic 0.18 print; test/cli/rds.ts provokes the real ones.
const cases: [string, number, string[], RegExp][] = [
  ['host key changed', 1, ['@@@@@@@@@@@', '@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @', 'Host key verification failed.', fatal], /presented a host key that does not match SSH_KNOWN_HOSTS_FILE \(\/run\/secrets\/restic-ssh-known-hosts\); refusing to connect/],
  ['host unknown', 1, ['No ED25519 host key is known for [backup]:2222 and you have requested strict checking.', 'Host key verification failed.', fatal], /SSH_KNOWN_HOSTS_FILE \(\/run\/secrets\/restic-ssh-known-hosts\) has no host key for the SSH server restic@backup:2222/],
  ['key refused', 1, ['restic@backup: Permission denied (publickey).', fatal], /refused the key in SSH_PRIVKEY_FILE \(\/run\/secrets\/restic-ssh-privkey\)/],
  ['unreachable', 1, ['ssh: connect to host backup port 2222: Connection refused', fatal], /cannot reach the SSH server restic@backup:2222 \(connect to host backup port 2222: Connection refused\); check SSH_HOST and SSH_PORT/],
  ['unknown host', 1, ['ssh: Could not resolve hostname backup: Name or service not known', fatal], /cannot reach the SSH server .*Could not resolve hostname/],
  ['incomplete', 3, ['error: /backup/secret: open /backup/secret: permission denied', 'Warning: at least one source file could not be read'], /saved an incomplete snapshot/],
  ['no repository', 10, ['Fatal: repository does not exist'], /there is no repository at db on restic@backup:2222/],
  ['locked', 11, ['Fatal: unable to create lock in backend: repository is already locked'], /is locked by another restic process; .*runrestic unlock/],
  ['wrong password', 12, ['Fatal: wrong password or no key found'], /the password in RESTIC_REPO_PASSWORD_FILE \(\/run\/secrets\/restic-repo-password\) is wrong for the repository db on restic@backup:2222/],
  ['interrupted', 130, ['signal terminated received, cleaning up'], /was interrupted before it finished/],
  ['other', 1, ['some detail', 'Fatal: unable to save snapshot: disk full', 'trailing line'], /^restic backup failed with exit code 1: unable to save snapshot: disk full\.$/],
  ['silent', 1, [], /failed with exit code 1: restic printed no reason/],
]

for (const [name, code, stderr, message] of cases) {
  t.test(name, async (t) => {
    const error = resticFailure('backup', code, stderr, repository)
    t.type(error, RunError)
    t.match(error.message, message)
    t.equal(error.exitCode, [3, 10, 11, 12, 130].includes(code) ? code : 1)
    t.notMatch(error.message, /\n/, 'one line')
  })
}

t.test("restic's own exit codes win over ssh lines printed on the way", async (t) => {
  const lines = ['Connection closed by 10.0.0.5 port 2222', 'Fatal: wrong password or no key found']
  t.match(resticFailure('backup', 12, lines, repository), { exitCode: 12, message: /the password in RESTIC_REPO_PASSWORD_FILE .* is wrong/ })
  t.match(resticFailure('forget', 11, ['Connection reset by peer', 'Fatal: repository is already locked'], repository), { exitCode: 11, message: /is locked by another restic process/ })
  t.match(resticFailure('backup', 1, ['Save(<data/1a2b>) failed: connection lost', 'Fatal: unable to save snapshot: connection lost'], repository), {
    exitCode: 1,
    message: /^restic backup failed: the connection to the SSH server restic@backup:2222 was lost during the run \(.*connection lost\); check that the server is running and has free disk space\.$/,
  })
})

t.test('ssh diagnosis is only for SFTP repositories', async (t) => {
  const local = { ...repository, ssh: undefined }
  t.match(resticFailure('init', 1, ['Permission denied (publickey).'], local).message, /^restic init failed with exit code 1: Permission denied/)
})
