import { posix } from 'node:path'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { ConsoleBackend } from './backend.js'
import { accountOf, HttpError } from './http-error.js'
import { RunError } from '../errors.js'
import type { Logger } from '../observe/log.js'
import type { Restic } from '../restic/command.js'
import { resolveSnapshot, type SnapshotInfo } from '../restic/snapshots.js'

/** A request about one job: /api/jobs/JOB/..., with a snapshot and a path in its query or body. */
export type JobRequest = FastifyRequest<{ Params: { job: string }; Querystring: { snapshot?: string; path?: string }; Body: { snapshot?: unknown; confirm?: unknown; toNode?: unknown } | undefined }>

const SNAPSHOT_ID = /^[0-9a-f]{8,64}$/

export const noSuchJob = (job: string) => new HttpError(404, `there is no job ${job}; GET /api/jobs lists them.`)

/** What the routes ask of a job's request: its repository, its snapshot, a path in it, and who may. */
export function jobRequests(backend: ConsoleBackend, log: Logger) {
  const resticOf = (request: JobRequest): Restic => {
    const restic = backend.resticOf(request.params.job)
    if (!restic) throw noSuchJob(request.params.job)
    return restic
  }
  return {
    resticOf,
    /** The job's snapshot the query (or the body) names, by its ID; never another job's. */
    async snapshotOf(request: JobRequest, id = request.query.snapshot ?? ''): Promise<SnapshotInfo> {
      if (!SNAPSHOT_ID.test(id)) throw new HttpError(400, 'give snapshot=ID, an ID of 8 to 64 hexadecimal digits from GET /api/jobs/JOB.')
      const missing = new HttpError(404, `job ${request.params.job} has no snapshot ${id}.`)
      const snapshot = await resolveSnapshot(resticOf(request), { snapshot: id }, log).catch((error: Error) => {
        throw error instanceof RunError && error.message.startsWith('there is no snapshot') ? missing : error
      })
      // restic finds an ID whatever --host says: the repository's other jobs' snapshots are not this job's to show.
      if (snapshot.hostname !== request.params.job) throw missing
      return snapshot
    },
    pathOf(request: JobRequest, snapshot: SnapshotInfo): string {
      const path = request.query.path ?? snapshot.paths[0] ?? '/'
      if (!path.startsWith('/') || path.includes('\0') || posix.normalize(path) !== path) throw new HttpError(400, `path must be an absolute path such as ${snapshot.paths[0] ?? '/'}, not ${JSON.stringify(path)}.`)
      return path
    },
    /** The operator who asks; a 403 for a read-only account. */
    operator(request: FastifyRequest) {
      const account = accountOf(request)
      if (account.role !== 'operator') throw new HttpError(403, `${account.name} is read-only; an operator may do this.`)
      return account
    },
  }
}

/**
 * Aborted when the asker goes away before the answer is whole (a browser leaves the page, a script
 * is stopped), or the console closes: restic, stopped, removes its lock rather than list on for no one.
 */
export function whileAsked(reply: FastifyReply, stop: AbortSignal): AbortSignal {
  const gone = new AbortController()
  reply.raw.on('close', () => reply.raw.writableFinished || gone.abort())
  return AbortSignal.any([gone.signal, stop])
}

/** restic's "not in snapshot" as a 404; any other failure as it is. */
export const notInSnapshot = (error: Error) => {
  throw error instanceof RunError && / is not in snapshot /.test(error.message) ? new HttpError(404, error.message) : error
}
