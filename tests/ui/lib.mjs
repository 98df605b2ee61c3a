// Helpers for the Control UI browser tests: playwright-core (installed in tests/js/node_modules)
// driving the system Chromium, headless. Started by tests/integration/test_control_ui.py, which
// boots the gateway and passes everything through the environment:
//   OC_UI_URL        the gateway's base URL (http://127.0.0.1:<port>)
//   OC_UI_TOKEN      gateway.auth.token
//   OC_UI_ARTIFACTS  directory for screenshots
//   OC_CHROMIUM      browser binary (default /usr/bin/chromium)
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {createRequire} from 'node:module';

const require = createRequire(new URL('../js/package.json', import.meta.url));
const {chromium} = require('playwright-core');

export const URL_BASE = process.env.OC_UI_URL;
export const TOKEN = process.env.OC_UI_TOKEN;
const ARTIFACTS = process.env.OC_UI_ARTIFACTS || path.resolve('test-artifacts/ui');

export function env(name) {
  const value = process.env[name];
  assert.ok(value, `${name} must be set`);
  return value;
}

export async function launch() {
  return chromium.launch({
    executablePath: process.env.OC_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-background-networking'],
  });
}

// A fresh browser context (no stored token, no cookie) and a page that records uncaught page
// errors and Content-Security-Policy violations: both fail the test in finish().
export async function openPage(browser) {
  const context = await browser.newContext({viewport: {width: 1280, height: 860}});
  const page = await context.newPage();
  page.problems = [];
  page.on('pageerror', (e) => page.problems.push(`page error: ${e.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error' && /Content Security Policy|Refused to/i.test(msg.text()))
      page.problems.push(`console: ${msg.text()}`);
  });
  page.setDefaultTimeout(20000);
  return {context, page};
}

export function finish(page) {
  assert.deepEqual(page.problems, [], 'the page raised errors');
}

export async function shot(page, name) {
  fs.mkdirSync(ARTIFACTS, {recursive: true});
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.evaluate(() => document.querySelectorAll('.toast').forEach((t) => t.remove()));  // a clean picture
  await page.screenshot({path: file, fullPage: false});
  console.log(`screenshot ${file}`);
}

// Loads the UI and logs in through the login form.
export async function login(page, token = TOKEN) {
  await page.goto(`${URL_BASE}/`);
  await page.locator('#login-secret').waitFor({state: 'visible'});
  await page.fill('#login-secret', token);
  await page.click('#login-submit');
  await connected(page);
}

export async function connected(page) {
  await page.locator('#connection-status[data-state="connected"]').waitFor({state: 'visible'});
}

export async function go(page, route) {
  await page.click(`.nav-item[data-route="${route}"]`);
  await page.locator(`.page[data-page="${route}"]`).waitFor({state: 'visible'});
}

// Runs one scenario function with a browser; exits non-zero with the error on failure.
export async function run(scenarios) {
  const name = process.argv[2];
  const scenario = scenarios[name];
  if (!scenario) {
    console.error(`usage: node ${path.basename(process.argv[1])} <${Object.keys(scenarios).join('|')}>`);
    process.exit(2);
  }
  const browser = await launch();
  try {
    await scenario(browser);
    console.log(`scenario ${name}: ok`);
  } catch (e) {
    console.error(`scenario ${name} failed: ${e.stack || e}`);
    process.exitCode = 1;
  } finally {
    await browser.close();
  }
}

export {assert};
