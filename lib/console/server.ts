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
import { ConfigError } from '../errors.js'

declare module 'fastify' {
  interface Session {
    user?: string
    role?: Role
    /** When the user logged in (ms): a session ends SESSION_MAX_MS after it, however busy. */
    loginAt?: number
  }
  interface FastifyRequest {
    /** Who asks: a logged-in user or a token; set for every /api/ route but the login. */
    account?: { name: string; role: Role; viaToken: boolean }
  }
}

/** A session ends this long after its login at the latest, as OpenSSH's and most consoles' do. */
const SESSION_MAX_MS = 12 * 60 * 60 * 1000
const IDLE_MS = 30 * 60 * 1000
// The pages, and the one library they use, from the image: a Swarm's manager is often offline.
const HERE = dirname(fileURLToPath(import.meta.url))
// Beside this file in the source tree; the build (dist/lib/console) leaves them in lib/console/web.
const WEB = existsSync(join(HERE, 'web')) ? join(HERE, 'web') : join(HERE, '../../../lib/console/web')
// The browser's build of Preact with htm, beside the one Node's resolution finds.
const PREACT = fileURLToPath(import.meta.resolve('htm/preact/standalone'))

/** The console's web server: the pages, and the JSON API they and scripts use, behind a login. */
export async function buildConsole(options: ConsoleOptions): Promise<FastifyInstance> {
  const { accounts, audit } = options
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
    rolling: true,
    // Not Secure: the console speaks plain HTTP on the backup network ("auto" would weaken SameSite to lax there).
    cookie: { httpOnly: true, sameSite: 'strict', secure: false, path: '/', maxAge: idleMs },
  })
  await app.register(csrf, { sessionPlugin: '@fastify/session', getToken: (request) => request.headers['x-csrf-token'] as string | undefined })
  await app.register(serveStatic, { root: WEB, prefix: '/', index: 'index.html', cacheControl: false })
  app.get('/vendor/preact-htm.js', (_request, reply) => reply.type('text/javascript').sendFile('standalone.module.js', dirname(PREACT)))

  // Nothing the API answers is kept by a browser's or a proxy's cache.
  app.addHook('onSend', async (request, reply) => {
    if (request.url.startsWith('/api/')) reply.header('cache-control', 'no-store')
  })

  app.post<{ Body: { name?: unknown; password?: unknown } }>('/api/session', { config: { rateLimit: { max: 5, timeWindow: '1 minute' } } }, async (request, reply) => {
    const { name, password } = request.body ?? {}
    if (typeof name !== 'string' || typeof password !== 'string') return reply.code(400).send({ error: 'give a name and a password.' })
    const account = await accounts.login(name, password)
    if (!account) {
      audit.record({ who: name, role: '-', action: 'login', target: 'the console', outcome: 'refused (wrong name or password)' })
      return reply.code(401).send({ error: 'wrong name or password.' })
    }
    // A new session ID at login: one planted before it is worth nothing.
    await request.session.regenerate()
    request.session.user = account.name
    request.session.role = account.role
    request.session.loginAt = Date.now()
    audit.record({ who: account.name, role: account.role, action: 'login', target: 'the console', outcome: 'ok' })
    return { name: account.name, role: account.role, csrfToken: reply.generateCsrf() }
  })

  app.addHook('preHandler', (request, reply, done) => {
    if (!request.url.startsWith('/api/') || (request.method === 'POST' && request.url === '/api/session')) return done()
    const authorization = request.headers.authorization
    if (authorization !== undefined) {
      const account = /^Bearer (\S+)$/.exec(authorization) ? accounts.byToken(authorization.slice('Bearer '.length)) : undefined
      if (!account) return void reply.code(401).send({ error: 'the token is not one of CONSOLE_USERS_FILE; make one with rds console-token.' })
      request.account = { name: account.name, role: account.role, viaToken: true }
      return done()
    }
    const { user, role, loginAt } = request.session
    if (!user || !role || !loginAt || Date.now() - loginAt > SESSION_MAX_MS) {
      return void request.session.destroy(() => void reply.code(401).send({ error: 'log in first, or give a token (Authorization: Bearer NAME.SECRET).' }))
    }
    request.account = { name: user, role, viaToken: false }
    // A page's request that changes something carries the session's CSRF token: another site's cannot.
    if (['GET', 'HEAD'].includes(request.method)) return done()
    app.csrfProtection(request, reply, done)
  })

  app.get('/api/session', async (request, reply) => ({ name: request.account!.name, role: request.account!.role, csrfToken: request.account!.viaToken ? undefined : reply.generateCsrf() }))
  app.delete('/api/session', async (request, reply) => {
    await request.session.destroy()
    return reply.code(204).send()
  })
  addApiRoutes(app, options)
  app.setErrorHandler((error: { statusCode?: number; message: string }, request: FastifyRequest, reply: FastifyReply) => {
    const status = error.statusCode ?? 500
    if (status >= 500) options.log.error(`console: ${request.method} ${request.url}: ${error.message}`)
    return reply.code(status).send({ error: status >= 500 ? 'the controller could not answer; its log says why.' : error.message })
  })
  return app
}

/** Serves the console on `port`; resolves, once it listens, to what closes it. */
export async function serveConsole(options: ConsoleOptions & { port: number }): Promise<() => Promise<void>> {
  const app = await buildConsole(options)
  try {
    await app.listen({ port: options.port, host: '0.0.0.0' })
  } catch (error) {
    throw new ConfigError(`CONSOLE_PORT ${options.port} cannot be listened on (${(error as Error).message}); choose a free port.`)
  }
  options.log.info(`console: serving on port ${options.port}`)
  return () => app.close()
}
