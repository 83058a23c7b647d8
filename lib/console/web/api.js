// The console's calls to its JSON API (docs/console.md): the same requests a script makes.
let csrfToken

/** Sets the CSRF token the session was given, sent with every request that changes something. */
export const setCsrfToken = (token) => { csrfToken = token }

export class ApiError extends Error {
  constructor(status, message) {
    super(message)
    this.status = status
  }
}

export async function api(path, { method = 'GET', body } = {}) {
  const headers = { accept: 'application/json' }
  if (body !== undefined) headers['content-type'] = 'application/json'
  if (method !== 'GET' && csrfToken) headers['x-csrf-token'] = csrfToken
  const response = await fetch(`/api${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin' })
  if (response.status === 204) return undefined
  const answer = await response.json().catch(() => ({ error: `the controller answered ${response.status}` }))
  if (!response.ok) throw new ApiError(response.status, answer.error ?? `the controller answered ${response.status}`)
  return answer
}

export const jobPath = (job) => `/jobs/${encodeURIComponent(job)}`
export const downloadUrl = (job, snapshot, path) => `/api${jobPath(job)}/download?snapshot=${snapshot}&path=${encodeURIComponent(path)}`
