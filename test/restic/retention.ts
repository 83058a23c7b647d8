import t from 'tap'
import { describeRetention, forgetArgs, keepArgs } from '../../lib/restic/retention.js'

t.test('no KEEP_* means no forget at all', async (t) => {
  t.same(keepArgs({ prune: true }), [])
  t.equal(forgetArgs({ prune: true }, 'h'), undefined)
  t.match(describeRetention({ prune: false }), /^none: every snapshot is kept/)
})

t.test('the policy becomes restic forget options for this host only', async (t) => {
  const retention = { last: 2, daily: 7, monthly: -1, within: '30d', prune: false }
  t.same(forgetArgs(retention, 'app_db'), ['forget', '--host', 'app_db', '--keep-last', '2', '--keep-daily', '7', '--keep-monthly', '-1', '--keep-within', '30d'])
  t.same(forgetArgs({ weekly: 4, prune: true }, 'h'), ['forget', '--host', 'h', '--keep-weekly', '4', '--prune'])
  t.equal(describeRetention(retention), 'keep-last 2, keep-daily 7, keep-monthly -1, keep-within 30d (forget only; set PRUNE=true to free space)')
  t.equal(describeRetention({ hourly: 24, yearly: 1, prune: true }), 'keep-hourly 24, keep-yearly 1, then prune')
})
