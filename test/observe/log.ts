import t from 'tap'
import { captureLogger } from '../fixtures/log.js'
import { createLogger } from '../../lib/observe/log.js'
import { Writable } from 'node:stream'

t.test('one line per event with a timestamp and level; debug only when verbose', async (t) => {
  const quiet = captureLogger(false)
  quiet.log.info('started')
  quiet.log.debug('restic chatter')
  quiet.log.error('two\nlines')
  const lines = quiet.text().trimEnd().split('\n')
  t.equal(lines.length, 3)
  t.match(lines[0], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO  started$/)
  t.match(lines[1], /Z ERROR two$/)
  t.match(lines[2], /Z ERROR lines$/)
  t.notMatch(quiet.text(), /chatter/)

  const verbose = captureLogger(true)
  verbose.log.debug('restic chatter')
  verbose.log.warn('careful')
  t.match(verbose.text(), /Z DEBUG restic chatter\n.*Z WARN  careful\n$/)
})

t.test('the clock can be given', async (t) => {
  let text = ''
  const stream = new Writable({ write: (chunk, _e, done) => ((text += chunk), done()) })
  createLogger({ stream, now: () => new Date(0) }).info('x')
  t.equal(text, '1970-01-01T00:00:00.000Z INFO  x\n')
})
