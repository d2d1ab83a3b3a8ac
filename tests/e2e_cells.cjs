// Issue 18 in a real browser (Debian's chromium through playwright-core) against a running
// `jupyter lab`: the sample churn notebook's cells carry their step (colour, label, start
// marks, stripped lines muted), a diagnostic sits on its cell and line with its explanation,
// the panel's DAG routes the layer-skipping edge around the nodes (geometry read from the
// SVG), an edit re-marks the cells without saving (timed, on a 300-cell notebook too).
// Environment: LAB_URL, LAB_TOKEN, SHOTS (folder for the screenshots), CHROMIUM.
// Prints one JSON line with what it saw; exits non-zero on failure (after a screenshot).
const { chromium } = require('playwright-core');
const fs = require('fs');
const os = require('os');
const path = require('path');

const env = name => {
  const value = process.env[name];
  if (!value) throw new Error(`missing environment variable ${name}`);
  return value;
};

// What the notebook's cells show, read from the DOM.
async function cellState(page) {
  return page.$$eval('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell', cells => cells.map((c, i) => {
    const label = c.querySelector(':scope > .nb2pipe-cell-tags > .nb2pipe-cell-label');
    const badge = c.querySelector(':scope > .nb2pipe-cell-tags > .nb2pipe-cell-badge');
    return {
      cell: i + 1,
      code: c.classList.contains('jp-CodeCell'),
      step: c.dataset.nb2pipeStep || null,
      color: c.style.getPropertyValue('--nb2pipe-step-color') || null,
      border: getComputedStyle(c).boxShadow,
      start: c.classList.contains('nb2pipe-cell-start'),
      skipped: c.classList.contains('nb2pipe-cell-skipped'),
      label: label ? label.textContent : null,
      labelTitle: label ? label.title : null,
      badge: badge ? badge.textContent : null,
      badgeTitle: badge ? badge.title : null,
      stripped: Array.from(c.querySelectorAll('.cm-line.nb2pipe-line-stripped')).map(l => l.title),
      diagLines: Array.from(c.querySelectorAll('.cm-line.nb2pipe-line-diag')).map(l => ({
        text: l.textContent, title: l.title, cls: l.className }))
    };
  }));
}

// The DAG's geometry in SVG coordinates: node boxes, edge polylines (from their `d`), and
// every segment that passes through a node box other than its own ends.
async function dagGeometry(page) {
  return page.$eval('#nb2pipe-panel svg.nb2pipe-dag', svg => {
    const nodes = Array.from(svg.querySelectorAll('.nb2pipe-dag-node')).map(g => {
      const m = /translate\(([-\d.]+),([-\d.]+)\)/.exec(g.getAttribute('transform'));
      const r = g.querySelector('rect');
      return { name: g.dataset.step, layer: Number(g.dataset.layer), x: Number(m[1]), y: Number(m[2]),
        w: Number(r.getAttribute('width')), h: Number(r.getAttribute('height')) };
    });
    const hits = (p, q, b) => { // does segment p-q enter box b (1px inset)?
      const x0 = b.x + 1, x1 = b.x + b.w - 1, y0 = b.y + 1, y1 = b.y + b.h - 1;
      let t0 = 0, t1 = 1;
      const dx = q.x - p.x, dy = q.y - p.y;
      for (const [pp, qq] of [[-dx, p.x - x0], [dx, x1 - p.x], [-dy, p.y - y0], [dy, y1 - p.y]]) {
        if (pp === 0) { if (qq < 0) return false; continue; }
        const r = qq / pp;
        if (pp < 0) t0 = Math.max(t0, r); else t1 = Math.min(t1, r);
        if (t0 > t1) return false;
      }
      return true;
    };
    const edges = Array.from(svg.querySelectorAll('.nb2pipe-dag-edge')).map(e => {
      const nums = e.getAttribute('d').match(/-?[\d.]+/g).map(Number);
      const points = [];
      for (let i = 0; i < nums.length; i += 2) points.push({ x: nums[i], y: nums[i + 1] });
      return { from: e.dataset.from, to: e.dataset.to, points,
        title: e.querySelector('title').textContent };
    });
    const through = [];
    for (const e of edges) {
      for (let i = 0; i + 1 < e.points.length; i++) {
        for (const n of nodes) {
          if (hits(e.points[i], e.points[i + 1], n)) through.push(`${e.from}->${e.to} through ${n.name}`);
        }
      }
    }
    const labels = Array.from(svg.querySelectorAll('.nb2pipe-dag-label')).map(g => {
      const r = g.querySelector('rect');
      return { x: Number(r.getAttribute('x')), y: Number(r.getAttribute('y')),
        w: Number(r.getAttribute('width')), h: Number(r.getAttribute('height')),
        text: g.querySelector('text').textContent, title: g.querySelector('title').textContent };
    });
    const width = Number(svg.getAttribute('width')), height = Number(svg.getAttribute('height'));
    const cut = labels.concat(nodes).filter(b => b.x < 0 || b.y < 0 || b.x + b.w > width || b.y + b.h > height);
    return { nodes, edges, labels, through, cut: cut.length, width, height };
  });
}

async function openNotebook(page, url, token, name) {
  await page.goto(`${url}/lab/tree/${name}?token=${token}&reset`, { timeout: 60000 });
  await page.locator('.nb2pipe-toolbar-button').first().waitFor({ state: 'visible', timeout: 60000 });
  await page.locator('.jp-Notebook .jp-Cell').first().waitFor({ timeout: 30000 });
}

// Type at the end of cell `index` (0-based) and time how long until `done()` holds in the page.
async function editAndTime(page, index, text, done, arg) {
  const cell = page.locator('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell').nth(index);
  await cell.scrollIntoViewIfNeeded();
  await cell.locator('.cm-content').click();
  await page.keyboard.press('Control+End');
  const t0 = await page.evaluate(() => performance.now());
  await page.keyboard.type(text, { delay: 0 });
  const typed = await page.evaluate(() => performance.now());
  await page.waitForFunction(done, arg, { timeout: 60000, polling: 'raf' });
  const t1 = await page.evaluate(() => performance.now());
  return { fromFirstKeyMs: Math.round(t1 - t0), fromLastKeyMs: Math.round(t1 - typed) };
}

(async () => {
  const url = env('LAB_URL');
  const token = env('LAB_TOKEN');
  const shots = env('SHOTS');
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'nb2pipe-chromium-'));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1600, height: 1000 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync']
  });
  const page = browser.pages()[0] || await browser.newPage();
  const consoleErrors = [];
  page.on('console', msg => { if (msg.type() === 'error') consoleErrors.push(msg.text()); });
  const previews = [];
  page.on('requestfinished', req => {
    if (/\/nb2pipe\/preview/.test(req.url())) {
      const t = req.timing();
      previews.push({ method: req.method(), ms: Math.round(t.responseEnd) });
    }
  });
  const result = { ok: false, shots };
  const shot = async name => {
    const file = path.join(shots, name);
    await page.screenshot({ path: file });
    return file;
  };
  try {
    // 1. churn: cells coloured by step, as soon as the notebook opens (no save, no convert)
    await openNotebook(page, url, token, 'churn.ipynb');
    await page.waitForFunction(() => document.querySelectorAll('.jp-Cell.nb2pipe-cell-step').length > 20,
      null, { timeout: 60000 });
    await page.locator('.jp-SideBar .lm-TabBar-tab[data-id="nb2pipe-panel"]').click();
    await page.locator('#nb2pipe-panel .nb2pipe-dag-node').first().waitFor({ timeout: 30000 });
    // a cell is marked once JupyterLab renders it, which on a loaded machine can come late
    // for the last ones: bring the last cell into view and wait for its mark
    const churnCells = page.locator('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell');
    await churnCells.last().scrollIntoViewIfNeeded();
    await page.waitForFunction(() => {
      const cells = document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell');
      return cells.length > 0 && !!cells[cells.length - 1].dataset.nb2pipeStep;
    }, null, { timeout: 60000 });
    await churnCells.first().scrollIntoViewIfNeeded();
    result.cells = await cellState(page);
    await shot('cells-by-step.png');

    // 2. the diagnostic the notebook has (NB205 on cell 19) sits on its cell, explained
    const c19 = page.locator('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell').nth(18);
    await c19.scrollIntoViewIfNeeded();
    await c19.locator('.nb2pipe-cell-badge').hover();
    await shot('diagnostic-on-cell.png');

    // 3. the DAG: the layer-skipping edge load_data -> train goes around clean and features
    await page.locator('#nb2pipe-panel').screenshot({ path: path.join(shots, 'dag.png') });
    result.dag = await dagGeometry(page);

    // 3b. tag one cell of the heading-split notebook `step:impute` from the cell context menu:
    // it starts a step of its own, the heading sections stay steps (issue 18's finding)
    const c16 = page.locator('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell').nth(15);
    await c16.scrollIntoViewIfNeeded();
    await c16.locator('.jp-InputArea-prompt').click();
    await c16.locator('.jp-InputArea-prompt').click({ button: 'right' });
    await page.locator('.lm-Menu-itemLabel', { hasText: 'Pipeline (nb2pipe)' }).first().hover();
    await page.locator('.lm-Menu-itemLabel', { hasText: 'Start Pipeline Step Here' }).first().click();
    await page.locator('.jp-Dialog input').fill('impute');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => {
      const c = document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell')[15];
      return c.classList.contains('nb2pipe-start-tag') && c.dataset.nb2pipeStep === 'impute';
    }, null, { timeout: 30000 });
    result.tagged = (await cellState(page))[15];
    result.stepsAfterTag = await page.$$eval('#nb2pipe-panel .nb2pipe-dag-node', ns => ns.map(n => n.dataset.step));
    result.notesAfterTag = await page.$$eval('#nb2pipe-panel .nb2pipe-diag', ds => ds.map(d => d.dataset.code));
    await c16.scrollIntoViewIfNeeded();
    await shot('tagged-step.png');
    // untag (Clear Pipeline Tags) so the notebook is as it was
    await c16.locator('.jp-InputArea-prompt').click({ button: 'right' });
    await page.locator('.lm-Menu-itemLabel', { hasText: 'Pipeline (nb2pipe)' }).first().hover();
    await page.locator('.lm-Menu-itemLabel', { hasText: 'Clear Pipeline Tags' }).first().click();
    await page.waitForFunction(() => document.querySelectorAll('#nb2pipe-panel .nb2pipe-dag-node').length === 5,
      null, { timeout: 30000 });

    // 4. an edit (unsaved) that reads a name nothing assigns: a warning on that line, and a
    // bare expression below it muted as stripped, after the debounce, without saving
    const dirtyBefore = await page.locator('.jp-mod-dirty').count();
    result.editTiming = await editAndTime(page, 30,
      '\nscore_plus = never_assigned_anywhere + 1\nscore_plus',
      () => {
        const cell = document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell')[30];
        const lines = Array.from(cell.querySelectorAll('.cm-line'));
        const diag = lines.find(l => l.textContent.includes('never_assigned_anywhere'));
        const bare = lines.filter(l => l.textContent === 'score_plus');
        return diag && diag.classList.contains('nb2pipe-line-diag') && bare.length === 1 &&
          bare[0].classList.contains('nb2pipe-line-stripped');
      });
    result.afterEdit = (await cellState(page))[30];
    result.savedAfterEdit = (await page.locator('.jp-mod-dirty').count()) > dirtyBefore ? 'dirty' : 'clean';
    await page.locator('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell').nth(30)
      .locator('.cm-line.nb2pipe-line-diag').first().hover();
    await shot('diagnostic-after-edit.png');
    result.panelDiagnostics = await page.$$eval('#nb2pipe-panel .nb2pipe-diag', ds => ds.map(d => d.dataset.code));
    const onDisk = await page.request.get(`${url}/api/contents/churn.ipynb?content=1`,
      { headers: { Authorization: `token ${token}` } });
    result.editOnDiskBeforeConvert = JSON.stringify((await onDisk.json()).content).includes('never_assigned_anywhere');

    // 5. honest notices: Convert saves the edit, which has an error: the failure pops up as a
    // toast (not only the bell's count), and a failed result offers no README
    await page.locator('.jp-NotebookPanel:not(.lm-mod-hidden) .nb2pipe-toolbar-button').click();
    const failed = page.locator('.jp-Notification-Toast-error', { hasText: 'not converted' }).first();
    await failed.waitFor({ timeout: 60000 });
    result.failedToast = await failed.innerText();
    await page.locator('#nb2pipe-panel .nb2pipe-result-failed').waitFor({ timeout: 10000 });
    result.failedReadmeLinks = await page.locator('#nb2pipe-panel .nb2pipe-readme').count();
    await shot('convert-failed-notice.png');

    // 6. 300 cells: open, wait for the marks, then time an edit until its marks update
    const t0 = Date.now();
    await openNotebook(page, url, token, 'big.ipynb');
    await page.waitForFunction(() => document.querySelectorAll('.jp-Cell.nb2pipe-cell-step').length >= 290,
      null, { timeout: 120000 });
    result.bigOpenMs = Date.now() - t0;
    result.bigCells = await page.locator('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell').count();
    // counted at one moment: a windowed notebook attaches cells to the DOM as it goes
    Object.assign(result, await page.$$eval('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-CodeCell',
      cs => ({ bigCodeCells: cs.length,
        bigStepCells: cs.filter(c => c.classList.contains('nb2pipe-cell-step')).length })));
    previews.length = 0;
    result.bigEditTiming = await editAndTime(page, 5, '\nvalue_4', () => {
      const cell = document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell')[5];
      const last = Array.from(cell.querySelectorAll('.cm-line')).find(l => l.textContent === 'value_4');
      return last && last.classList.contains('nb2pipe-line-stripped');
    });
    result.bigPreviewRequests = previews.slice();
    result.bigMarkMs = await page.evaluate(() => performance.getEntriesByName('nb2pipe-cellmarks')
      .map(e => Math.round(e.duration)));
    await shot('big-notebook.png');

    // 7. a conversion that keeps a hand edit says so (a warning), not a green "unchanged"
    const toolbar = page.locator('.jp-NotebookPanel:not(.lm-mod-hidden) .nb2pipe-toolbar-button');
    await toolbar.click();
    const converted = page.locator('.jp-Notification-Toast-success', { hasText: 'converted' }).first();
    await converted.waitFor({ timeout: 120000 });
    result.convertedToast = await converted.innerText();
    fs.appendFileSync(path.join(env('ROOT'), 'big_pipeline', 'README.md'), '\nmy own note\n');
    await toolbar.click();
    const kept = page.locator('.jp-Notification-Toast-warning', { hasText: 'kept' }).first();
    await kept.waitFor({ timeout: 120000 });
    result.keptToast = await kept.innerText();
    result.unchangedSuccessToasts = await page.locator('.jp-Notification-Toast-success', { hasText: 'unchanged' }).count();
    await shot('convert-kept-hand-edit.png');

    // 8. an edit that changes the plan (a read of a later step's value: an error, no plan)
    // clears the last-conversion box, which no longer describes the notebook
    result.resultBoxBefore = await page.locator('#nb2pipe-panel .nb2pipe-result').count();
    await editAndTime(page, 5, '\nprint(value_299', () =>
      !document.querySelector('#nb2pipe-panel .nb2pipe-result') &&
      document.querySelectorAll('#nb2pipe-panel .nb2pipe-diag.nb2pipe-sev-error').length > 0);
    result.resultBoxAfter = await page.locator('#nb2pipe-panel .nb2pipe-result').count();

    // 9. files a conversion removed are listed without links (they are gone)
    await openNotebook(page, url, token, 'sales.ipynb');
    const salesConvert = page.locator('.jp-NotebookPanel:not(.lm-mod-hidden) .nb2pipe-toolbar-button');
    await salesConvert.click();
    await page.locator('#nb2pipe-panel .nb2pipe-result-converted').waitFor({ timeout: 60000 });
    const salesCells = page.locator('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell.jp-CodeCell');
    const lastSales = salesCells.nth((await salesCells.count()) - 1);
    await lastSales.locator('.jp-InputArea-prompt').click();
    await lastSales.locator('.jp-InputArea-prompt').click({ button: 'right' });
    await page.locator('.lm-Menu-itemLabel', { hasText: 'Pipeline (nb2pipe)' }).first().hover();
    await page.locator('.lm-Menu-itemLabel', { hasText: 'Skip Cell' }).first().click();
    await page.waitForFunction(() => document.querySelectorAll('#nb2pipe-panel .nb2pipe-dag-node').length === 2,
      null, { timeout: 30000 });
    await salesConvert.click();
    await page.locator('#nb2pipe-panel .nb2pipe-files summary', { hasText: 'Removed' }).waitFor({ timeout: 60000 });
    result.removed = await page.$$eval('#nb2pipe-panel .nb2pipe-files', ds => ds
      .filter(d => d.querySelector('summary').textContent.startsWith('Removed'))
      .map(d => ({ items: Array.from(d.querySelectorAll('li')).map(li => li.textContent),
        links: d.querySelectorAll('a').length })));
    await shot('removed-files.png');

    // 10. a converted notebook that predicts with a model: the panel says whether its
    // serving path is verified (this one was converted without --capture: not proven yet)
    await openNotebook(page, url, token, 'served.ipynb');
    if (!(await page.locator('#nb2pipe-panel').isVisible())) {
      await page.locator('.jp-SideBar .lm-TabBar-tab[data-id="nb2pipe-panel"]').click();
    }
    const serving = page.locator('#nb2pipe-panel .nb2pipe-serving');
    await serving.waitFor({ timeout: 60000 });
    result.serving = await serving.innerText();
    await shot('serving-status.png');
    result.consoleErrors = consoleErrors.filter(t => /nb2pipe/i.test(t));
    result.ok = true;
  } catch (error) {
    result.error = String(error && error.stack || error);
    await page.screenshot({ path: path.join(shots, 'cells-failure.png') }).catch(() => {});
  } finally {
    await browser.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
  process.stdout.write(JSON.stringify(result) + '\n');
  process.exit(result.ok ? 0 : 1);
})();
