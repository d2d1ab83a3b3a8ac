// The Pipeline panel's workbench in Debian's chromium (playwright-core) against a running
// `jupyter lab`: Convert, Run with live progress to finished, a failing run with its log,
// Cancel, two runs compared, staleness, Verify, and the Deploy dialog's dry run.
// Environment: LAB_URL, LAB_TOKEN, NOTEBOOK (API path), SHOTS (folder), CHROMIUM.
// Prints one JSON line with what it saw; exits non-zero on failure (after a screenshot).
const { chromium } = require('playwright-core');
const fs = require('fs');
const path = require('path');

const env = name => {
  const value = process.env[name];
  if (!value) throw new Error(`missing environment variable ${name}`);
  return value;
};
const WAIT = { timeout: 60000 };
const panel = '#nb2pipe-panel';

(async () => {
  const url = env('LAB_URL');
  const token = env('LAB_TOKEN');
  const notebook = env('NOTEBOOK');
  const shots = env('SHOTS');
  const profile = fs.mkdtempSync(path.join(require('os').tmpdir(), 'nb2pipe-chromium-'));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1600, height: 1000 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync']
  });
  const page = browser.pages()[0] || await browser.newPage();
  const pageErrors = [];
  page.on('pageerror', error => pageErrors.push(String(error)));
  const result = { ok: false, shots: [] };
  const shot = async (name, section) => {
    if (section) {  // the section at the top of the panel, so what follows it shows too
      await page.locator(`${panel} ${section}`).first()
        .evaluate(n => n.scrollIntoView({ block: 'start' }));
    }
    const file = path.join(shots, `${String(result.shots.length + 1).padStart(2, '0')}-${name}.png`);
    await page.screenshot({ path: file });
    result.shots.push(file);
  };
  const stepStates = () => page.$$eval(`${panel} .nb2pipe-progress-step`,
    rows => rows.map(r => [r.dataset.step, r.dataset.status]));
  const runId = () => page.$eval(`${panel} .nb2pipe-run-state`, n => n.textContent)
    .then(t => t.match(/Run (\d+)/)[1]).catch(() => null);
  // Run with these parameters; wait until a new run has ended; its state's text
  const runTo = async (params, status) => {
    const before = await runId();
    await page.locator(`${panel} .nb2pipe-params-input`).fill(params);
    await page.locator(`${panel} .nb2pipe-run-button`).click();
    await page.waitForFunction(old => {
      const n = document.querySelector('#nb2pipe-panel .nb2pipe-run-state');
      const m = n && n.textContent.match(/Run (\d+)/);
      return m && m[1] !== old && !['running'].includes(n.dataset.status) &&
        !document.querySelector('#nb2pipe-panel .nb2pipe-run-button').disabled;
    }, before, WAIT);
    const state = page.locator(`${panel} .nb2pipe-run-state`);
    const seen = await state.getAttribute('data-status');
    if (seen !== status) throw new Error(`run ended ${seen}, expected ${status}`);
    return (await state.innerText()).trim();
  };
  try {
    await page.goto(`${url}/lab/tree/${notebook}?token=${token}&reset`, WAIT);
    const convert = page.locator('.nb2pipe-toolbar-button').first();
    await convert.waitFor({ state: 'visible', ...WAIT });
    await page.locator('.jp-Notebook .jp-Cell').first().waitFor(WAIT);
    await convert.click();
    await page.locator(`${panel} .nb2pipe-run-button`).waitFor(WAIT);
    // the conversion's toast would cover the panel in the screenshots
    await page.addStyleTag({ content: '.Toastify { display: none !important; }' });
    // a wider side panel, for the tables (drag the split handle left of it)
    const box = await page.locator(panel).boundingBox();
    if (box) {
      await page.mouse.move(box.x - 2, box.y + 200);
      await page.mouse.down();
      await page.mouse.move(box.x - 400, box.y + 200, { steps: 5 });
      await page.mouse.up();
    }

    // 1. Run: live progress while the train step runs, then finished
    await page.evaluate(() => {  // every state each step shows, in order
      window.__nb2pipeSeen = {};
      new MutationObserver(() => {
        for (const r of document.querySelectorAll('#nb2pipe-panel .nb2pipe-progress-step')) {
          const seen = (window.__nb2pipeSeen[r.dataset.step] ||= []);
          if (seen[seen.length - 1] !== r.dataset.status) seen.push(r.dataset.status);
        }
      }).observe(document.body, { subtree: true, childList: true, attributes: true });
    });
    await page.locator(`${panel} .nb2pipe-params-input`).fill('delay=3.0');
    await page.locator(`${panel} .nb2pipe-run-button`).click();
    await page.locator(`${panel} .nb2pipe-progress-step[data-step="train"][data-status="running"]`)
      .waitFor(WAIT);
    result.whileRunning = await stepStates();
    result.cancelEnabledWhileRunning = await page.locator(`${panel} .nb2pipe-cancel-button`).isEnabled();
    await shot('run-in-progress', '.nb2pipe-run');
    await page.locator(`${panel} .nb2pipe-run-state[data-status="finished"]`).waitFor(WAIT);
    result.finished = await stepStates();
    result.finishedText = await page.locator(`${panel} .nb2pipe-run-state`).innerText();
    result.seenStates = await page.evaluate(() => window.__nb2pipeSeen);
    await shot('run-finished', '.nb2pipe-run');

    // 2. A failing run shows the failing step's log
    result.failedText = await runTo('fail=True', 'failed');
    result.failedSteps = await stepStates();
    const failure = page.locator(`${panel} .nb2pipe-failure`).first();
    result.failureStep = await failure.getAttribute('data-step');
    result.failureText = await failure.innerText();
    await shot('run-failed-with-log', '.nb2pipe-failure');

    // 3. Cancel a slow run
    await page.locator(`${panel} .nb2pipe-params-input`).fill('delay=120.0');
    await page.locator(`${panel} .nb2pipe-run-button`).click();
    await page.locator(`${panel} .nb2pipe-progress-step[data-step="train"][data-status="running"]`)
      .waitFor(WAIT);
    await page.locator(`${panel} .nb2pipe-cancel-button`).click();
    await page.locator(`${panel} .nb2pipe-run-state[data-status="interrupted"]`).waitFor(WAIT);
    result.cancelled = await stepStates();
    await shot('run-cancelled', '.nb2pipe-run');

    // 4. Another parameter, then the two good runs compared; what is stale now
    await runTo('scale=3', 'finished');
    const rows = page.locator(`${panel} .nb2pipe-run-row`);
    await page.waitForFunction(() =>
      document.querySelectorAll('#nb2pipe-panel .nb2pipe-run-row').length >= 4, null, WAIT);
    result.runs = await rows.evaluateAll(rs => rs.map(r => ({
      id: r.dataset.run, text: r.innerText.replace(/\s+/g, ' ').trim() })));
    const good = result.runs.filter(r => / finished /.test(` ${r.text} `)).map(r => r.id);
    for (const id of good.slice(0, 2)) {
      await page.locator(`${panel} .nb2pipe-run-row[data-run="${id}"] .nb2pipe-run-pick`).check();
    }
    await page.locator(`${panel} .nb2pipe-compare-button`).click();
    await page.locator(`${panel} .nb2pipe-compare`).waitFor(WAIT);
    result.compared = good.slice(0, 2);
    result.compareRows = await page.$$eval(`${panel} .nb2pipe-compare-table tr[data-name]`,
      trs => trs.map(tr => [...tr.children].map(td => td.textContent.trim())));
    result.compareArtifacts = await page.locator(`${panel} .nb2pipe-compare-artifacts`).innerText();
    result.staleness = await page.locator(`${panel} .nb2pipe-staleness`).innerText();
    await shot('runs-compared', '.nb2pipe-compare');

    // 5. Verify against the notebook
    await page.locator(`${panel} .nb2pipe-verify-button`).click();
    await page.locator(`${panel} .nb2pipe-verify-result`).waitFor({ timeout: 120000 });
    result.verifyOk = await page.locator(`${panel} .nb2pipe-verify-result`).getAttribute('data-ok');
    result.verifyValues = await page.$$eval(`${panel} .nb2pipe-verify-value`,
      vs => vs.map(v => [v.closest('.nb2pipe-verify-step').dataset.step, v.dataset.name,
        v.dataset.status]));
    await shot('verify-result', '.nb2pipe-verify');

    // 5b. A pipeline that computes something else (its train step edited through the server's
    // contents API): Verify names the values that no longer match the notebook
    const file = 'demand_pipeline/demand_pipeline/steps/train.py';
    const edited = await page.evaluate(async ({ file, token }) => {
      const api = `/api/contents/${file}`;
      const headers = { Authorization: `token ${token}`, 'Content-Type': 'application/json' };
      const model = await (await fetch(`${api}?content=1&type=file&format=text`, { headers })).json();
      const content = model.content.replace('* scale', '* scale + 1');
      const put = await fetch(api, { method: 'PUT', headers,
        body: JSON.stringify({ type: 'file', format: 'text', content }) });
      return put.ok && content !== model.content;
    }, { file, token });
    if (!edited) throw new Error(`could not edit ${file}`);
    await page.locator(`${panel} .nb2pipe-verify-button`).click();
    await page.locator(`${panel} .nb2pipe-verify-result[data-ok="false"]`).waitFor({ timeout: 120000 });
    result.mismatchValues = await page.$$eval(`${panel} .nb2pipe-verify-value`,
      vs => vs.map(v => [v.closest('.nb2pipe-verify-step').dataset.step, v.dataset.name,
        v.dataset.status]));
    // the staleness is read again when the verify ends: the edited step is stale by its code
    await page.waitForFunction(() => /code: /.test(
      document.querySelector('#nb2pipe-panel .nb2pipe-staleness').textContent), null, WAIT);
    result.stalenessAfterEdit = await page.locator(`${panel} .nb2pipe-staleness`).innerText();
    await shot('verify-mismatch', '.nb2pipe-verify');

    // 6. The Deploy dialog: a dry run shows the Workflow; a real submit says there is no cluster
    await page.locator(`${panel} .nb2pipe-deploy-button`).click();
    const dialog = page.locator('.nb2pipe-deploy-dialog');
    await dialog.waitFor(WAIT);
    await dialog.locator('.nb2pipe-deploy-image').fill('registry.example.com/demand:1');
    await dialog.locator('.nb2pipe-deploy-namespace').fill('ml-team');
    await dialog.locator('.nb2pipe-deploy-params').fill('scale=5');
    await dialog.locator('.nb2pipe-deploy-dryrun').click();
    await dialog.locator('.nb2pipe-deploy-output').waitFor(WAIT);
    result.dryRun = await dialog.locator('.nb2pipe-deploy-output').innerText();
    await shot('deploy-dry-run');
    await dialog.locator('.nb2pipe-deploy-submit').click();
    await dialog.locator('.nb2pipe-deploy-error').waitFor(WAIT);
    result.submitError = await dialog.locator('.nb2pipe-deploy-error').innerText();
    await shot('deploy-no-cluster');
    await page.locator('.jp-Dialog-button', { hasText: 'Close' }).click();
    result.pageErrors = pageErrors;
    result.ok = true;
  } catch (error) {
    result.error = String(error && error.stack || error);
    await page.screenshot({ path: path.join(shots, 'failure.png') }).catch(() => {});
  } finally {
    await browser.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
  process.stdout.write(JSON.stringify(result) + '\n');
  process.exit(result.ok ? 0 : 1);
})();
