import { hostname } from 'node:os'
import type { Config } from '../config/environment.js'
import { readSecretFile } from '../config/secret-files.js'
import { ConfigError } from '../errors.js'
import type { Logger } from '../observe/log.js'
import type { RunKind, RunListener, RunReport } from '../observe/run-report.js'
import type { Outcome } from '../observe/status.js'
import type { Notification, NotifyEvent } from './message.js'
import type { Notifier } from './notifier.js'
import { notifierFor } from './schemes.js'

export const NOTIFY_EVENTS: NotifyEvent[] = ['failure', 'overdue', 'recovery', 'success']

/** The listener that sends notifications where NOTIFY_URLS (or NOTIFY_URLS_FILE) says; none when neither is set. */
export async function notificationsFrom(notify: Config['notify'], log: Logger): Promise<RunListener | undefined> {
  const urls = notify.urlsFile ? await readSecretFile('NOTIFY_URLS_FILE', notify.urlsFile, 'notification URLs') : notify.urls
  return notifications(urls, notify.on, log)
}

/** Reads NOTIFY_URLS (separated by commas or lines) and NOTIFY_ON into the listener that sends notifications. */
export function notifications(urls: string | undefined, notifyOn: string | undefined, log: Logger): RunListener | undefined {
  const notifiers = (urls ?? '').split(/[,\n]/).map((url) => url.trim()).filter(Boolean).map(notifierFor)
  if (notifiers.length === 0) return undefined
  const events = (notifyOn ?? 'failure,overdue,recovery').split(',').map((event) => event.trim()).filter(Boolean)
  for (const event of events) {
    if (!NOTIFY_EVENTS.includes(event as NotifyEvent)) throw new ConfigError(`NOTIFY_ON names "${event}"; use a comma-separated list of failure, overdue, recovery and success.`)
  }
  log.info(`notify: ${notifiers.map((notifier) => notifier.describe).join(', ')} on ${events.join(', ')}`)
  return new NotifyingListener(notifiers, new Set(events as NotifyEvent[]), log)
}

/** Sends each run's notification to every destination at once; a failing one is logged, never fatal. */
class NotifyingListener implements RunListener {
  private readonly agent = hostname()

  constructor(
    private readonly notifiers: Notifier[],
    private readonly events: Set<NotifyEvent>,
    private readonly log: Logger,
  ) {}

  /**
   * A destination's name where it is owed a notification: its place in NOTIFY_URLS and its
   * description, which alone may name two (two webhooks of one host; a URL's path is never said).
   */
  private nameOf(notifier: Notifier): string {
    return `${this.notifiers.indexOf(notifier) + 1}. ${notifier.describe}`
  }

  /** Sends to each notifier; resolves to the names of those that did not get it (a failure is logged, never thrown). */
  private async each(notifiers: Notifier[], what: string, send: (notifier: Notifier) => Promise<void>): Promise<string[]> {
    const failed = await Promise.all(
      notifiers.map((notifier) =>
        send(notifier).then(
          () => (this.log.info(`notify: sent ${what} to ${notifier.describe}`), []),
          (error: Error) => (this.log.warn(`notify: could not send ${what} to ${notifier.describe}: ${error.message}`), [this.nameOf(notifier)]),
        ),
      ),
    )
    return failed.flat()
  }

  async started(job: string, kind: RunKind): Promise<void> {
    await this.each(this.notifiers.filter((notifier) => notifier.started), `the start of ${job}'s ${kind}`, (notifier) => notifier.started!(job, kind))
  }

  async finished(report: RunReport, previous: Outcome | undefined): Promise<void> {
    const event: NotifyEvent = !report.outcome.ok ? 'failure' : (previous && !previous.ok) || report.endsOverdue ? 'recovery' : 'success'
    const wanted = this.notifiers.filter((notifier) => notifier.everyRun || this.events.has(event))
    const notification: Notification = { event, report, agent: this.agent }
    await this.each(wanted, `the ${event} of ${report.job}'s ${report.kind}`, (notifier) => notifier.send(notification))
  }

  // Not to the notifiers of every run (healthchecks.io): their service keeps its own clock.
  async overdue(report: RunReport, to?: string[]): Promise<string[]> {
    if (!this.events.has('overdue')) return []
    const every = this.notifiers.filter((notifier) => !notifier.everyRun)
    const named = every.filter((notifier) => to?.includes(this.nameOf(notifier)))
    // Names that match none: NOTIFY_URLS changed since; told to every destination rather than to none.
    const wanted = to && named.length > 0 ? named : every
    const notification: Notification = { event: 'overdue', report, agent: this.agent }
    return this.each(wanted, `that ${report.job} is OVERDUE`, (notifier) => notifier.send(notification))
  }
}
