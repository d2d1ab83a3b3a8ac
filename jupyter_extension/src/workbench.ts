// The workbench part of the Pipeline panel: run the generated project (live per-step progress,
// Cancel, the failing step's log), its runs (compare two), what is stale now, Verify against
// the notebook, and Deploy (the submit dialog). It owns its node; the panel places it.
import { button, duration, el, show } from './dom';
import { openDeployDialog } from './deploy';
import {
  IComparison,
  IRunState,
  IRuns,
  IVerifyState,
  cancelJob,
  compareRuns,
  listRuns,
  runState,
  startRun,
  startVerify,
  verifyState
} from './workbench_api';

const POLL_MS = 600;

const STEP_LABEL: Record<string, string> = {
  pending: 'queued',
  running: 'running',
  cached: 'cached',
  finished: 'finished',
  failed: 'failed',
  skipped: 'skipped',
  interrupted: 'cancelled'
};

export class Workbench {
  readonly node = el('div', 'nb2pipe-workbench');
  private _notebook: string | null = null;
  private _project: string | null = null;
  private _run: IRunState | null = null;
  private _runs: IRuns | null = null;
  private _verify: IVerifyState | null = null;
  private _comparison: IComparison | null = null;
  private _picked: number[] = [];
  /** Kept across renders, so a poll does not take the focus from someone typing. */
  private readonly _paramsInput = el('input', 'jp-mod-styled nb2pipe-params-input');
  private _error: string | null = null;
  private _generation = 0;
  private _timers: Record<string, number> = {};

  /** Follow a notebook's generated project (null: not converted yet). */
  setProject(notebook: string | null, project: string | null): void {
    if (notebook === this._notebook && project === this._project) {
      return;
    }
    this._generation++;
    for (const t of Object.values(this._timers)) {
      window.clearTimeout(t);
    }
    this._timers = {};
    this._notebook = notebook;
    this._project = project;
    this._run = this._runs = this._verify = this._comparison = null;
    this._picked = [];
    this._error = null;
    this.render();
    if (project) {
      void this._pollRun();
      void this._pollVerify();
      void this.loadRuns();
    }
  }

  // ---- talking to the server ---------------------------------------------------------------

  private async _call<T>(what: () => Promise<T>): Promise<T | null> {
    const generation = this._generation;
    try {
      const result = await what();
      if (generation !== this._generation) {
        return null;
      }
      this._error = null;
      return result;
    } catch (error) {
      if (generation === this._generation) {
        console.error('nb2pipe workbench request failed', error);
        this._error = (error as Error).message;
        this.render();
      }
      return null;
    }
  }

  private _later(kind: string, fn: () => Promise<void>): void {
    window.clearTimeout(this._timers[kind]);
    this._timers[kind] = window.setTimeout(() => void fn(), POLL_MS);
  }

  private async _pollRun(): Promise<void> {
    const project = this._project;
    if (!project) {
      return;
    }
    const before = this._run?.job?.state;
    const state = await this._call(() => runState(project));
    if (!state) {
      return;
    }
    this._run = state;
    this.render();
    if (state.job?.state === 'running') {
      this._later('run', () => this._pollRun());
    } else if (before === 'running') {
      void this.loadRuns(); // a run ended: it joins the list, staleness changed
    }
  }

  private async _pollVerify(): Promise<void> {
    const project = this._project;
    if (!project) {
      return;
    }
    const before = this._verify?.job?.state;
    const state = await this._call(() => verifyState(project));
    if (!state) {
      return;
    }
    this._verify = state;
    this.render();
    if (state.job?.state === 'running') {
      this._later('verify', () => this._pollVerify());
    } else if (before === 'running') {
      void this.loadRuns(); // the project may have changed meanwhile: staleness again
    }
  }

  async loadRuns(): Promise<void> {
    const project = this._project;
    if (!project) {
      return;
    }
    const runs = await this._call(() => listRuns(project));
    if (runs) {
      this._runs = runs;
      this.render();
    }
  }

  async run(): Promise<void> {
    const project = this._project;
    if (!project) {
      return;
    }
    const params = this._paramsInput.value
      .split(/[\s,]+/)
      .map(p => p.trim())
      .filter(p => p);
    if (await this._call(() => startRun(project, params))) {
      await this._pollRun();
    }
  }

  async cancel(): Promise<void> {
    const project = this._project;
    if (project && (await this._call(() => cancelJob(project)))) {
      await Promise.all([this._pollRun(), this._pollVerify()]);
    }
  }

  async verify(): Promise<void> {
    const project = this._project;
    const notebook = this._notebook;
    if (project && notebook && (await this._call(() => startVerify(notebook, project)))) {
      await this._pollVerify();
    }
  }

  async compare(): Promise<void> {
    const project = this._project;
    if (!project || this._picked.length !== 2) {
      return;
    }
    const [a, b] = [...this._picked].sort((x, y) => x - y);
    const cmp = await this._call(() => compareRuns(project, a, b));
    if (cmp) {
      this._comparison = cmp;
      this.render();
    }
  }

  // ---- rendering ---------------------------------------------------------------------------

  render(): void {
    const root = this.node;
    root.replaceChildren();
    if (!this._project) {
      return;
    }
    if (this._error) {
      const box = el('div', 'nb2pipe-error nb2pipe-workbench-error', this._error);
      box.setAttribute('role', 'alert');
      root.appendChild(box);
    }
    root.append(this._renderRun(), this._renderRuns(), this._renderVerify(),
      this._renderDeploy());
  }

  private _busy(): boolean {
    return this._run?.job?.state === 'running' || this._verify?.job?.state === 'running';
  }

  private _renderRun(): HTMLElement {
    const box = el('section', 'nb2pipe-run');
    box.appendChild(el('h3', '', 'Run'));
    const controls = el('div', 'nb2pipe-buttons');
    const params = this._paramsInput;
    params.placeholder = 'name=value … (parameters)';
    params.title = 'Parameter overrides for this run, e.g. alpha=0.5 n=10';
    const running = this._run?.job?.state === 'running';
    controls.append(
      button('jp-mod-accept nb2pipe-run-button', 'Run', () => void this.run(), this._busy()),
      button('jp-mod-warn nb2pipe-cancel-button', 'Cancel', () => void this.cancel(),
        !this._busy())
    );
    box.append(params, controls);
    const state = this._run;
    if (!state) {
      return box;
    }
    const run = state.run;
    if (state.job_error) {
      box.appendChild(el('pre', 'nb2pipe-error', state.job_error));
    }
    if (!run) {
      box.appendChild(el('div', 'nb2pipe-hint', running ? 'Starting…' : 'No runs yet.'));
      return box;
    }
    const title = el('div', `nb2pipe-run-state nb2pipe-st-${run.status}`);
    title.dataset.status = run.status;
    title.textContent =
      `Run ${run.id}: ${run.status}` + (run.seconds !== null ? ` in ${duration(run.seconds)}` : '');
    box.appendChild(title);
    const table = el('table', 'nb2pipe-progress');
    for (const s of run.steps) {
      const tr = el('tr', 'nb2pipe-progress-step');
      tr.dataset.step = s.step;
      tr.dataset.status = s.status;
      const badge = el('span', `nb2pipe-badge nb2pipe-st-${s.status}`, STEP_LABEL[s.status] ?? s.status);
      const time =
        s.status === 'running'
          ? duration(s.elapsed)
          : s.status === 'cached'
            ? `run ${s.cached_from_run}`
            : duration(s.seconds);
      const cells = [el('td', 'nb2pipe-mono', s.step), el('td'), el('td', 'nb2pipe-time', time)];
      cells[1].appendChild(badge);
      tr.append(...cells);
      if (s.error && s.status !== 'failed') {
        tr.title = s.error;
      }
      table.appendChild(tr);
    }
    box.appendChild(table);
    for (const f of state.failures) {
      const det = el('details', 'nb2pipe-failure');
      det.open = true;
      det.dataset.step = f.step;
      det.appendChild(el('summary', '', `Step ${f.step} failed: ${(f.error ?? '').split('\n')[0]}`));
      if (f.error) {
        det.appendChild(el('pre', 'nb2pipe-log nb2pipe-log-error', f.error));
      }
      for (const [label, text] of [['stdout', f.stdout], ['stderr', f.stderr]]) {
        if (text.trim()) {
          det.appendChild(el('div', 'nb2pipe-log-label', label));
          det.appendChild(el('pre', `nb2pipe-log nb2pipe-log-${label}`, text));
        }
      }
      box.appendChild(det);
    }
    return box;
  }

  private _renderRuns(): HTMLElement {
    const box = el('section', 'nb2pipe-runs');
    const head = el('h3', 'nb2pipe-runs-head', 'Runs');
    head.appendChild(button('nb2pipe-runs-refresh', 'Refresh', () => void this.loadRuns()));
    box.appendChild(head);
    const data = this._runs;
    if (!data) {
      return box;
    }
    if (!data.runs.length) {
      box.appendChild(el('div', 'nb2pipe-hint', 'No runs recorded yet.'));
    } else {
      const table = el('table', 'nb2pipe-runs-table');
      const header = el('tr');
      for (const label of ['', 'run', 'status', 'time', 'parameters', 'metrics']) {
        header.appendChild(el('th', '', label));
      }
      table.appendChild(header);
      for (const r of [...data.runs].reverse().slice(0, 20)) {
        const tr = el('tr', 'nb2pipe-run-row');
        tr.dataset.run = String(r.id);
        const pick = el('input', 'nb2pipe-run-pick');
        pick.type = 'checkbox';
        pick.checked = this._picked.includes(r.id);
        pick.title = 'Pick two runs to compare';
        pick.onchange = () => {
          this._picked = pick.checked
            ? [...this._picked.filter(id => id !== r.id), r.id].slice(-2)
            : this._picked.filter(id => id !== r.id);
          this.render();
        };
        const over = Object.entries(r.overrides || {}).map(([k, v]) => `${k}=${show(v)}`);
        const metrics = Object.entries(r.metrics || {}).map(([k, v]) => `${k}=${show(v)}`);
        const when = new Date(r.started * 1000).toLocaleTimeString();
        const cells = [
          el('td'),
          el('td', 'nb2pipe-mono', String(r.id)),
          el('td', `nb2pipe-st-${r.status}`, r.status),
          el('td', 'nb2pipe-time', `${when} ${duration(r.seconds)}`),
          el('td', 'nb2pipe-mono', over.join(' ') || 'defaults'),
          el('td', 'nb2pipe-mono', metrics.join(' '))
        ];
        cells[0].appendChild(pick);
        tr.append(...cells);
        table.appendChild(tr);
      }
      box.appendChild(table);
      box.appendChild(
        button('nb2pipe-compare-button', 'Compare the two picked runs', () => void this.compare(),
          this._picked.length !== 2)
      );
    }
    if (this._comparison) {
      box.appendChild(this._renderComparison(this._comparison));
    }
    box.appendChild(this._renderStaleness(data));
    return box;
  }

  private _renderComparison(c: IComparison): HTMLElement {
    const box = el('div', 'nb2pipe-compare');
    box.appendChild(el('h4', '', `Run ${c.a} → run ${c.b}`));
    const table = el('table', 'nb2pipe-compare-table');
    const row = (kind: string, name: string, a: string, b: string, note = '') => {
      const tr = el('tr', `nb2pipe-compare-${kind}`);
      tr.dataset.name = name;
      tr.append(el('td', 'nb2pipe-io-label', kind), el('td', 'nb2pipe-mono', name),
        el('td', 'nb2pipe-mono', a), el('td', 'nb2pipe-mono', b), el('td', 'nb2pipe-hint', note));
      table.appendChild(tr);
    };
    const header = el('tr');
    for (const label of ['', '', `run ${c.a}`, `run ${c.b}`, '']) {
      header.appendChild(el('th', '', label));
    }
    table.appendChild(header);
    for (const [name, d] of Object.entries(c.params)) {
      row('param', name, show(d.a), show(d.b));
    }
    for (const [name, d] of Object.entries(c.metrics)) {
      const delta = d.delta !== undefined ? `Δ ${d.delta > 0 ? '+' : ''}${show(d.delta)}` : '';
      row('metric', name, show(d.a), show(d.b), d.changed ? delta || 'changed' : 'same');
    }
    for (const [step, files] of Object.entries(c.code || {})) {
      row('code', step, '', '', `${Object.keys(files).join(', ')} changed`);
    }
    box.appendChild(table);
    const arts = Object.keys(c.artifacts);
    const changed = el('div', 'nb2pipe-compare-artifacts');
    changed.textContent = c.changed_artifacts.length
      ? `Artifacts changed (${c.changed_artifacts.length} of ${arts.length}): ` +
        c.changed_artifacts.join(', ')
      : `No artifact changed (${arts.length} compared).`;
    box.appendChild(changed);
    return box;
  }

  private _renderStaleness(data: IRuns): HTMLElement {
    const box = el('div', 'nb2pipe-staleness');
    const st = data.status;
    const n = Object.keys(st.steps).length;
    box.appendChild(
      el('h4', '', st.stale.length ? `Stale now: ${st.stale.length} of ${n} steps` :
        `All ${n} steps up to date`)
    );
    const ul = el('ul', 'nb2pipe-stale-list');
    for (const name of st.stale) {
      const reasons = st.steps[name].reasons.map(r => `${r.kind}: ${r.detail}`);
      const li = el('li', 'nb2pipe-stale-step');
      li.dataset.step = name;
      li.append(el('span', 'nb2pipe-mono', name), document.createTextNode(` — ${reasons.join('; ')}`));
      ul.appendChild(li);
    }
    for (const note of st.notes) {
      ul.appendChild(el('li', 'nb2pipe-hint', note));
    }
    box.appendChild(ul);
    return box;
  }

  private _renderVerify(): HTMLElement {
    const box = el('section', 'nb2pipe-verify');
    box.appendChild(el('h3', '', 'Verify against the notebook'));
    box.appendChild(
      button('nb2pipe-verify-button', 'Verify', () => void this.verify(), this._busy())
    );
    const state = this._verify;
    if (!state?.job) {
      return box;
    }
    if (state.job.state === 'running') {
      box.appendChild(el('div', 'nb2pipe-busy',
        'Verifying: running the notebook, then each step… ' + duration(state.job.seconds)));
      return box;
    }
    if (state.error) {
      box.appendChild(el('pre', 'nb2pipe-error nb2pipe-verify-error', state.error));
    }
    const report = state.report;
    if (!report) {
      return box;
    }
    const counts = Object.entries(report.counts).map(([k, n]) => `${n} ${k}`).join(', ');
    const summary = el('div', `nb2pipe-verify-result nb2pipe-status ${report.ok ? 'nb2pipe-fresh' : 'nb2pipe-stale'}`);
    summary.dataset.ok = String(report.ok);
    summary.textContent = (report.ok ? 'The pipeline reproduces the notebook' :
      'The pipeline differs from the notebook') + (counts ? ` (${counts})` : '');
    box.appendChild(summary);
    if (report.notebook_error) {
      box.appendChild(el('pre', 'nb2pipe-error', `The notebook failed: ${report.notebook_error}`));
    }
    for (const s of report.steps) {
      const card = el('div', 'nb2pipe-verify-step');
      card.dataset.step = s.step;
      card.appendChild(el('div', 'nb2pipe-step-name', s.step));
      if (s.error) {
        card.appendChild(el('pre', 'nb2pipe-error', s.error));
      }
      if (s.inputs_differ.length) {
        card.appendChild(el('div', 'nb2pipe-hint',
          `its inputs already differ: ${s.inputs_differ.join(', ')} — look upstream first`));
      }
      for (const v of s.values) {
        const row = el('div', 'nb2pipe-verify-value');
        row.dataset.name = v.name;
        row.dataset.status = v.status;
        row.append(el('span', 'nb2pipe-mono', v.name),
          el('span', `nb2pipe-badge nb2pipe-v-${v.status.replace(' ', '-')}`,
            v.status === 'equal' ? 'matches' : v.status));
        if (v.detail) {
          row.appendChild(el('span', 'nb2pipe-hint', v.detail));
        }
        card.appendChild(row);
      }
      box.appendChild(card);
    }
    for (const note of report.notes) {
      box.appendChild(el('div', 'nb2pipe-hint', note));
    }
    return box;
  }

  private _renderDeploy(): HTMLElement {
    const box = el('section', 'nb2pipe-deploy');
    box.appendChild(el('h3', '', 'Deploy'));
    const project = this._project!;
    box.appendChild(
      button('nb2pipe-deploy-button', 'Submit to a cluster…', () => void openDeployDialog(project))
    );
    return box;
  }
}
