import { dirname, join } from 'node:path'
import type { Controller } from '../swarm/controller.js'
import type { Config } from '../config/environment.js'
import type { Logger } from '../observe/log.js'
import type { Accounts } from './accounts.js'
import { AuditLog } from './audit.js'
import { controllerBackend, type ConsoleSwarm } from './controller-backend.js'
import { serveConsole } from './server.js'

/** Where the audit log is kept across restarts: beside STATUS_FILE, on the controller's volume. */
export const auditFileOf = (statusFile: string) => join(dirname(statusFile), 'console-audit.jsonl')

/** The console of the scheduling controller (CONSOLE_PORT): resolves, once it listens, to what closes it. */
export async function startConsole(controller: Controller, swarm: ConsoleSwarm, accounts: Accounts, config: Config, log: Logger, stop: AbortSignal): Promise<() => Promise<void>> {
  const file = config.statusFile && auditFileOf(config.statusFile)
  // A console whose log cannot be kept still serves (backups go on regardless), and says so.
  const audit = file
    ? await AuditLog.open(log, file).catch((error: Error) => (log.warn(`console: the audit log cannot be kept in ${file} (${error.message}); it is kept in memory and the controller's log only`), new AuditLog(log)))
    : new AuditLog(log)
  return serveConsole({ port: config.console!.port, accounts, audit, backend: controllerBackend(controller, swarm, config, log), log, stop })
}
