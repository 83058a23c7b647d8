import t from 'tap'
import { describeKeys, serverAuthorizedKeys } from '../../lib/server/authorized-keys.js'

const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHx agent-1'
const SOURCE = 'AUTHORIZED_KEYS_FILE (/run/secrets/keys)'

t.test('a plain key speaks SFTP: restrict and internal-sftp, as before keys could be confined', async (t) => {
  const { text, keys } = serverAuthorizedKeys(`# agents\n${KEY}\n\n`, SOURCE)
  t.equal(text, `# agents\nrestrict,command="internal-sftp -d /restic" ${KEY}\n`)
  t.same(keys, [{ mode: 'sftp', comment: 'agent-1' }])
})

t.test("a key's own options are kept, after restrict and the SFTP command; quoted commas and spaces stay whole", async (t) => {
  const { text } = serverAuthorizedKeys(`from="10.0.0.1,10.0.0.2",restrict ${KEY}`, SOURCE)
  t.equal(text, `restrict,command="internal-sftp -d /restic",from="10.0.0.1,10.0.0.2" ${KEY}\n`)
})

t.test('rds-serve lines confine a key to its repository, append-only or read-write', async (t) => {
  const { text, keys } = serverAuthorizedKeys(
    [`restrict,command="rds-serve --append-only app/db" ${KEY}`, `command="rds-serve web",from="10.0.0.0/8" ssh-ed25519 AAAAC3Nza`].join('\n'),
    SOURCE,
  )
  t.equal(text, `restrict,command="rds-serve --append-only app/db" ${KEY}\nrestrict,command="rds-serve web",from="10.0.0.0/8" ssh-ed25519 AAAAC3Nza\n`)
  t.same(keys, [
    { mode: 'append-only', repository: 'app/db', comment: 'agent-1' },
    { mode: 'confined', repository: 'web', comment: 'key 2' },
  ])
  t.same(describeKeys(keys), ['agent-1: append-only, repository app/db', 'key 2: confined, repository web'])
})

t.test('any other command, a repository out of bounds, a line that is no key, and an empty list are refused, naming the line', async (t) => {
  t.throws(() => serverAuthorizedKeys(`${KEY}\ncommand="/bin/sh" ${KEY}`, SOURCE), {
    message: 'line 2 of AUTHORIZED_KEYS_FILE (/run/secrets/keys) has the command "/bin/sh", which the server does not run; remove it (the key then speaks SFTP) or write command="rds-serve [--append-only] REPOSITORY" (rds keygen writes such lines).',
    exitCode: 2,
  })
  t.throws(() => serverAuthorizedKeys(`command="rds-serve ../etc" ${KEY}`, SOURCE), { message: /line 1 .* has the command "rds-serve \.\.\/etc"/ })
  t.throws(() => serverAuthorizedKeys(`command="rds-serve a",command="rds-serve b" ${KEY}`, SOURCE), { message: /line 1 /, exitCode: 2 })
  t.throws(() => serverAuthorizedKeys('not a key at all', SOURCE), { message: 'line 1 of AUTHORIZED_KEYS_FILE (/run/secrets/keys) is not a public key (it should start with its options or its type, such as ssh-ed25519); mend or remove it.' })
  t.throws(() => serverAuthorizedKeys('# nothing\n', SOURCE), { message: /holds no public key; add the agents' keys/ })
})
