import { posix } from 'node:path'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { ConsoleOptions } from './backend.js'
import { Actions } from './actions.js'
import { RunError } from '../errors.js'
import { runRestic } from '../restic/command.js'
import { dumpArgs, listPath, resolveSnapshot, snapshotsOfHost, type SnapshotInfo, type SnapshotNode } from '../restic/snapshots.js'

type JobRequest = FastifyRequest<{ Params: { job: string }; Querystring: { snapshot?: string; path?: string }; Body: { snapshot?: unknown; confirm?: unknown } | undefined }>

// The order of `rds status`'s states, worst first: what needs a person shows at the top.
const WORST_FIRST = ['LABEL ERROR', 'OVERDUE', 'FAILING', 'RUNNING', 'WAITING', 'OK']
const COVERAGE_WORST_FIRST = ['NOT SURVEYED', 'NOT COVERED', 'covered', 'excluded', 'unused']
const SNAPSHOT_ID = /^[0-9a-f]{8,64}$/

class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message)
  }
}

/** The JSON API under /api/ (docs/console.md), which the pages use too. */
export function addApiRoutes(app: FastifyInstance, { backend, audit, log, stop }: ConsoleOptions): void {
  const actions = new Actions(audit, stop ?? new AbortController().signal)
  const resticOf = (request: JobRequest) => {
    const restic = backend.resticOf(request.params.job)
    if (!restic) throw new HttpError(404, `there is no job ${request.params.job}; GET /api/jobs lists them.`)
    return restic
  }
  /** The job's snapshot the query (or the body) names, by its ID; never another job's. */
  const snapshotOf = async (request: JobRequest, id = request.query.snapshot ?? ''): Promise<SnapshotInfo> => {
    if (!SNAPSHOT_ID.test(id)) throw new HttpError(400, 'give snapshot=ID, an ID of 8 to 64 hexadecimal digits from GET /api/jobs/JOB.')
    const missing = new HttpError(404, `job ${request.params.job} has no snapshot ${id}.`)
    const snapshot = await resolveSnapshot(resticOf(request), { snapshot: id }, log).catch((error: Error) => {
      throw error instanceof RunError && error.message.startsWith('there is no snapshot') ? missing : error
    })
    // restic finds an ID whatever --host says: the repository's other jobs' snapshots are not this job's to show.
    if (snapshot.hostname !== request.params.job) throw missing
    return snapshot
  }
  const pathOf = (request: JobRequest, snapshot: SnapshotInfo) => {
    const path = request.query.path ?? snapshot.paths[0] ?? '/'
    if (!path.startsWith('/') || path.includes('\0') || posix.normalize(path) !== path) throw new HttpError(400, `path must be an absolute path such as ${snapshot.paths[0] ?? '/'}, not ${JSON.stringify(path)}.`)
    return path
  }
  const operator = (request: FastifyRequest) => {
    if (request.account!.role !== 'operator') throw new HttpError(403, `${request.account!.name} is read-only; an operator may do this.`)
  }

  app.get('/api/jobs', async () => {
    const jobs = await backend.jobs()
    return { jobs: jobs.sort((a, b) => WORST_FIRST.indexOf(a.state) - WORST_FIRST.indexOf(b.state) || a.name.localeCompare(b.name)) }
  })

  app.get('/api/jobs/:job', async (request: JobRequest) => {
    const job = (await backend.jobs()).find((candidate) => candidate.name === request.params.job)
    if (!job) throw new HttpError(404, `there is no job ${request.params.job}; GET /api/jobs lists them.`)
    const snapshots = await snapshotsOfHost(resticOf(request), job.name, log)
    return { job, snapshots: snapshots.reverse() }
  })

  app.get('/api/jobs/:job/files', async (request: JobRequest) => {
    const snapshot = await snapshotOf(request)
    const path = pathOf(request, snapshot)
    const entries: SnapshotNode[] = []
    await listPath(resticOf(request), snapshot, path, log, (node) => void entries.push(node)).catch((error: Error) => {
      throw error instanceof RunError && / is not in snapshot /.test(error.message) ? new HttpError(404, error.message) : error
    })
    // restic lists the folder itself first; a file's listing is the file alone.
    const self = entries.find((node) => node.path === path)
    return { snapshot: snapshot.id, path, type: self?.type ?? 'dir', entries: entries.filter((node) => node !== self) }
  })

  app.get('/api/jobs/:job/download', async (request: JobRequest, reply: FastifyReply) => {
    const snapshot = await snapshotOf(request)
    const path = pathOf(request, snapshot)
    const restic = resticOf(request)
    let type: string | undefined
    await listPath(restic, snapshot, path, log, (node) => void (node.path === path && (type = node.type))).catch((error: Error) => {
      throw error instanceof RunError && / is not in snapshot /.test(error.message) ? new HttpError(404, error.message) : error
    })
    const name = posix.basename(path) || 'snapshot'
    const asTar = type !== 'file'
    audit.record({ who: request.account!.name, role: request.account!.role, action: 'download', target: `${path} of snapshot ${snapshot.short_id} of ${request.params.job}`, outcome: 'started' })
    // From here the answer is restic's output as it comes, with backpressure; a failure cuts the
    // connection short, so that a partial download never looks complete.
    reply.hijack()
    const response = reply.raw
    response.writeHead(200, {
      'content-type': asTar ? 'application/x-tar' : 'application/octet-stream',
      'content-disposition': `attachment; filename="${name.replace(/[^A-Za-z0-9._-]/g, '_')}${asTar ? '.tar' : ''}"`,
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
    })
    const stop = new AbortController()
    response.on('close', () => response.writableFinished || stop.abort())
    try {
      await runRestic({ ...restic, signal: stop.signal }, asTar ? dumpArgs('--archive', 'tar', snapshot.id, path) : dumpArgs(snapshot.id, path), { log, stdoutTo: response })
      response.end()
    } catch (error) {
      log.warn(`console: the download of ${path} of snapshot ${snapshot.short_id} failed: ${(error as Error).message}`)
      response.destroy()
    }
  })

  app.post('/api/jobs/:job/backup', async (request: JobRequest, reply: FastifyReply) => {
    operator(request)
    const started = backend.backupNow(request.params.job)
    if (started === undefined) throw new HttpError(404, `there is no job ${request.params.job}; GET /api/jobs lists them.`)
    audit.record({ who: request.account!.name, role: request.account!.role, action: 'backup now', target: request.params.job, outcome: started === 'started' ? 'started' : `refused: ${started}` })
    if (started !== 'started') throw new HttpError(409, started)
    return reply.code(202).send({ job: request.params.job, started: true })
  })

  app.post('/api/jobs/:job/restore', async (request: JobRequest, reply: FastifyReply) => {
    operator(request)
    const job = request.params.job
    const { snapshot: id, confirm } = request.body ?? {}
    // The live data is replaced: the person says so again, by the job's name, as for deleting a repository on GitHub.
    if (confirm !== job) throw new HttpError(400, `an in-place restore replaces the live data of ${job}: give confirm="${job}" to say that you mean it.`)
    const snapshot = await snapshotOf(request, typeof id === 'string' ? id : '')
    const target = `${job} from snapshot ${snapshot.short_id}`
    const action = actions.start('restore in place', job, request.account!, target, (signal) => backend.restoreInPlace(job, snapshot.id, signal))
    if (!action) throw new HttpError(409, `an action on ${job} is going; wait for it to end (GET /api/actions).`)
    return reply.code(202).send({ action })
  })

  app.get('/api/actions', async () => ({ actions: actions.list() }))

  app.get('/api/coverage', async () => {
    const rows = await backend.coverage()
    return { rows: rows.sort((a, b) => COVERAGE_WORST_FIRST.indexOf(a.status) - COVERAGE_WORST_FIRST.indexOf(b.status) || a.node.localeCompare(b.node) || a.volume.localeCompare(b.volume)) }
  })

  app.get('/api/audit', async () => ({ entries: audit.newest() }))
}
