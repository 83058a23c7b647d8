import { recordsAttempts, type RunKind } from '../observe/run-report.js'
import { textOf, type Notification } from './message.js'
import { post, publicPart, type Notifier } from './notifier.js'

/** healthchecks.io keeps at most 100 kB of a ping's body. */
const MAX_BODY = 100_000

/**
 * A healthchecks.io-style check (hc+https://hc-ping.com/UUID, or a self-hosted one): pinged at the
 * start of every backup, at its success, and at its failure (URL/fail) with the log's tail, so that
 * the service raises the alarm also when no run happens at all. `{job}` in the URL is replaced by
 * the job's name: one check per job (with a ping key: hc+https://hc-ping.com/KEY/{job}).
 */
export function healthchecksPinger(url: URL): Notifier {
  const base = url.href.replace(/^hc\+/, '')
  const ping = (job: string, suffix: string, body?: string) => {
    const target = new URL(base.replaceAll('%7Bjob%7D', encodeURIComponent(job)).replaceAll('{job}', encodeURIComponent(job)))
    target.pathname = `${target.pathname.replace(/\/$/, '')}${suffix}`
    return post(target, { body: body?.slice(-MAX_BODY) }, 'ping')
  }
  return {
    describe: `healthchecks ${publicPart(new URL(base))}`,
    everyRun: true,
    // Only backups: a check or a drill is not the run the check's schedule expects.
    started: async (job: string, kind: RunKind) => {
      if (recordsAttempts(kind)) await ping(job, '/start')
    },
    send: async (notification: Notification) => {
      const { report } = notification
      if (recordsAttempts(report.kind)) await ping(report.job, report.outcome.ok ? '' : '/fail', textOf(notification))
      else if (!report.outcome.ok) await ping(report.job, '/fail', textOf(notification))
    },
  }
}
