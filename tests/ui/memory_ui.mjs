// The Control UI's memory page in headless Chromium: `node memory_ui.mjs memory`. Started by
// tests/integration/test_memory.py (MemoryPageBrowserTest), which boots a gateway with two agents
// ("default" with a MEMORY.md about tomato seedlings, "helper" with one about invoices), indexes
// them, and passes the gateway through the environment (see lib.mjs).
import {assert, finish, go, login, openPage, run, shot} from './lib.mjs';

async function search(page, agent, query) {
  await page.selectOption('#memory-agent', agent);
  await page.fill('#memory-query', query);
  await page.click('#memory-search');
  await page.locator('#memory-results .memory-summary', {hasText: query}).waitFor();
}

// Search, see a result with path:lines, a score bar and the snippet, open it for the whole chunk;
// the agent picker searches the other agent's workspace; Re-index shows live progress and the report.
async function memoryScenario(browser) {
  const {page} = await openPage(browser);
  await login(page);
  await go(page, 'memory');

  // the status panel
  const counts = page.locator('#memory-counts');
  await counts.waitFor();
  assert.match(await counts.textContent(), /[1-9]\d* files? · [1-9]\d* chunks? · [1-9]\d* embedded/);
  assert.match(await page.locator('#memory-status').textContent(), /local/);
  assert.equal(await page.locator('#memory-workspaces tbody tr').count(), 2, 'one row per agent workspace');

  // two agents: the picker is shown
  await page.locator('#memory-agent option[value="helper"]').waitFor({state: 'attached'});
  assert.ok(await page.locator('#memory-agent').isVisible(), 'the agent picker is visible with several agents');

  await search(page, 'default', 'tomato seedlings greenhouse');
  const hit = page.locator('.memory-hit[data-path="MEMORY.md"]').first();
  await hit.waitFor();
  assert.match(await hit.locator('.memory-loc').textContent(), /^MEMORY\.md:\d+(-\d+)?$/);
  assert.match(await hit.locator('.memory-score').textContent(), /^[01]\.\d{3}$/);
  const bar = await hit.locator('meter.memory-score-bar').evaluate((m) => m.value);
  assert.ok(bar > 0 && bar <= 1, `score bar value ${bar}`);
  assert.match(await hit.locator('.memory-snippet').textContent(), /tomato/i);
  assert.ok(!(await hit.locator('.memory-text').isVisible()), 'the chunk is folded until clicked');
  await hit.locator('summary').click();
  await hit.locator('.memory-text').waitFor({state: 'visible'});
  const chunk = await hit.locator('.memory-text').textContent();
  assert.match(chunk, /tomato seedlings/);
  assert.match(chunk, /never on cold days/, 'the whole chunk is shown');
  assert.ok(!(await hit.locator('.memory-snippet').isVisible()), 'the snippet gives way to the chunk');
  await shot(page, 'memory-results');

  await search(page, 'helper', 'invoices blue folder');
  await page.locator('.memory-hit', {hasText: 'invoices'}).first().waitFor();
  assert.equal(await page.locator('.memory-hit', {hasText: 'tomato'}).count(), 0, "the helper's search sees only its workspace");

  // Re-index (forced, so there is work to show): record every phase the progress line went through
  await page.selectOption('#memory-agent', 'default');
  await page.evaluate(() => {
    window.__phases = [];
    const el = document.getElementById('memory-progress');
    new MutationObserver((records) => {
      for (const r of records) if (r.attributeName === 'data-phase') window.__phases.push(el.dataset.phase);
    }).observe(el, {attributes: true, attributeFilter: ['data-phase']});
  });
  await page.check('#memory-force');
  await page.click('#memory-reindex');
  const report = page.locator('#memory-report .notice');
  await report.waitFor();
  assert.match(await report.textContent(), /^Indexed: [1-9]\d* files? scanned, \d+ changed, \d+ removed · .* · 0 embeddings computed/);
  const phases = await page.evaluate(() => window.__phases);
  assert.ok(phases.some((p) => ['scanning', 'embedding', 'idle'].includes(p)),
            `memory.progress events were shown (phases seen: ${JSON.stringify(phases)})`);
  assert.ok(await page.locator('#memory-progress').isHidden(), 'the progress line goes away when done');
  assert.ok(await page.locator('#memory-reindex').isEnabled());
  await shot(page, 'memory-reindex');
  finish(page);
}

run({memory: memoryScenario});
