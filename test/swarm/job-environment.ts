import t from 'tap'
import { jobEnvironment } from '../../lib/swarm/job-environment.js'
import type { SwarmJob } from '../../lib/swarm/discover.js'

const job = (bandwidth?: { upload?: number; download?: number }): SwarmJob =>
  ({ name: 'app_db', service: 'app_db', backup: { repoPath: 'swarm', volumes: [{ name: 'data', source: 'app_data' }], hooks: {}, excludes: [], bandwidth } }) as unknown as SwarmJob

t.test("a service's rds.backup.limit-* replaces the controller's LIMIT_* in its job, and leaves the other", async (t) => {
  const controller = ['SSH_HOST=server', 'LIMIT_UPLOAD=100', 'LIMIT_DOWNLOAD=200']
  t.same(jobEnvironment(job(), controller).filter((variable) => variable.startsWith('LIMIT_')), ['LIMIT_UPLOAD=100', 'LIMIT_DOWNLOAD=200'], 'no labels: the controller\'s')
  t.same(jobEnvironment(job({ upload: 2048 }), controller).filter((variable) => variable.startsWith('LIMIT_')), ['LIMIT_DOWNLOAD=200', 'LIMIT_UPLOAD=2048'])
  t.same(jobEnvironment(job({ download: 50 }), ['SSH_HOST=server']).filter((variable) => variable.startsWith('LIMIT_')), ['LIMIT_DOWNLOAD=50'])
})
