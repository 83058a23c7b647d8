// The generic webhook in shoutrrr's forms, and what every HTTP destination does with an answer
// or a failure that could carry its secrets: a local listener stands in for the endpoints.
import t from 'tap'
import { notifications } from '../../lib/notify/listener.js'
import { captureLogger } from '../fixtures/log.js'
import { failureAndRecovery, serviceListener } from '../fixtures/notify-services.js'

const { failure } = failureAndRecovery()

t.test('generic: options by any case, headers in one spelling each, the rest passed on; a redirect is a failure', async (t) => {
  let redirect = false
  const requests = await serviceListener(t, () => (redirect ? { status: 302, body: '' } : { status: 204 }))
  const { log, text } = captureLogger()
  const url = 'generic://hooks.example.com/notify?Template=JSON&titleKey=subject&@Content-Type=application/vnd.rds%2Bjson&@authorization=Bearer%20generic-token-secret&$source=rds&channel=ops&_method=kept'
  await notifications(url, undefined, log)!.finished(failure, undefined)
  t.match(requests[0], { method: 'POST', host: 'hooks.example.com', path: '/notify?channel=ops&method=kept', headers: { 'content-type': 'application/vnd.rds+json', authorization: 'Bearer generic-token-secret' } })
  t.match(JSON.parse(requests[0]!.body), { subject: '[rds] FAILED: backup of stack_db', message: /^Error: /, source: 'rds' })
  redirect = true
  await notifications(url, undefined, log)!.finished(failure, undefined)
  t.match(text(), /WARN\s+notify: could not send the failure of stack_db's backup to generic https:\/\/hooks\.example\.com\/…: the generic webhook request failed \(.*redirect.*\)/)
  t.notMatch(text(), /generic-token-secret/)
})

t.test('an answer that quotes the request, and a header HTTP refuses, never put a secret in the log', async (t) => {
  await serviceListener(t, (request) => ({ status: 404, body: `Cannot POST ${request.path} with ${request.headers['x-gotify-key']}`, type: 'text/plain' }))
  const { log, text } = captureLogger()
  await notifications('gotify://gotify.example.com/AppTokenSecret?disabletls=yes, ntfy://ntfy.sh/topic-secret-name', undefined, log)!.finished(failure, undefined)
  t.match(text(), /could not send the failure of stack_db's backup to Gotify http:\/\/gotify\.example\.com\/…: the Gotify request was answered 404 Not Found: Cannot POST … with …/)
  t.match(text(), /could not send the failure of stack_db's backup to ntfy https:\/\/ntfy\.sh\/…: the ntfy request was answered 404 Not Found: Cannot POST … with undefined/)
  const bad = captureLogger()
  await notifications('generic://hooks.example.com/x?@authorization=Bearer%0Aheader-secret', undefined, bad.log)!.finished(failure, undefined)
  t.match(bad.text(), /the generic webhook request failed \(a header or the URL holds a character HTTP does not allow\)/)
  t.notMatch(text() + bad.text(), /AppTokenSecret|topic-secret-name|header-secret/)
})
