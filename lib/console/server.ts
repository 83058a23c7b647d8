import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import cookie from '@fastify/cookie'
import session from '@fastify/session'
import csrf from '@fastify/csrf-protection'
import helmet from '@fastify/helmet'
import rateLimit from '@fastify/rate-limit'
import serveStatic from '@fastify/static'
import type { Role } from './accounts.js'
import type { ConsoleOptions } from './backend.js'
import { addApiRoutes } from './api.js'
import { Actions } from './actions.js'
import { addLogin } from './login.js'
import { ExpiringSessions } from './session-store.js'
import { ConfigError } from '../errors.js'

declare module 'fastify' {
  interface Session {
    user?: string
    role?: Role
    /** When the user logged in (ms): a session ends 12 hours after it, however busy (login.ts). */
    loginAt?: number
  }
  interface FastifyRequest {
    /** Who asks: a logged-in user or a token; set for every /api/ route but the login. */
    account?: { name: string; role: Role; viaToken: boolean }
  }
  interface FastifyContextConfig {
    /** The action a route starts, as the audit log names it: its refusals are logged too (api.ts). */
    audited?: string
  }
}

const IDLE_MS = 30 * 60 * 1000
// The pages, and the one library they use, from the image: a Swarm's manager is often offline.
const HERE = dirname(fileURLToPath(import.meta.url))
// Beside this file in the source tree; the build (dist/lib/console) leaves them in lib/console/web.
const WEB = existsSync(join(HERE, 'web')) ? join(HERE, 'web') : join(HERE, '../../../lib/console/web')
// The browser's build of Preact with htm, beside the one Node's resolution finds.
const PREACT = fileURLToPath(import.meta.resolve('htm/preact/standalone'))

/** The console's web server: the pages, and the JSON API they and scripts use, behind a login. */
export async function buildConsole(options: ConsoleOptions): Promise<FastifyInstance> {
  const idleMs = options.idleMs ?? IDLE_MS
  const app = Fastify({ logger: false, bodyLimit: 64 * 1024 })
  await app.register(helmet, {
    contentSecurityPolicy: { directives: { defaultSrc: ["'self'"], scriptSrc: ["'self'"], styleSrc: ["'self'"], imgSrc: ["'self'", 'data:'], connectSrc: ["'self'"], frameAncestors: ["'none'"], formAction: ["'self'"], upgradeInsecureRequests: null } },
    // The console is plain HTTP on the backup network (or behind a proxy that adds TLS): nothing is
    // upgraded to HTTPS, and the headers a browser ignores without HTTPS are not sent.
    hsts: false,
    crossOriginOpenerPolicy: false,
    referrerPolicy: { policy: 'no-referrer' },
  })
  await app.register(rateLimit, { global: false })
  await app.register(cookie)
  // The secret signs the session's cookie; a new one at each start ends the sessions of the last.
  await app.register(session, {
    secret: randomBytes(32).toString('base64'),
    cookieName: 'rds_session',
    saveUninitialized: false,
    store: new ExpiringSessions(),
    rolling: true,
    // Not Secure: the console speaks plain HTTP on the backup network ("auto" would weaken SameSite to lax there).
    cookie: { httpOnly: true, sameSite: 'strict', secure: false, path: '/', maxAge: idleMs },
  })
  await app.register(csrf, { sessionPlugin: '@fastify/session', getToken: (request) => request.headers['x-csrf-token'] as string | undefined })
  await app.register(serveStatic, { root: WEB, prefix: '/', index: 'index.html', cacheControl: false })
  app.get('/vendor/preact-htm.js', (_request, reply) => reply.type('text/javascript').sendFile('standalone.module.js', dirname(PREACT)))

  // Nothing the API answers is kept by a browser's or a proxy's cache.
  app.addHook('onSend', async (request, reply) => {
    if (request.routeOptions.url?.startsWith('/api/') || request.url.startsWith('/api/')) reply.header('cache-control', 'no-store')
  })

  addLogin(app, options)
  // Closing the console (the controller stops, or loses its lease) stops its downloads and actions,
  // and waits for their ends to be logged; a restore cut off is left stopped and marked, as the CLI's.
  const closing = new AbortController()
  const stop = AbortSignal.any([closing.signal, ...(options.stop ? [options.stop] : [])])
  const actions = new Actions(options.audit, stop)
  app.addHook('preClose', async () => {
    closing.abort()
    await actions.settled()
    await options.audit.written()
  })
  addApiRoutes(app, options, actions, stop)
  app.setErrorHandler((error: { statusCode?: number; message: string }, request: FastifyRequest, reply: FastifyReply) => {
    // A bad value in a request (a node that is not lost, say) is the asker's to mend, as on the command line.
    const status = error instanceof ConfigError ? 400 : (error.statusCode ?? 500)
    // An asker who left (a page closed while restic listed) made restic stop: nothing failed.
    if (status >= 500 && !request.raw.socket?.destroyed) options.log.error(`console: ${request.method} ${request.url}: ${error.message}`)
    const action = request.routeOptions.config?.audited
    if (action && request.account) {
      const { name, role } = request.account
      const outcome = status >= 500 ? 'failed: the controller could not answer; its log says why' : `refused: ${error.message}`
      options.audit.refused({ who: name, role, action, target: targetOf(request), outcome })
    }
    return reply.code(status).send({ error: status >= 500 ? 'the controller could not answer; its log says why.' : error.message })
  })
  return app
}

/** What an action of the API was asked for: its job, stack or node. */
function targetOf(request: FastifyRequest): string {
  const params = (request.params ?? {}) as { job?: string; stack?: string }
  const node = (request.body as { node?: unknown } | undefined)?.node
  return params.job ?? (params.stack ? `stack ${params.stack}` : typeof node === 'string' ? `node ${node}` : '')
}

/** Serves the console on `port`; resolves, once it listens, to what closes it. */
export async function serveConsole(options: ConsoleOptions & { port: number }): Promise<() => Promise<void>> {
  const app = await buildConsole(options)
  try {
    await app.listen({ port: options.port, host: '0.0.0.0' })
  } catch (error) {
    await app.close()
    throw new ConfigError(`CONSOLE_PORT ${options.port} cannot be listened on (${(error as Error).message}); choose a free port.`)
  }
  options.log.info(`console: serving on port ${options.port}`)
  return () => app.close()
}
