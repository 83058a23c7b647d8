// The console in Firefox (Debian's firefox-esr, driven over WebDriver BiDi): the pages a person uses,
// by keyboard too, at a desktop's and a phone's width, with axe-core's rules; test/console/pages.ts
// goes through every page and action in Chromium.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import type { Page } from 'puppeteer-core'
import { buildConsole } from '../../lib/console/server.js'
import { AuditLog } from '../../lib/console/audit.js'
import { consoleFixture, OPERATOR, READER } from '../fixtures/console.js'
import { accessibilityProblems, launchFirefox, servedOffLoopback } from '../fixtures/browser.js'
import { waitFor } from '../fixtures/swarm.js'

const { log, file, backend, backupsAsked, restoresAsked, webSnapshot, accounts } = await consoleFixture(t)
const app = await buildConsole({ accounts, backend, audit: new AuditLog(log), log })
const base = await servedOffLoopback(t, app)
const browser = await launchFirefox(t)

/** The element with this ARIA role and accessible name, as a screen reader finds it. */
const named = (role: string, name: string) => `::-p-aria([name=${JSON.stringify(name)}][role="${role}"])`
/** Waits until an element of this role holds the text. */
const said = (page: Page, role: string, text: string) =>
  page.waitForFunction((role, text) => [...document.querySelectorAll(`[role="${role}"]`)].some((element) => element.textContent?.includes(text)), { timeout: 30_000 }, role, text)
/** The text of every row's header cell of the page's (first) table. */
const rowHeaders = (page: Page) => page.$$eval('tbody tr th', (cells) => cells.map((cell) => cell.textContent))

/** Presses Tab until the control of this accessible name has the focus (as a keyboard's user reaches it), then Enter. */
async function pressByKeyboard(page: Page, name: string): Promise<void> {
  for (let presses = 0; presses < 60; presses++) {
    await page.keyboard.press('Tab')
    const focused = await page.evaluate(() => document.activeElement?.getAttribute('aria-label') ?? document.activeElement?.textContent?.trim())
    if (focused === name) return page.keyboard.press('Enter')
  }
  throw new Error(`no control named ${JSON.stringify(name)} is reached by Tab`)
}

/** Script errors and what the Content-Security-Policy refused (Firefox says both as page errors). */
function errorsOf(page: Page): string[] {
  const errors: string[] = []
  page.on('pageerror', (error) => void errors.push(error instanceof Error ? error.message : String(error)))
  page.on('console', (message) => void (message.type() === 'error' && errors.push(message.text())))
  return errors
}

t.test('an operator logs in, backs up and restores (asked again) by keyboard, browses and downloads a file whole', async (t) => {
  const downloads = await mkdtemp(join(tmpdir(), 'rds-firefox-'))
  t.teardown(() => rm(downloads, { recursive: true, force: true }))
  const context = await browser.createBrowserContext({ downloadBehavior: { policy: 'allow', downloadPath: downloads } })
  const page = await context.newPage()
  await page.setViewport({ width: 1280, height: 800 })
  const errors = errorsOf(page)
  await page.goto(base)
  await page.locator(named('textbox', 'Name')).fill(OPERATOR.name)
  await page.keyboard.press('Tab')
  await page.keyboard.type(OPERATOR.password)
  await page.keyboard.press('Enter')
  await page.locator(named('heading', 'Overview')).wait()
  await page.waitForFunction(() => document.querySelectorAll('tbody tr').length === 2)
  t.same(await rowHeaders(page), ['db', 'web'], 'the OVERDUE job first')
  const problems = await accessibilityProblems(page)
  await pressByKeyboard(page, 'Back up now: web')
  await said(page, 'status', 'started')
  t.same(backupsAsked, ['web'])

  await page.locator(named('link', 'web')).click()
  await page.locator(named('button', `Restore from ${webSnapshot.slice(0, 8)}`)).click()
  const confirm = named('button', 'Restore in place')
  t.ok(await page.$eval(confirm, (button) => (button as HTMLButtonElement).disabled), 'not before the name is typed')
  problems.push(...(await accessibilityProblems(page)))
  await page.locator(named('textbox', 'Type web to confirm')).fill('web')
  await pressByKeyboard(page, 'Restore in place')
  await said(page, 'status', 'Restore succeeded: service app_web restored in place')
  t.same(restoresAsked, [`web ${webSnapshot}`])

  await page.locator(named('link', `Browse snapshot ${webSnapshot.slice(0, 8)}`)).click()
  await page.locator(named('link', 'data/')).click()
  await page.locator(named('link', 'sub dir/')).click()
  await page.locator(named('link', 'Download blob.bin as file')).wait()
  problems.push(...(await accessibilityProblems(page)))
  await page.locator(named('link', 'Download blob.bin as file')).click()
  // Firefox writes blob.bin.part and renames it to blob.bin once whole.
  await waitFor('the download to end', async () => {
    const names = await readdir(downloads)
    return names.includes('blob.bin') && !names.some((name) => name.endsWith('.part'))
  }, 60)
  t.ok((await readFile(join(downloads, 'blob.bin'))).equals(file), "the downloaded file's bytes are the original's")

  await page.locator(named('link', 'Coverage')).click()
  await said(page, 'status', '1 volume(s) or node(s) need a look')
  t.same(await rowHeaders(page), ['cache', 'app_data'], 'the volume NOT COVERED first')
  problems.push(...(await accessibilityProblems(page)))
  await page.locator(named('link', 'Who did what')).click()
  await page.waitForFunction(() => [...document.querySelectorAll('tbody tr')].some((row) => /download .*blob\.bin.*done$/.test(row.textContent ?? '')))
  problems.push(...(await accessibilityProblems(page)))
  t.same(problems, [], 'no page breaks a rule of WCAG 2.1 A or AA that axe-core checks, in Firefox')
  t.same(errors, [], 'no script error, no refusal of the Content-Security-Policy')
  await context.close()
})

t.test("a read-only user's pages fit a phone's width in Firefox", async (t) => {
  const context = await browser.createBrowserContext()
  const page = await context.newPage()
  await page.setViewport({ width: 375, height: 740 })
  const errors = errorsOf(page)
  await page.goto(base)
  await page.locator(named('textbox', 'Name')).fill(READER.name)
  await page.locator('input[type=password]').fill(READER.password)
  await page.locator(named('button', 'Log in')).click()
  await page.waitForFunction(() => document.querySelectorAll('tbody tr').length === 2)
  t.equal((await page.$$('button')).length, 1, 'no button but "Log out"')
  t.same(await accessibilityProblems(page), [], "the overview at a phone's width, by axe-core's rules")
  t.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'nothing wider than the screen: a wide table scrolls on its own')
  await page.locator(named('link', 'web')).click()
  await page.locator(named('link', `Browse snapshot ${webSnapshot.slice(0, 8)}`)).wait()
  t.same(await accessibilityProblems(page), [], "and a job's page")
  t.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'and it fits too')
  await page.locator(named('button', 'Log out')).click()
  await page.locator(named('heading', 'Log in')).wait()
  t.same(errors, [])
  await context.close()
})
