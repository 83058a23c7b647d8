import t from 'tap'
import { Cron } from 'croner'
import { spreadSchedule } from '../../lib/config/spread-schedule.js'

const services = Array.from({ length: 50 }, (_, i) => `stack_service${i}`)

t.test('H gives each job a minute of its own, the same every time, and leaves other fields as written', async (t) => {
  const spread = services.map((name) => spreadSchedule('H 3 * * *', name, 'RUN_AT'))
  t.same(spread, services.map((name) => spreadSchedule('H 3 * * *', name, 'RUN_AT')), 'stable')
  for (const expression of spread) t.match(expression, /^(\d|[1-5]\d) 3 \* \* \*$/)
  t.ok(new Set(spread).size >= 25, `50 services on ${new Set(spread).size} different minutes`)
  t.equal(spreadSchedule('0 3 * * *', 'stack_db', 'RUN_AT'), '0 3 * * *', 'no H, no change')
  t.equal(spreadSchedule('@daily', 'stack_db', 'RUN_AT'), '@daily')
})

t.test('H(a-b), H/n and H(a-b)/n stay within their bounds; six fields spread the seconds too; each is a cron expression', async (t) => {
  for (const name of services) {
    const [minute, hour, day] = spreadSchedule('H H(1-5) H * *', name, 'RUN_AT').split(' ').map(Number)
    t.ok(minute! >= 0 && minute! <= 59 && hour! >= 1 && hour! <= 5 && day! >= 1 && day! <= 28, `${name}: ${minute} ${hour} ${day}`)
    const quarter = spreadSchedule('H/15 * * * *', name, 'RUN_AT').split(' ')[0]!.split(',').map(Number)
    t.equal(quarter.length, 4)
    t.ok(quarter[0]! < 15 && quarter.every((value, i) => value === quarter[0]! + 15 * i), `${name}: every 15 minutes from ${quarter[0]}`)
    const night = spreadSchedule('H(0-29)/10 H(1-5) * * *', name, 'RUN_AT').split(' ')[0]!.split(',').map(Number)
    t.ok(night.length === 3 && night.every((value) => value <= 29), `${name}: ${night.join(',')}`)
    const withSeconds = spreadSchedule('H H 3 * * *', name, 'RUN_AT')
    t.match(withSeconds, /^\d+ \d+ 3 \* \* \*$/)
    t.ok(new Cron(withSeconds, { paused: true }).nextRun(), 'croner reads it')
  }
})

t.test('the hash is pinned: a change would move every job\'s time at an upgrade, so these values never change', async (t) => {
  t.equal(spreadSchedule('H 3 * * *', 'stack_db', 'RUN_AT'), '33 3 * * *')
  t.equal(spreadSchedule('H H(1-5) H * *', 'stack_web', 'RUN_AT'), '1 5 23 * *')
  t.equal(spreadSchedule('H/15 * * * *', 'stack_cache@node1', 'RUN_AT'), '13,28,43,58 * * * *')
})
