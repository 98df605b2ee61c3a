// Control UI scenarios in headless Chromium: `node control_ui.mjs <scenario>`. The Python side
// (tests/integration/test_control_ui.py) boots the gateway, scripts the test LLM and checks the
// kernel's state afterwards; these scripts drive the browser like a user and assert on the page.
import {assert, connected, env, finish, go, login, openPage, run, shot, TOKEN, URL_BASE} from './lib.mjs';

// Polls `check` (async) until it returns something truthy, for at most 5 s; that value or false.
async function until(check, ms = 5000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value || Date.now() > deadline) return value || false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

// A wrong token is refused and the login stays; the right one connects, survives a reload and
// sets the auth cookie; logging out clears both.
async function loginScenario(browser) {
  const {context, page} = await openPage(browser);
  await page.goto(`${URL_BASE}/`);
  await page.locator('#login-secret').waitFor({state: 'visible'});
  await shot(page, 'login');
  await page.fill('#login-secret', 'definitely-not-the-token');
  await page.click('#login-submit');
  const error = page.locator('#login-error');
  await error.waitFor({state: 'visible'});
  assert.match(await error.textContent(), /refused/i);
  assert.ok(await page.locator('#login-secret').isVisible(), 'still on the login screen');
  assert.equal(await page.evaluate(() => localStorage.length), 0, 'a refused token is not kept');
  await shot(page, 'login-refused');

  await page.fill('#login-secret', TOKEN);
  await page.click('#login-submit');
  await connected(page);
  assert.ok(await page.locator('.sidebar').isVisible());
  const cookie = await until(async () => (await context.cookies()).find((c) => c.name === 'openclaw_auth'));
  assert.ok(cookie, 'the auth cookie is set');
  assert.equal(decodeURIComponent(cookie.value), TOKEN);
  assert.equal(cookie.sameSite, 'Strict');
  assert.equal(cookie.httpOnly, true, 'set by the gateway, out of reach of page scripts');
  assert.ok(!(await page.evaluate(() => document.cookie)).includes('openclaw_auth'));

  await page.reload();
  await connected(page);  // no login form: the token was kept
  assert.ok(!(await page.locator('#login-secret').isVisible()));

  await page.click('#logout');
  await page.locator('#login-secret').waitFor({state: 'visible'});
  assert.equal(await page.evaluate(() => localStorage.length), 0);
  assert.ok(await until(async () => !(await context.cookies()).some((c) => c.name === 'openclaw_auth' && c.value)),
            'the cookie is cleared');
  await page.reload();
  await page.locator('#login-secret').waitFor({state: 'visible'});  // logged out for good
  finish(page);
}

// Records every text the live reply showed, to prove it arrived in pieces.
async function watchReplyTexts(page) {
  await page.evaluate(() => {
    window.__replyTexts = [];
    new MutationObserver(() => {
      const last = [...document.querySelectorAll('.chat-live .run .msg-assistant .msg-text')].at(-1);
      if (last) window.__replyTexts.push(last.textContent);
    }).observe(document.getElementById('chat-log'), {subtree: true, childList: true, characterData: true});
  });
}

async function sendChat(page, text) {
  await page.fill('#chat-input', text);
  await page.press('#chat-input', 'Enter');
}

// A message sent from the chat streams its reply (the test LLM sends it in small, slow pieces).
async function chatScenario(browser) {
  const reply = env('OC_UI_REPLY');
  const {page} = await openPage(browser);
  await login(page);
  await go(page, 'chat');
  await page.locator('#chat-session option[value="agent:default:main"]').waitFor({state: 'attached'});
  assert.equal(await page.inputValue('#chat-session'), 'agent:default:main');
  await watchReplyTexts(page);
  await sendChat(page, 'stream please');
  const run = page.locator('.chat-live .run').last();
  await run.locator('.msg-user').getByText('stream please').waitFor();
  await page.locator('.chat-live .run[data-status="ok"]').waitFor({timeout: 30000});
  assert.equal(await run.locator('.msg-assistant .msg-text').last().textContent(), reply);
  const seen = await page.evaluate(() => window.__replyTexts);
  const partial = seen.filter((t) => t.length > 0 && t.length < reply.length && reply.startsWith(t));
  assert.ok(partial.length >= 2, `the reply streamed in pieces (saw ${JSON.stringify(seen.slice(0, 20))})`);
  assert.match(await run.locator('.run-status').textContent(), /test\/gpt-test/);
  await shot(page, 'chat');
  // The stored history shows the same exchange after a reload.
  await page.click('.chat-toolbar button:has-text("Reload")');
  await page.locator('.chat-history .msg-assistant .msg-text', {hasText: reply}).last().waitFor();
  await page.locator('.chat-history .msg-user .msg-text', {hasText: 'stream please'}).last().waitFor();
  finish(page);
}

// The app table shows the test app; its logs open live; a restart gives it a new process.
async function appsScenario(browser) {
  const appId = env('OC_UI_APP');
  const {page} = await openPage(browser);
  await login(page);
  await go(page, 'apps');
  const row = page.locator(`#apps-table tr[data-id="${appId}"]`);
  await page.locator(`#apps-table tr[data-id="${appId}"][data-state="ready"]`).waitFor();
  const pid = Number(await row.locator('td.pid').textContent());
  const restarts = Number(await row.locator('td.restarts').textContent());
  assert.ok(pid > 0, `a pid is shown (${pid})`);

  await row.locator('button[data-action="logs"]').click();
  await page.locator('#app-log-panel').waitFor({state: 'visible'});
  await page.waitForFunction(() => /READY/.test(document.getElementById('app-log').textContent));
  await shot(page, 'apps-logs');

  await row.locator('button[data-action="restart"]').click();
  await page.waitForFunction(([id, old]) => {
    const tr = document.querySelector(`#apps-table tr[data-id="${CSS.escape(id)}"]`);
    return tr && tr.dataset.state === 'ready' && Number(tr.querySelector('td.pid').textContent) !== old;
  }, [appId, pid], {timeout: 30000});
  const newPid = Number(await row.locator('td.pid').textContent());
  const newRestarts = Number(await row.locator('td.restarts').textContent());
  assert.notEqual(newPid, pid);
  assert.ok(newRestarts >= restarts);
  // The log panel is live: the new process's READY arrives without touching anything.
  await page.waitForFunction(() => (document.getElementById('app-log').textContent.match(/READY/g) || []).length >= 2,
    null, {timeout: 15000});
  console.log(`RESULT ${JSON.stringify({pid, newPid, restarts, newRestarts})}`);
  await shot(page, 'apps');
  finish(page);
}

// The model asks to run `exec`; the approval shows in the chat and on the Approvals page; approving
// it there lets the command run, and the chat shows the tool result and the finished run.
async function approvalScenario(browser) {
  const command = env('OC_UI_COMMAND');
  const {page} = await openPage(browser);
  await login(page);
  await go(page, 'chat');
  await sendChat(page, 'please run the approved command');
  const run = page.locator('.chat-live .run').last();
  await run.locator('.approval-card .approval-command', {hasText: command}).waitFor({timeout: 30000});
  await run.locator('details.tool[data-tool="exec"].tool-pending').waitFor();
  await shot(page, 'chat-approval');

  await page.locator('#approvals-badge', {hasText: '1'}).waitFor();
  await go(page, 'approvals');
  const card = page.locator('#approvals-list .approval').filter({hasText: command});
  await card.waitFor();
  await shot(page, 'approvals');
  await card.locator('button[data-decision="approve"]').click();
  await card.waitFor({state: 'detached'});
  await page.locator('.approvals-recent .recent-row', {hasText: 'approved'}).first().waitFor();
  await page.locator('#approvals-badge').waitFor({state: 'hidden'});

  await go(page, 'chat');
  await page.locator('.chat-live .run[data-status="ok"]').last().waitFor({timeout: 30000});
  const tool = run.locator('details.tool[data-tool="exec"]');
  await tool.locator('summary').click();  // expand it
  assert.ok(await tool.evaluate((d) => d.classList.contains('tool-ok')), 'the exec call succeeded');
  assert.match(await tool.locator('.tool-output').textContent(), /approved-output/);
  assert.match(await tool.locator('.tool-args').textContent(), /echo approved-output/);
  await run.locator('.approval-card[data-decision="approved"]').waitFor();
  assert.match(await run.locator('.msg-assistant .msg-text').last().textContent(), /approved-output/);
  await shot(page, 'chat-tool-result');
  finish(page);
}

// Every page renders with real data; screenshots of each. Sessions: branch and reset; cron: add,
// disable, run and remove a job; the app's tab appears in the nav as a frame on its mount.
async function pagesScenario(browser) {
  const appId = env('OC_UI_APP');
  const {page} = await openPage(browser);
  page.on('dialog', (d) => d.accept());
  await login(page);

  await go(page, 'sessions');
  const main = page.locator('#sessions-table tr[data-key="agent:default:main"]');
  await main.waitFor();
  await main.locator('td').first().click();
  await page.locator('#session-detail .history-msg').first().waitFor();
  await shot(page, 'sessions');
  await page.click('#session-detail button:has-text("Branch")');
  const branch = page.locator('#sessions-table tr[data-key^="agent:default:main:branch-"]');
  await branch.waitFor();
  await page.locator('#session-detail h2', {hasText: ':branch-'}).waitFor();
  await page.click('#session-detail button:has-text("Reset")');
  await branch.waitFor({state: 'detached'});  // ended sessions are hidden by default

  await go(page, 'apps');
  await page.locator(`#apps-table tr[data-id="${appId}"]`).waitFor();
  await shot(page, 'apps-table');

  await go(page, 'channels');
  await page.locator('#channels-table tr[data-channel="testchan"]', {hasText: appId}).waitFor();
  await shot(page, 'channels');

  await go(page, 'cron');
  await page.selectOption('#cron-form select[name="kind"]', 'every');
  await page.fill('#cron-form input[name="schedule"]', '6h');
  await page.fill('#cron-form input[name="name"]', 'ui-test-job');
  await page.fill('#cron-form textarea[name="message"]', 'cron job from the UI test');
  await page.click('#cron-form button[type="submit"]');
  const job = page.locator('#cron-table tr', {hasText: 'ui-test-job'});
  await job.waitFor();
  assert.match(await job.textContent(), /every 6h/);
  await shot(page, 'cron');
  await job.locator('button:has-text("Disable")').click();
  await page.locator('#cron-table tr.dim', {hasText: 'ui-test-job'}).waitFor();
  await job.locator('button:has-text("Remove")').click();
  await job.waitFor({state: 'detached'});

  await go(page, 'approvals');
  await shot(page, 'approvals-empty');

  await go(page, 'memory');
  await shot(page, 'memory');

  await go(page, 'config');
  await page.locator('#config-tree .json-key', {hasText: 'gateway'}).first().waitFor();
  const configText = await page.locator('#config-tree').textContent();
  assert.ok(!configText.includes(TOKEN), 'the token is redacted in config.get');
  await shot(page, 'config');

  await go(page, 'logs');
  await page.waitForFunction(() => document.querySelectorAll('#kernel-log .log-line').length > 0);
  await shot(page, 'logs');

  await go(page, 'canvas');
  await page.waitForFunction(() => document.querySelector('.page[data-page="canvas"] .notice')
    || !document.getElementById('canvas-frame').hidden);
  await shot(page, 'canvas');

  const tabRoute = `tab/${encodeURIComponent(appId)}/notes`;
  await page.locator(`.nav-item[data-route="${tabRoute}"]`, {hasText: 'Notes'}).waitFor();
  await go(page, tabRoute);
  const src = await page.locator(`.page[data-page="${tabRoute}"] iframe`).getAttribute('src');
  assert.equal(src, `/apps/${appId}/index.html`);
  await shot(page, 'app-tab');
  finish(page);
}

// The canvas page follows `canvas` events: another tab asks the agent to present a page, and the
// open canvas frame shows it without a reload by the user.
async function canvasScenario(browser) {
  const {context, page} = await openPage(browser);
  await login(page);
  await go(page, 'canvas');
  await page.waitForFunction(() => document.querySelector('.page[data-page="canvas"] .notice')
    || !document.getElementById('canvas-frame').hidden);
  const other = await context.newPage();  // same browser: already logged in
  other.problems = [];
  other.on('pageerror', (e) => other.problems.push(`page error: ${e.message}`));
  await other.goto(`${URL_BASE}/#/chat`);
  await connected(other);
  await sendChat(other, 'draw on the canvas');
  await other.locator('.chat-live .run[data-status="ok"]').waitFor({timeout: 30000});
  await page.frameLocator('#canvas-frame').locator('h1', {hasText: 'Drawn by the test'}).waitFor();
  assert.match(await page.locator('#canvas-updated').textContent(), /Test drawing/);
  await shot(page, 'canvas-drawn');
  finish(page);
  finish(other);
}

await run({login: loginScenario, canvas: canvasScenario, chat: chatScenario, apps: appsScenario, approval: approvalScenario, pages: pagesScenario});
