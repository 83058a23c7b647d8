import type { SessionStore } from '@fastify/session'

type Stored = Parameters<SessionStore['set']>[1]

const MAX_SESSIONS = 10_000

/**
 * The console's sessions, in memory (a restart logs everyone out). Unlike @fastify/session's own
 * MemoryStore, it forgets a session once its cookie has expired, and keeps at most MAX_SESSIONS
 * (the oldest go first), so that logins never pile up in the controller's memory.
 */
export class ExpiringSessions implements SessionStore {
  private readonly sessions = new Map<string, Stored>()

  set(id: string, session: Stored, done: (error?: unknown) => void): void {
    this.sessions.delete(id)
    this.sessions.set(id, session)
    this.prune()
    done()
  }

  get(id: string, done: (error: unknown, session?: Stored | null) => void): void {
    const session = this.sessions.get(id)
    if (session && expired(session)) this.sessions.delete(id)
    done(null, session && !expired(session) ? session : null)
  }

  destroy(id: string, done: (error?: unknown) => void): void {
    this.sessions.delete(id)
    done()
  }

  get size(): number {
    return this.sessions.size
  }

  private prune(): void {
    for (const [id, session] of this.sessions) if (expired(session)) this.sessions.delete(id)
    for (const id of this.sessions.keys()) {
      if (this.sessions.size <= MAX_SESSIONS) break
      this.sessions.delete(id)
    }
  }
}

const expired = (session: Stored) => {
  const expires = (session as { cookie?: { expires?: Date | string | null } }).cookie?.expires
  return expires !== undefined && expires !== null && new Date(expires).getTime() <= Date.now()
}
