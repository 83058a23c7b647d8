import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { RDS, runBin } from '../fixtures/cli.js'
import { useServerAndData } from '../fixtures/sftp-server.js'

const fixture = useServerAndData(t)
const rds = (args: string[], env: Record<string, string>) => runBin(RDS, args, env)

t.test('rds health reports the last run recorded in STATUS_FILE', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rds-health-'))
  t.teardown(() => rm(dir, { recursive: true }))
  const statusFile = join(dir, 'status.json')
  const health = () => rds(['health'], { STATUS_FILE: statusFile })
  t.match(await health(), { exitCode: 0, stdout: 'no run has finished yet\n' })

  const env = fixture.server.env(fixture.data, { REPO_PATH: 'health', STATUS_FILE: statusFile })
  t.equal((await rds(['backup'], env)).exitCode, 0)
  t.match(await health(), { exitCode: 0, stdout: /^the last run succeeded at \d{4}-.* \(snapshot [0-9a-f]{8}\)\n$/ })

  const wrong = join(dir, 'wrong')
  await writeFile(wrong, 'wrong\n')
  t.equal((await rds(['backup'], { ...env, RESTIC_REPO_PASSWORD_FILE: wrong })).exitCode, 12)
  t.match(await health(), { exitCode: 1, stdout: /^the last run failed at .* with exit code 12: restic backup failed: the password in RESTIC_REPO_PASSWORD_FILE \(.*wrong\) is wrong/ })

  t.match(await rds(['health'], {}), { exitCode: 2, stderr: /^rds: STATUS_FILE is not set; set it to the file where the agent records its last run/ })
})
