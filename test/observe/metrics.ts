import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { execa } from 'execa'
import { statusMetrics } from '../../lib/observe/metrics.js'
import { RDS, runBin } from '../fixtures/cli.js'
import { freePort, useServerAndData } from '../fixtures/sftp-server.js'

const fixture = useServerAndData(t)

/** The samples of Prometheus' text format, each line checked against the format; throws on any other line. */
function parsePrometheus(text: string): Map<string, number> {
  const samples = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (line === '' || /^# (HELP|TYPE) [a-z_:][a-z0-9_:]* .+$/.test(line)) continue
    const sample = /^([a-z_:][a-z0-9_:]*(?:\{(?:[a-z_][a-z0-9_]*="(?:[^"\\\n]|\\.)*",?)*\})?) (-?[0-9.e+-]+|NaN)$/.exec(line)
    if (!sample) throw new Error(`not Prometheus' text format: ${JSON.stringify(line)}`)
    samples.set(sample[1]!, Number(sample[2]))
  }
  return samples
}

t.test('each job status becomes samples; a job with nothing to say has none', async (t) => {
  const metrics = statusMetrics()
  const text = await metrics.render({
    jobs: {
      app: {
        watchedSince: '2026-01-01T00:00:00.000Z',
        overdueAfterSeconds: 3600,
        lastAttempt: { startedAt: '2026-01-01T03:00:00.000Z', finishedAt: '2026-01-01T03:00:10.000Z', ok: false, exitCode: 1, message: 'x', durationSeconds: 10 },
        lastSuccess: { startedAt: '2026-01-01T02:00:00.000Z', finishedAt: '2026-01-01T02:00:05.000Z', ok: true, message: 'ok', durationSeconds: 5 },
        lastSnapshot: { id: 'a', time: 't', repository: 'r', files: 12, bytesAdded: 3400 },
        snapshots: 4,
        runs: { success: 3, failure: 1 },
      },
      fresh: { watchedSince: '2026-01-01T00:00:00.000Z' },
    },
    repositories: { swarm: { sizeBytes: 123456 } },
  })
  const samples = parsePrometheus(text)
  t.equal(samples.get('rds_last_success_timestamp_seconds{job="app"}'), Date.parse('2026-01-01T02:00:05Z') / 1000)
  t.equal(samples.get('rds_last_run_status{job="app"}'), 0)
  t.equal(samples.get('rds_last_run_duration_seconds{job="app"}'), 10)
  t.equal(samples.get('rds_bytes_added{job="app"}'), 3400)
  t.equal(samples.get('rds_files{job="app"}'), 12)
  t.equal(samples.get('rds_snapshots{job="app"}'), 4)
  t.equal(samples.get('rds_overdue{job="app"}'), 1)
  t.equal(samples.get('rds_runs_total{job="app",result="success"}'), 3)
  t.equal(samples.get('rds_runs_total{job="app",result="failure"}'), 1)
  t.equal(samples.get('rds_repository_size_bytes{repository="swarm"}'), 123456)
  t.equal(samples.get('rds_last_success_timestamp_seconds{job="fresh"}'), undefined, 'never succeeded: no sample, rather than a zero')
  t.equal(samples.get('rds_runs_total{job="fresh",result="success"}'), 0)
  t.match(text, /# TYPE rds_runs_total counter/)
})

t.test('rds agent serves /metrics from STATUS_FILE; the timestamps move after a run', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rds-metrics-'))
  t.teardown(() => rm(dir, { recursive: true }))
  const port = await freePort()
  const env = fixture.server.env(fixture.data, { REPO_PATH: 'metrics', STATUS_FILE: join(dir, 'status.json'), RUN_AT: '0 0 1 1 *', METRICS_PORT: String(port), LOCK_DIR: join(dir, 'locks') })
  const agent = runBin(RDS, ['agent'], env)
  t.teardown(() => void agent.kill())
  const scrape = async () => {
    const curl = await execa('curl', ['-sS', '--fail', `http://127.0.0.1:${port}/metrics`], { reject: false })
    return curl.exitCode === 0 ? parsePrometheus(curl.stdout) : undefined
  }
  let samples: Map<string, number> | undefined
  for (let i = 0; i < 100 && !samples?.has('rds_overdue{job="restic-docker-swarm"}'); i++) {
    await sleep(100)
    samples = await scrape()
  }
  t.equal(samples?.get('rds_overdue{job="restic-docker-swarm"}'), 0, 'the agent is watching the job')
  t.equal(samples?.get('rds_last_success_timestamp_seconds{job="restic-docker-swarm"}'), undefined)

  t.equal((await runBin(RDS, ['backup'], env)).exitCode, 0)
  samples = (await scrape())!
  const first = samples.get('rds_last_success_timestamp_seconds{job="restic-docker-swarm"}')!
  t.ok(Math.abs(first - Date.now() / 1000) < 60, 'the last success is now')
  t.equal(samples.get('rds_last_run_status{job="restic-docker-swarm"}'), 1)
  t.ok(samples.get('rds_files{job="restic-docker-swarm"}')! > 0)
  t.equal(samples.get('rds_snapshots{job="restic-docker-swarm"}'), 1)
  await sleep(1100)
  t.equal((await runBin(RDS, ['backup'], env)).exitCode, 0)
  samples = (await scrape())!
  t.ok(samples.get('rds_last_success_timestamp_seconds{job="restic-docker-swarm"}')! > first, 'it moved with the second run')
  t.equal(samples.get('rds_runs_total{job="restic-docker-swarm",result="success"}'), 2)
  t.equal((await execa('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${port}/`])).stdout, '404')

  const taken = await runBin(RDS, ['agent'], env)
  t.equal(taken.exitCode, 2)
  t.match(taken.stderr, new RegExp(`METRICS_PORT ${port} cannot be listened on \\(listen EADDRINUSE[^)]*\\); choose a free port\\.`))
  agent.kill('SIGTERM')
  t.equal((await agent).exitCode, 0)
  t.match(await runBin(RDS, ['agent'], { ...env, STATUS_FILE: '' }), { exitCode: 2, stderr: /METRICS_PORT is set but STATUS_FILE is not/ })
})
