import type { FastifyInstance } from 'fastify'
import type { ConsoleOptions } from './backend.js'
import { accountOf } from './http-error.js'

/** A session ends this long after its login at the latest, however busy. */
const SESSION_MAX_MS = 12 * 60 * 60 * 1000

/**
 * The login (POST /api/session), and the hook that lets no other API route answer without a
 * session or a token. The hook goes by the route Fastify matched, never by the address as written
 * (/%61pi/jobs, or an absolute http://host/api/jobs, is the same route).
 */
export function addLogin(app: FastifyInstance, { accounts, audit }: ConsoleOptions): void {
  const isLogin = (method: string, route: string | undefined) => method === 'POST' && route === '/api/session'

  app.post<{ Body: { name?: unknown; password?: unknown } }>('/api/session', { config: { rateLimit: { max: 5, timeWindow: '1 minute' } } }, async (request, reply) => {
    const { name, password } = request.body ?? {}
    if (typeof name !== 'string' || typeof password !== 'string') return reply.code(400).send({ error: 'give a name and a password.' })
    const account = await accounts.login(name, password)
    if (!account) {
      // A name no account has is not written down: it may be a password typed into the wrong field.
      audit.record({ who: accounts.has(name) ? name : '(a name no account has)', role: '-', action: 'login', target: 'the console', outcome: 'refused (wrong name or password)' })
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
    const route = request.routeOptions.url
    if (!route?.startsWith('/api/') || isLogin(request.method, route)) return done()
    const authorization = request.headers.authorization
    if (authorization !== undefined) {
      const account = /^Bearer (\S+)$/.exec(authorization) ? accounts.byToken(authorization.slice('Bearer '.length)) : undefined
      if (!account) return void reply.code(401).send({ error: 'the token is not one of CONSOLE_USERS_FILE; make one with rds console-token.' })
      request.account = { name: account.name, role: account.role, viaToken: true }
      return done()
    }
    // No session at all where the session's cookie does not apply (an absolute address): no login.
    const session = request.session as typeof request.session | undefined
    const { user, role, loginAt } = session ?? {}
    if (!user || !role || !loginAt || Date.now() - loginAt > SESSION_MAX_MS) {
      const refuse = () => void reply.code(401).send({ error: 'log in first, or give a token (Authorization: Bearer NAME.SECRET).' })
      return typeof session?.destroy === 'function' ? void session.destroy(refuse) : refuse()
    }
    request.account = { name: user, role, viaToken: false }
    // A page's request that changes something carries the session's CSRF token: another site's cannot.
    if (['GET', 'HEAD'].includes(request.method)) return done()
    app.csrfProtection(request, reply, done)
  })

  app.get('/api/session', async (request, reply) => {
    const account = accountOf(request)
    return { name: account.name, role: account.role, csrfToken: account.viaToken ? undefined : reply.generateCsrf() }
  })
  app.delete('/api/session', async (request, reply) => {
    accountOf(request)
    await request.session.destroy()
    return reply.code(204).send()
  })
}
