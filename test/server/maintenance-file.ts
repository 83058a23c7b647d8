import t from 'tap'
import { readMaintenanceFile } from '../../lib/server/maintenance-file.js'

const SOURCE = 'MAINTENANCE_FILE (/run/secrets/rds-maintenance)'

t.test('one repository per line: its password file and its policy, always followed by prune', async (t) => {
  const repositories = readMaintenanceFile(
    ['# repository  password  policy', 'db   /run/secrets/db-pw   keep-within=30d keep-monthly=12 read-data-subset=5%', '', 'app/web /run/secrets/web-pw  # check only'].join('\n'),
    SOURCE,
  )
  t.same(repositories, [
    { name: 'db', passwordFile: '/run/secrets/db-pw', retention: { within: '30d', monthly: 12, last: undefined, hourly: undefined, daily: undefined, weekly: undefined, yearly: undefined, prune: true }, readDataSubset: '5%' },
    { name: 'app/web', passwordFile: '/run/secrets/web-pw', retention: { prune: true, last: undefined, hourly: undefined, daily: undefined, weekly: undefined, monthly: undefined, yearly: undefined, within: undefined }, readDataSubset: undefined },
  ])
})

t.test('each bad line is one sentence that names the line and what to write', async (t) => {
  const bad: [string, RegExp][] = [
    ['../etc /run/secrets/pw', /^line 1 of MAINTENANCE_FILE \(\/run\/secrets\/rds-maintenance\) names the repository "\.\.\/etc"; write it as agents' REPO_PATH does/],
    ['db', /^line 1 .* needs the repository's password file after its name, as an absolute path such as \/run\/secrets\/db-password\.$/],
    ['db pw', /needs the repository's password file/],
    ['db /pw keep-daily=seven', /^line 1 of MAINTENANCE_FILE \(\/run\/secrets\/rds-maintenance\): keep-daily must be a whole number of snapshots to keep/],
    ['db /pw keep-within=forever', /keep-within must be a duration such as "30d"/],
    ['db /pw prune=false', /has "prune=false"; a setting is keep-last, keep-hourly/],
    ['db /pw keep-last', /has "keep-last"; a setting is/],
    ['db /pw read-data-subset=lots', /read-data-subset must be a share of the data/],
    ['db /pw\ndb /pw2', /^line 2 .* names the repository db a second time; keep one line for it\.$/],
  ]
  for (const [text, message] of bad) t.throws(() => readMaintenanceFile(text, SOURCE), { message, exitCode: 2 }, text)
})
