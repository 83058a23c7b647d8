import { posix } from 'node:path'
import type { FastifyReply } from 'fastify'
import type { AuditLog } from './audit.js'
import { accountOf, HttpError } from './http-error.js'
import { jobRequests, notInSnapshot, whileAsked, type JobRequest } from './job-request.js'
import type { ConsoleBackend } from './backend.js'
import type { Logger } from '../observe/log.js'
import { runRestic } from '../restic/command.js'
import { dumpArgs, listPath, type SnapshotNode } from '../restic/snapshots.js'

/** A reader that takes nothing for this long is gone: restic is stopped, and its lock removed. */
const STALLED_MS = 5 * 60 * 1000

/**
 * GET /api/jobs/JOB/download: a file of a snapshot as it is, or a folder as tar, streamed from
 * restic dump with backpressure. A file's answer has its length; a folder's is chunked, so that a
 * download cut short (restic failed, the controller stopped) is never taken for a whole one, and
 * HTTP/1.0, which has no other way to tell, gets no folder.
 */
export function downloadRoute(backend: ConsoleBackend, audit: AuditLog, log: Logger, stop: AbortSignal, stalledMs = STALLED_MS) {
  const { resticOf, snapshotOf, pathOf } = jobRequests(backend, log)
  return async (request: JobRequest, reply: FastifyReply) => {
    const account = accountOf(request)
    const snapshot = await snapshotOf(request)
    const path = pathOf(request, snapshot)
    // The reader gone (its connection closed, or stalled: closed below), or the controller stopping:
    // restic gets SIGTERM, and its output is read (to nowhere) until it has removed its lock and ended.
    const restic = { ...resticOf(request), signal: whileAsked(reply, stop) }
    let self: SnapshotNode | undefined
    await listPath(restic, snapshot, path, log, (node) => void (node.path === path && (self = node))).catch(notInSnapshot)
    const asTar = self?.type !== 'file'
    if (asTar && request.raw.httpVersion === '1.0') throw new HttpError(426, 'a folder is sent as a stream of unknown length, which HTTP/1.0 cannot tell complete from cut short; ask with HTTP/1.1 (behind nginx: proxy_http_version 1.1).')
    const what = `${JSON.stringify(path)} of snapshot ${snapshot.short_id} of ${request.params.job}`
    audit.record({ who: account.name, role: account.role, action: 'download', target: what, outcome: 'started' })
    reply.hijack()
    const response = reply.raw
    const name = posix.basename(path) || 'snapshot'
    response.writeHead(200, {
      'content-type': asTar ? 'application/x-tar' : 'application/octet-stream',
      'content-disposition': `attachment; filename="${name.replace(/[^A-Za-z0-9._-]/g, '_')}${asTar ? '.tar' : ''}"`,
      ...(asTar || self?.size === undefined ? {} : { 'content-length': String(self.size) }),
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
    })
    response.setTimeout(stalledMs, () => response.destroy())
    try {
      await runRestic(restic, asTar ? dumpArgs('--archive', 'tar', snapshot.id, path) : dumpArgs(snapshot.id, path), { log, stdoutTo: response })
      response.end()
      audit.record({ who: account.name, role: account.role, action: 'download', target: what, outcome: 'done' })
    } catch (error) {
      // Cut short, never ended: the browser (or curl) says the download failed.
      response.destroy()
      audit.record({ who: account.name, role: account.role, action: 'download', target: what, outcome: `failed: ${(error as Error).message}` })
    }
  }
}
