// The console's pages in a real browser (Debian's chromium) against the console's server, with a
// real restic repository behind it; the same against the real controller runs in test/3-node/swarm.ts.
import { readFile } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { networkInterfaces } from 'node:os'
import t from 'tap'
import { buildConsole } from '../../lib/console/server.js'
import { AuditLog } from '../../lib/console/audit.js'
import { consoleFixture, OPERATOR, PASSWORD, READER } from '../fixtures/console.js'
import { accessibilityProblems, launchBrowser, watchPage } from '../fixtures/browser.js'

const { log, file, backend, backupsAsked, restoresAsked, rehearsalsAsked, endRehearsal, webSnapshot, accounts } = await consoleFixture(t)
const app = await buildConsole({ accounts, backend, audit: new AuditLog(log), log })
// On an address of this machine that is not loopback, as a browser elsewhere reaches the console:
// a browser trusts loopback more (its plain HTTP is "secure"), which hid a CSP that upgraded every request to HTTPS.
const address = Object.values(networkInterfaces()).flat().find((candidate) => candidate?.family === 'IPv4' && !candidate.internal)?.address
if (!address) throw new Error('this machine has no IPv4 address but loopback')
await app.listen({ port: 0, host: address })
const base = `http://${address}:${(app.server.address() as AddressInfo).port}`
t.teardown(() => app.close())
const browser = await launchBrowser(t)

t.test('an operator logs in, sees what needs a person first, backs up now, browses a snapshot and downloads a file whole', async (t) => {
  const context = await browser.newContext({ acceptDownloads: true })
  const page = await context.newPage()
  const watched = watchPage(page)
  await page.goto(base)
  await page.getByLabel('Name').fill(OPERATOR.name)
  await page.getByLabel('Password').fill('not the password')
  await page.getByRole('button', { name: 'Log in' }).click()
  await page.getByRole('alert').getByText('wrong name or password.').waitFor()
  const problems = await accessibilityProblems(page)
  await page.getByLabel('Password').fill(OPERATOR.password)
  await page.getByRole('button', { name: 'Log in' }).click()
  await page.getByRole('heading', { name: 'Overview' }).waitFor()
  const rows = page.locator('tbody tr')
  await rows.nth(1).waitFor()
  t.same(await rows.locator('th').allTextContents(), ['db', 'web'], 'the OVERDUE job first')
  t.match(await rows.nth(0).textContent(), /OVERDUE/)
  problems.push(...(await accessibilityProblems(page)))
  await page.getByRole('button', { name: 'Back up now: web' }).click()
  await page.getByRole('status').getByText('started').waitFor()
  t.same(backupsAsked, ['web'])

  await page.getByRole('link', { name: 'web' }).click()
  const runs = page.getByRole('table', { name: /^Runs, newest first/ }).locator('tbody tr')
  await runs.nth(1).waitFor()
  t.match(await runs.nth(0).textContent(), /backup.*60 min ago.*12\.5 s.*3\.0 MiB.*succeeded.*snapshot 1234abcd saved/, "a run's duration, what it added, its outcome")
  t.match(await runs.nth(1).textContent(), /3 min.*FAILED \(exit 1\): the server did not answer/)
  await runs.nth(1).getByText('Log (2 lines)').click()
  await runs.nth(1).getByText('ERROR ssh: connect to host backup-server port 22: Connection refused').waitFor()
  await page.getByRole('button', { name: 'Drill now' }).click()
  await page.getByRole('status').getByText('Drill succeeded: the drill of web passed: 2 files restored').waitFor()
  await page.getByRole('button', { name: 'Rehearse stack app now' }).click()
  await page.getByRole('status').getByText(/^Rehearsal running since /).waitFor()
  t.same(rehearsalsAsked, ['app'])
  endRehearsal()
  await page.getByRole('status').getByText('Rehearsal succeeded: the rehearsal of stack app passed: app_web ran, its probe passed').waitFor()
  problems.push(...(await accessibilityProblems(page)))

  // An in-place restore is asked again: its button waits for the job's name.
  await page.getByRole('button', { name: `Restore from ${webSnapshot.slice(0, 8)}` }).click()
  const confirm = page.getByRole('button', { name: 'Restore in place', exact: true })
  t.ok(await confirm.isDisabled(), 'not before the name is typed')
  problems.push(...(await accessibilityProblems(page)))
  await page.getByLabel('Type web to confirm').fill('web')
  await confirm.click()
  await page.getByRole('status').getByText(/Restore succeeded: service app_web restored in place/).waitFor()
  t.same(restoresAsked, [`web ${webSnapshot}`])
  // Onto another node: the nodes it does not run on are offered.
  await page.reload()
  await page.getByRole('button', { name: `Restore from ${webSnapshot.slice(0, 8)}` }).click()
  await page.getByLabel('Restore onto').selectOption('node-2')
  t.same(await page.getByLabel('Restore onto').locator('option').allTextContents(), ['the node it runs on (node-1)', 'node-2, and move it there'])
  await page.getByLabel('Type web to confirm').fill('web')
  await page.getByRole('button', { name: 'Restore onto node-2 and move it there' }).click()
  await page.getByRole('status').getByText(/Restore succeeded: service app_web restored onto node-2/).waitFor()
  t.same(restoresAsked, [`web ${webSnapshot}`, `web ${webSnapshot} onto node-2`])

  await page.getByRole('link', { name: /^Browse snapshot / }).click()
  await page.getByRole('link', { name: 'data/' }).click()
  await page.getByRole('link', { name: 'sub dir/' }).click()
  await page.getByRole('link', { name: 'Download blob.bin' }).waitFor()
  problems.push(...(await accessibilityProblems(page)))
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download blob.bin' }).click()])
  t.equal(download.suggestedFilename(), 'blob.bin')
  t.ok((await readFile((await download.path())!)).equals(file), "the downloaded file's bytes are the original's")

  await page.getByRole('link', { name: 'Coverage' }).click()
  await page.getByRole('status').getByText('1 volume(s) or node(s) need a look').waitFor()
  t.same(await page.locator('tbody tr th').allTextContents(), ['cache', 'app_data'], 'the volume NOT COVERED first')
  problems.push(...(await accessibilityProblems(page)))

  await page.getByRole('link', { name: 'Recover a node' }).click()
  await page.getByLabel('The lost node').fill('node-2')
  await page.getByRole('button', { name: 'Show the plan' }).click()
  await page.getByRole('listitem').getByText(/^web: volumes from snapshot \w+ -> node-1$/).waitFor()
  problems.push(...(await accessibilityProblems(page)))
  await page.getByLabel('Type node-2 to carry it out').fill('node-2')
  await page.getByRole('button', { name: 'Carry out the plan' }).click()
  await page.getByRole('status').getByText('Recovery succeeded: recovered from node-2: web back on node-1').waitFor()

  await page.getByRole('link', { name: 'Who did what' }).click()
  await page.getByRole('row').filter({ hasText: /download .*blob\.bin.*done$/ }).waitFor()
  problems.push(...(await accessibilityProblems(page)))
  t.same(problems, [], 'no page breaks a rule of WCAG 2.1 A or AA that axe-core checks (labels, names, contrast, keyboard)')
  await watched.settled()
  // The two 401s are the session asked for before the login, and the wrong password.
  t.same(watched.errors.filter((error) => !/status of 401/.test(error)), [], 'no script error, no refusal of the Content-Security-Policy, no missing file')
  t.notOk(watched.answers.some((answer) => answer.includes(PASSWORD)), `none of ${watched.answers.length} answers holds the repository password`)
  await context.close()
})

t.test("a read-only user is offered no backup, and the pages fit a phone's width", async (t) => {
  const context = await browser.newContext({ viewport: { width: 375, height: 740 } })
  const page = await context.newPage()
  const watched = watchPage(page)
  await page.goto(base)
  await page.getByLabel('Name').fill(READER.name)
  await page.getByLabel('Password').fill(READER.password)
  await page.getByRole('button', { name: 'Log in' }).click()
  await page.locator('tbody tr').nth(1).waitFor()
  t.equal(await page.getByRole('button', { name: /^Back up now/ }).count(), 0)
  await page.getByRole('link', { name: 'web' }).click()
  await page.getByRole('link', { name: /^Browse snapshot / }).waitFor()
  t.equal(await page.getByRole('button', { name: /Restore|Drill now|Rehearse/ }).count(), 0, 'nor a restore, nor a drill, nor a rehearsal')
  t.same(await accessibilityProblems(page), [], "a job's page at a phone's width, by axe-core's rules")
  await page.getByRole('link', { name: 'Coverage' }).click()
  await page.getByRole('status').getByText('1 volume(s) or node(s) need a look').waitFor()
  t.same(await accessibilityProblems(page), [], 'and the coverage')
  await page.getByRole('link', { name: 'Overview' }).click()
  await page.locator('tbody tr').nth(1).waitFor()
  t.same(await accessibilityProblems(page), [], 'and the overview')
  t.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'nothing wider than the screen: a wide table scrolls on its own')
  await page.getByRole('button', { name: 'Log out' }).click()
  await page.getByRole('heading', { name: 'Log in' }).waitFor()
  t.same(watched.errors.filter((error) => !/status of 401/.test(error)), [])
  await context.close()
})
