import type { Controller } from '../swarm/controller.js'
import type { Config } from '../config/environment.js'
import type { Logger } from '../observe/log.js'
import type { Accounts } from './accounts.js'
import { AuditLog } from './audit.js'
import { controllerBackend, type ConsoleSwarm } from './controller-backend.js'
import { serveConsole } from './server.js'

/** The console of the scheduling controller (CONSOLE_PORT): resolves, once it listens, to what closes it. */
export function startConsole(controller: Controller, swarm: ConsoleSwarm, accounts: Accounts, config: Config, log: Logger, stop: AbortSignal): Promise<() => Promise<void>> {
  return serveConsole({ port: config.console!.port, accounts, audit: new AuditLog(log), backend: controllerBackend(controller, swarm, config, log), log, stop })
}
