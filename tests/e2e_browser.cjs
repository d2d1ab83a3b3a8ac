// Drives Debian's chromium (playwright-core, no browser download) against a running
// `jupyter lab`: opens the notebook, clicks "Convert to pipeline", reads the panel, tags a cell
// `skip` through the cell context menu, saves, and reads the refreshed panel.
// Environment: LAB_URL, LAB_TOKEN, NOTEBOOK (API path), SCREENSHOT (png path), CHROMIUM.
// Prints one JSON line with what it saw; exits non-zero on failure (after a screenshot).
const { chromium } = require('playwright-core');
const fs = require('fs');
const path = require('path');

const env = name => {
  const value = process.env[name];
  if (!value) throw new Error(`missing environment variable ${name}`);
  return value;
};

async function stepNames(page) {
  return page.$$eval('#nb2pipe-panel .nb2pipe-dag-node', nodes =>
    nodes.map(n => n.getAttribute('data-step')));
}

(async () => {
  const url = env('LAB_URL');
  const token = env('LAB_TOKEN');
  const notebook = env('NOTEBOOK');
  const shot = env('SCREENSHOT');
  const profile = fs.mkdtempSync(path.join(require('os').tmpdir(), 'nb2pipe-chromium-'));
  // a fresh profile (--user-data-dir) every run
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1500, height: 950 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync']
  });
  const page = browser.pages()[0] || await browser.newPage();
  const consoleErrors = [];
  page.on('console', msg => { if (msg.type() === 'error') consoleErrors.push(msg.text()); });
  const result = { ok: false };
  try {
    await page.goto(`${url}/lab/tree/${notebook}?token=${token}&reset`, { timeout: 60000 });
    const button = page.locator('.nb2pipe-toolbar-button').first();
    await button.waitFor({ state: 'visible', timeout: 60000 });
    await page.locator('.jp-Notebook .jp-Cell').first().waitFor({ timeout: 30000 });
    result.buttonText = (await button.innerText()).trim();
    await button.click();
    await page.locator('#nb2pipe-panel .nb2pipe-result-converted, #nb2pipe-panel .nb2pipe-result-unchanged, #nb2pipe-panel .nb2pipe-result-failed, #nb2pipe-panel .nb2pipe-error')
      .first().waitFor({ timeout: 60000 });
    await page.locator('#nb2pipe-panel .nb2pipe-dag-node').first().waitFor({ timeout: 30000 });
    result.steps = await stepNames(page);
    result.edges = await page.$$eval('#nb2pipe-panel .nb2pipe-dag-edge',
      es => es.map(e => [e.getAttribute('data-from'), e.getAttribute('data-to')]));
    result.resultText = await page.locator('#nb2pipe-panel .nb2pipe-result').innerText();
    result.hasReadmeLink = await page.locator('#nb2pipe-panel .nb2pipe-readme').count() > 0;
    result.panelErrors = await page.$$eval('#nb2pipe-panel [role=alert]',
      es => es.map(e => e.textContent));
    result.io = await page.$$eval('#nb2pipe-panel .nb2pipe-step', cards =>
      cards.map(c => c.innerText.replace(/\s+/g, ' ').trim()));
    await page.screenshot({ path: shot });

    // The README link opens the generated README in JupyterLab.
    await page.locator('#nb2pipe-panel .nb2pipe-readme').click();
    await page.locator('.lm-TabBar-tabLabel', { hasText: 'README.md' }).first()
      .waitFor({ timeout: 20000 });
    result.readmeOpened = true;
    await page.locator('.lm-TabBar-tabLabel', { hasText: 'sales.ipynb' }).first().click();

    // Tag the last code cell `skip` from the cell context menu, save: the panel refreshes.
    const cells = page.locator('.jp-Notebook .jp-Cell.jp-CodeCell');
    const last = cells.nth((await cells.count()) - 1);
    await last.locator('.jp-InputArea-prompt').click();
    await last.locator('.jp-InputArea-prompt').click({ button: 'right' });
    await page.locator('.lm-Menu-itemLabel', { hasText: 'Pipeline (nb2pipe)' }).first().hover();
    await page.locator('.lm-Menu-itemLabel', { hasText: 'Skip Cell' }).first().click();
    await page.keyboard.press('Control+s');
    await page.waitForFunction(
      n => document.querySelectorAll('#nb2pipe-panel .nb2pipe-dag-node').length === n,
      result.steps.length - 1, { timeout: 30000 });
    result.stepsAfterSkip = await stepNames(page);
    result.statusAfterSkip = await page.locator('#nb2pipe-panel .nb2pipe-status').innerText();

    // Click a diagnostic: its cell becomes the active cell.
    const diag = page.locator('#nb2pipe-panel .nb2pipe-diag.nb2pipe-clickable').first();
    if (await diag.count()) {
      const code = await diag.getAttribute('data-code');
      await diag.click();
      const active = await page.$$eval('.jp-Notebook .jp-Cell',
        cs => cs.findIndex(c => c.classList.contains('jp-mod-active')));
      result.diagnosticJump = { code, activeCell: active + 1 };
    }

    // Click a node: the step's cells become active; its code shows.
    await page.locator('#nb2pipe-panel .nb2pipe-dag-node').first().click();
    result.selectedCode = await page.locator('#nb2pipe-panel .nb2pipe-code pre').first()
      .innerText({ timeout: 5000 }).catch(() => null);
    await page.screenshot({ path: shot.replace(/\.png$/, '-after-skip.png') });
    result.consoleErrors = consoleErrors.filter(t => /nb2pipe/i.test(t));

    // A failing request is shown in the panel, not swallowed.
    await page.route('**/nb2pipe/preview**', route => route.fulfill({
      status: 500, contentType: 'application/json',
      body: JSON.stringify({ message: 'simulated server failure' })
    }));
    await page.locator('#nb2pipe-panel .nb2pipe-refresh').click();
    result.shownError = await page.locator('#nb2pipe-panel [role=alert]').innerText({ timeout: 10000 });
    await page.unroute('**/nb2pipe/preview**');
    result.ok = true;
  } catch (error) {
    result.error = String(error && error.stack || error);
    await page.screenshot({ path: shot.replace(/\.png$/, '-failure.png') }).catch(() => {});
  } finally {
    await browser.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
  process.stdout.write(JSON.stringify(result) + '\n');
  process.exit(result.ok ? 0 : 1);
})();
