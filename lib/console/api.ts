import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { ConsoleOptions } from './backend.js'
import type { Actions } from './actions.js'
import { downloadRoute } from './download.js'
import { accountOf, HttpError } from './http-error.js'
import { jobRequests, noSuchJob, notInSnapshot, whileAsked, type JobRequest } from './job-request.js'
import { listPath, snapshotsOfHost, type SnapshotNode } from '../restic/snapshots.js'

// The order of `rds status`'s states, worst first: what needs a person shows at the top.
const WORST_FIRST = ['LABEL ERROR', 'OVERDUE', 'FAILING', 'RUNNING', 'WAITING', 'OK']
const COVERAGE_WORST_FIRST = ['NOT SURVEYED', 'NOT COVERED', 'covered', 'excluded', 'unused']

// The routes whose refusals (a read-only user's, a forged CSRF token, a question not answered) the
// audit log keeps beside what they started: the error handler records them (server.ts).
const audited = (action: string) => ({ config: { audited: action } })

const busy = (job: string) => new HttpError(409, `an action on ${job} is going; wait for it to end (GET /api/actions).`)

/** The JSON API under /api/ (docs/console.md), which the pages use too; the login's routes are in login.ts. */
export function addApiRoutes(app: FastifyInstance, { backend, audit, log, stalledMs }: ConsoleOptions, actions: Actions, stop: AbortSignal): void {
  const { resticOf, snapshotOf, pathOf, operator } = jobRequests(backend, log)

  app.get('/api/jobs', async () => {
    const jobs = await backend.jobs()
    // Without their histories: the overview asks every few seconds, and shows none.
    const listed = jobs.map((job) => (job.status?.history ? { ...job, status: { ...job.status, history: undefined } } : job))
    return { jobs: listed.sort((a, b) => WORST_FIRST.indexOf(a.state) - WORST_FIRST.indexOf(b.state) || a.name.localeCompare(b.name)) }
  })

  app.get('/api/jobs/:job', async (request: JobRequest) => {
    const job = (await backend.jobs()).find((candidate) => candidate.name === request.params.job)
    if (!job) throw noSuchJob(request.params.job)
    const snapshots = await snapshotsOfHost(resticOf(request), job.name, log)
    // A run's log holds what its hooks printed, which may be an application's secrets: an operator's to read.
    const history = accountOf(request).role === 'operator' ? job.status?.history : job.status?.history?.map(({ log: _log, ...run }) => run)
    return { job: job.status ? { ...job, status: { ...job.status, history } } : job, snapshots: snapshots.reverse() }
  })

  app.get('/api/jobs/:job/files', async (request: JobRequest, reply: FastifyReply) => {
    const snapshot = await snapshotOf(request)
    const path = pathOf(request, snapshot)
    const entries: SnapshotNode[] = []
    await listPath({ ...resticOf(request), signal: whileAsked(reply, stop) }, snapshot, path, log, (node) => void entries.push(node)).catch(notInSnapshot)
    // restic lists the folder itself first; a file's listing is the file alone.
    const self = entries.find((node) => node.path === path)
    return { snapshot: snapshot.id, path, type: self?.type ?? 'dir', entries: entries.filter((node) => node !== self) }
  })

  app.get('/api/jobs/:job/download', downloadRoute(backend, audit, log, stop, stalledMs))

  app.post('/api/jobs/:job/backup', audited('backup now'), async (request: JobRequest, reply: FastifyReply) => {
    const account = operator(request)
    const job = request.params.job
    if (actions.busy(job)) throw busy(job)
    const asked = backend.backupNow(job)
    if (asked === undefined) throw noSuchJob(job)
    if ('refused' in asked) throw new HttpError(409, asked.refused)
    const action = actions.start('backup now', job, account, job, () => asked.run)!
    return reply.code(202).send({ action })
  })

  app.post('/api/jobs/:job/restore', audited('restore'), async (request: JobRequest, reply: FastifyReply) => {
    const account = operator(request)
    const job = request.params.job
    const { snapshot: id, confirm, toNode } = request.body ?? {}
    if (toNode !== undefined && typeof toNode !== 'string') throw new HttpError(400, 'toNode must be the name of a node (GET /api/nodes), or left out to restore where the service runs.')
    // The live data is replaced: the person says so again, by the job's name, as for deleting a repository on GitHub.
    if (confirm !== job) throw new HttpError(400, `a restore replaces the live data of ${job}: give confirm="${job}" to say that you mean it.`)
    const snapshot = await snapshotOf(request, typeof id === 'string' ? id : '')
    const target = `${job} from snapshot ${snapshot.short_id}${toNode ? ` onto ${toNode}` : ''}`
    const action = actions.start(toNode ? 'restore onto a node' : 'restore in place', job, account, target, (signal) => backend.restore(job, snapshot.id, toNode, signal))
    if (!action) throw busy(job)
    return reply.code(202).send({ action })
  })

  app.post('/api/jobs/:job/drill', audited('drill'), async (request: JobRequest, reply: FastifyReply) => {
    const account = operator(request)
    const job = request.params.job
    resticOf(request)
    // A drill restores into a throwaway container: it changes no data, and is not asked again.
    const action = actions.start('drill', job, account, job, () => backend.drillNow(job))
    if (!action) throw busy(job)
    return reply.code(202).send({ action })
  })

  app.post('/api/stacks/:stack/rehearse', audited('rehearsal'), async (request: FastifyRequest<{ Params: { stack: string } }>, reply: FastifyReply) => {
    const account = operator(request)
    const stack = request.params.stack
    if (!(await backend.jobs()).some((job) => job.stack === stack)) throw new HttpError(404, `there is no stack ${stack} with a labelled service; GET /api/jobs gives each job's stack.`)
    // A copy of the stack, from its backups, beside it on an internal network: it changes no data, and is not asked again.
    const action = actions.start('rehearsal', `stack ${stack}`, account, `stack ${stack}`, (signal) => backend.rehearseNow(stack, signal))
    if (!action) throw busy(`stack ${stack}`)
    return reply.code(202).send({ action })
  })

  app.get('/api/nodes', async () => ({ nodes: await backend.nodes() }))

  app.get('/api/recovery', async (request: FastifyRequest<{ Querystring: { node?: string; to?: string } }>) => {
    const { node, to } = request.query
    if (!node) throw new HttpError(400, 'give node=NODE: the node that is down, or the host name of one removed with docker node rm.')
    return backend.recoveryPlan(node, to || undefined, stop)
  })

  app.post('/api/recovery', audited('recover a node'), async (request: FastifyRequest<{ Body: { node?: unknown; to?: unknown; confirm?: unknown; steps?: unknown } | undefined }>, reply: FastifyReply) => {
    const account = operator(request)
    const { node, to, confirm, steps } = request.body ?? {}
    if (typeof node !== 'string' || node === '' || (to !== undefined && typeof to !== 'string')) throw new HttpError(400, 'give node, the lost node, and to, a node to move every service to, if wanted.')
    if (!Array.isArray(steps) || steps.some((step) => typeof step !== 'string')) throw new HttpError(400, 'give steps, the plan you confirm: "JOB -> NODE" for each service that GET /api/recovery says comes back.')
    // Services are stopped, restored elsewhere and moved: said again, by the lost node's name.
    if (confirm !== node) throw new HttpError(400, `a recovery restores and moves every service whose data was on ${node}: give confirm="${node}" to say that you mean it.`)
    // Alone: no other action starts while it goes, nor it while another goes.
    const action = actions.start('recover a node', `node ${node}`, account, `${node}${to ? ` onto ${to}` : ''}`, (signal) => backend.recoverNode(node, to, steps as string[], signal), true)
    if (!action) throw new HttpError(409, 'another action is going; a recovery runs alone: wait for it to end (GET /api/actions).')
    return reply.code(202).send({ action })
  })

  app.get('/api/actions', async () => ({ actions: actions.list() }))

  app.get('/api/coverage', async () => {
    const rows = await backend.coverage()
    return { rows: rows.sort((a, b) => COVERAGE_WORST_FIRST.indexOf(a.status) - COVERAGE_WORST_FIRST.indexOf(b.status) || a.node.localeCompare(b.node) || a.volume.localeCompare(b.volume)) }
  })

  app.get('/api/audit', async () => ({ entries: audit.newest() }))
}
