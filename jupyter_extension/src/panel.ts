// The side panel: the step DAG, each step's inputs/outputs, the diagnostics (click one to jump
// to its cell) and the result of the last conversion. Errors are shown, never swallowed.
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { NotebookPanel } from '@jupyterlab/notebook';
import { Widget } from '@lumino/widgets';

import {
  IConversion,
  IDiagnostic,
  IPreview,
  IServing,
  IStep,
  convert,
  previewContent
} from './api';
import { slimNotebook, stepColor } from './cellmarks';
import { drawDag } from './dag';
import { el as h } from './dom';
import { pipelineIcon } from './icon';
import { Workbench } from './workbench';

export interface IPanelOptions {
  openFile: (path: string) => void;
  /** Each preview shown, with the cell ids of the notebook as it was sent (cell marks). */
  onPreview?: (notebook: NotebookPanel, preview: IPreview | null, cellIds: string[]) => void;
}

/** Quiet time after an edit before the notebook is analyzed again. */
export const PREVIEW_DEBOUNCE_MS = 800;

export class PipelinePanel extends Widget {
  private _notebook: NotebookPanel | null = null;
  private _preview: IPreview | null = null;
  private _result: IConversion | null = null;
  private _error: string | null = null;
  private _busy = '';
  private _selected: string | null = null;
  private _generation = 0;
  private readonly _workbench = new Workbench(); // run, runs, verify, deploy
  private _debounce = 0;
  private _resultKey: string | null = null;

  constructor(private readonly _options: IPanelOptions) {
    super();
    this.id = 'nb2pipe-panel';
    this.addClass('nb2pipe-panel');
    this.title.icon = pipelineIcon;
    this.title.caption = 'Pipeline (nb2pipe)';
    this.render();
  }

  get notebook(): NotebookPanel | null {
    return this._notebook;
  }

  /** Follow another notebook (or none); refreshes the preview. */
  setNotebook(panel: NotebookPanel | null): void {
    if (panel === this._notebook) {
      return;
    }
    if (this._notebook) {
      this._notebook.context.saveState.disconnect(this._onSaved, this);
      this._notebook.context.model.contentChanged.disconnect(this._onEdited, this);
    }
    window.clearTimeout(this._debounce);
    this._notebook = panel;
    this._preview = null;
    this._result = null;
    this._error = null;
    this._selected = null;
    if (panel) {
      panel.context.saveState.connect(this._onSaved, this);
      void panel.context.ready.then(() => {
        if (this._notebook === panel) {
          panel.context.model.contentChanged.connect(this._onEdited, this);
          void this.refresh();
        }
      });
    }
    this.render();
  }

  private _onSaved(_: unknown, state: string): void {
    if (state === 'completed') {
      void this.refresh();
    }
  }

  /** An edit (source, tags, cells added or moved): analyze again once typing pauses. */
  private _onEdited(): void {
    window.clearTimeout(this._debounce);
    this._debounce = window.setTimeout(() => void this.refresh(true), PREVIEW_DEBOUNCE_MS);
  }

  /** Re-plan the notebook as the editor holds it (unsaved edits included; nothing is
   * saved). `quiet`: after an edit, without the "Analyzing…" line. */
  async refresh(quiet = false): Promise<void> {
    const nb = this._notebook;
    if (!nb || !nb.context.isReady) {
      return;
    }
    window.clearTimeout(this._debounce);
    const generation = ++this._generation;
    if (!quiet) {
      this._busy = 'Analyzing…';
      this.render();
    }
    try {
      const { content, ids } = slimNotebook(nb.context.model);
      const data = await previewContent(nb.context.path, content);
      if (generation !== this._generation) {
        return;
      }
      if (this._result) {
        const key = planKey(data);
        if (this._resultKey === null) {
          this._resultKey = key; // the plan the conversion was made from
        } else if (key !== this._resultKey) {
          this._result = null; // the last conversion no longer describes this plan
        }
      }
      this._preview = data;
      this._error = null;
      this._options.onPreview?.(nb, data, ids);
    } catch (error) {
      if (generation !== this._generation) {
        return;
      }
      console.error('nb2pipe preview failed', error);
      this._error = (error as Error).message;
    } finally {
      if (generation === this._generation) {
        this._busy = '';
        this.render();
      }
    }
  }

  /** Save the notebook, convert it, show the result. */
  async convert(force = false): Promise<IConversion | null> {
    const nb = this._notebook;
    if (!nb) {
      this._error = 'Open a notebook to convert it.';
      this.render();
      return null;
    }
    const generation = ++this._generation;
    this._busy = 'Converting…';
    this._error = null;
    this.render();
    try {
      if (nb.context.model.dirty) {
        await nb.context.save();
      }
      const result = await convert(nb.context.path, force);
      this._result = result;
      this._resultKey = null;
      if (result.plan) {
        this._preview = {
          path: result.path,
          outdir: result.outdir,
          plan: result.plan,
          diagnostics: result.diagnostics,
          check: result.check,
          readme: result.readme
        };
      } else if (this._preview) {
        this._preview = { ...this._preview, diagnostics: result.diagnostics };
      }
      // the cell marks and the plan the result belongs to come from a preview
      window.setTimeout(() => void this.refresh(true), 0);
      return result;
    } catch (error) {
      console.error('nb2pipe convert failed', error);
      this._error = (error as Error).message;
      return null;
    } finally {
      if (generation === this._generation) {
        this._busy = '';
      }
      this.render();
    }
  }

  private _jumpTo(d: IDiagnostic): void {
    const nb = this._notebook;
    if (!nb || d.cell === null) {
      return;
    }
    const index = d.cell - 1;
    const content = nb.content;
    if (index < 0 || index >= content.widgets.length) {
      this._error = `${d.code}: cell ${d.cell} is no longer in the notebook`;
      this.render();
      return;
    }
    content.activeCellIndex = index;
    content.deselectAll();
    void content.scrollToItem(index, 'center');
    content.activeCell?.addClass('nb2pipe-flash');
    window.setTimeout(() => content.widgets[index]?.removeClass('nb2pipe-flash'), 1200);
  }

  private _jumpToStep(step: IStep): void {
    this._selected = step.name;
    this.render();
    const nb = this._notebook;
    if (nb && step.cells.length) {
      const index = step.cells[0] - 1;
      if (index >= 0 && index < nb.content.widgets.length) {
        nb.content.activeCellIndex = index;
        void nb.content.scrollToItem(index, 'start');
      }
    }
  }

  /** The step colours the notebook's cells carry (cellmarks.ts), by plan order. */
  private _colorOf(name: string): string {
    const steps = this._preview?.plan?.steps ?? [];
    const i = steps.findIndex(s => s.name === name);
    return i < 0 ? '' : stepColor(i);
  }

  render(): void {
    const root = this.node;
    root.replaceChildren();
    const header = h('div', 'nb2pipe-header');
    header.appendChild(h('div', 'nb2pipe-heading', 'Pipeline'));
    const path = this._notebook ? this._notebook.context.path : 'no notebook';
    header.appendChild(h('div', 'nb2pipe-path', path));
    const buttons = h('div', 'nb2pipe-buttons');
    const convertBtn = h('button', 'jp-mod-styled jp-mod-accept nb2pipe-convert', 'Convert');
    convertBtn.disabled = !this._notebook || !!this._busy;
    convertBtn.onclick = () => void this.convert();
    const refreshBtn = h('button', 'jp-mod-styled nb2pipe-refresh', 'Refresh');
    refreshBtn.disabled = !this._notebook || !!this._busy;
    refreshBtn.onclick = () => void this.refresh();
    buttons.append(convertBtn, refreshBtn);
    header.appendChild(buttons);
    root.appendChild(header);

    if (this._busy) {
      root.appendChild(h('div', 'nb2pipe-busy', this._busy));
    }
    if (this._error) {
      const box = h('div', 'nb2pipe-error');
      box.setAttribute('role', 'alert');
      box.textContent = this._error;
      root.appendChild(box);
    }
    if (!this._notebook) {
      root.appendChild(h('p', 'nb2pipe-hint', 'Open a notebook to see its pipeline.'));
      return;
    }
    const pv = this._preview;
    if (pv) {
      const status = h(
        'div',
        'nb2pipe-status ' + (pv.check.stale ? 'nb2pipe-stale' : 'nb2pipe-fresh'),
        pv.check.converted
          ? pv.check.stale
            ? `Pipeline ${pv.outdir} is stale: ${pv.check.problems.join('; ')}` +
              (pv.check.edited.length
                ? ' (Convert keeps hand edits)'
                : ' — Convert to update it')
            : `Pipeline ${pv.outdir} is up to date`
          : `Not converted yet (output: ${pv.outdir})`
      );
      root.appendChild(status);
      if (pv.check.serving && pv.check.serving.status !== 'none') {
        root.appendChild(servingLine(pv.check.serving, pv.outdir));
      }
    }
    if (this._result) {
      root.appendChild(this._renderResult(this._result));
    }
    if (pv?.plan) {
      root.appendChild(this._renderPlan(pv));
    }
    if (pv) {
      root.appendChild(this._renderDiagnostics(pv.diagnostics));
    }
    this._workbench.setProject(path, pv?.check.converted ? pv.outdir : null);
    root.appendChild(this._workbench.node);
  }

  private _renderResult(r: IConversion): HTMLElement {
    const box = h('section', 'nb2pipe-result nb2pipe-result-' + r.status);
    box.appendChild(h('h3', '', 'Last conversion'));
    const summary =
      r.status === 'failed'
        ? 'Conversion failed — see the diagnostics below.'
        : `${r.status === 'converted' ? 'Converted' : 'Unchanged'} → ${r.outdir}: ` +
          `${r.written.length} written, ${r.unchanged.length} unchanged` +
          (r.kept.length ? `, ${r.kept.length} hand-edited kept` : '');
    box.appendChild(h('div', 'nb2pipe-result-summary', summary));
    if (r.internal_error) {
      box.appendChild(h('pre', 'nb2pipe-error', r.internal_error));
    }
    if (r.readme && r.status !== 'failed') {
      const link = h('a', 'nb2pipe-readme', 'Open the generated README');
      link.href = '#';
      const readme = r.readme;
      link.onclick = ev => {
        ev.preventDefault();
        this._options.openFile(readme);
      };
      box.appendChild(link);
    }
    if (r.kept.length) {
      const force = h('button', 'jp-mod-styled jp-mod-warn nb2pipe-force', 'Overwrite hand edits…');
      force.onclick = async () => {
        const answer = await showDialog({
          title: 'Overwrite hand-edited files?',
          body: `nb2pipe will regenerate ${r.kept.join(', ')} and lose the edits made by hand.`,
          buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Overwrite' })]
        });
        if (answer.button.accept) {
          await this.convert(true);
        }
      };
      box.appendChild(force);
    }
    const lists: [string, string[]][] = [
      ['Written', r.written],
      ['Kept (edited by hand)', r.kept],
      ['Removed', r.removed]
    ];
    for (const [label, files] of lists) {
      if (!files.length) {
        continue;
      }
      const det = h('details', 'nb2pipe-files');
      det.open = label !== 'Written' || files.length <= 8;
      det.appendChild(h('summary', '', `${label} (${files.length})`));
      const ul = h('ul');
      for (const f of files) {
        const li = h('li');
        if (label === 'Removed') {
          li.appendChild(h('span', 'nb2pipe-removed', f)); // deleted: nothing to open
        } else {
          const a = h('a', '', f);
          a.href = '#';
          a.onclick = ev => {
            ev.preventDefault();
            this._options.openFile(`${r.outdir}/${f}`);
          };
          li.appendChild(a);
        }
        ul.appendChild(li);
      }
      det.appendChild(ul);
      box.appendChild(det);
    }
    return box;
  }

  private _renderPlan(pv: IPreview): HTMLElement {
    const plan = pv.plan!;
    const box = h('section', 'nb2pipe-plan');
    box.appendChild(
      h('h3', '', `Steps (${plan.steps.length}, split by ${plan.split})`)
    );
    const dagBox = h('div', 'nb2pipe-dag-box');
    dagBox.appendChild(
      drawDag(plan.steps, s => this._jumpToStep(s), this._selected, n => this._colorOf(n))
    );
    box.appendChild(dagBox);
    const list = h('div', 'nb2pipe-steps');
    for (const s of plan.steps) {
      const card = h(
        'div',
        'nb2pipe-step' + (s.name === this._selected ? ' nb2pipe-selected' : '')
      );
      card.dataset.step = s.name;
      card.style.setProperty('--nb2pipe-step-color', this._colorOf(s.name));
      const title = h('div', 'nb2pipe-step-title');
      const name = h('a', 'nb2pipe-step-name', s.name);
      name.href = '#';
      name.onclick = ev => {
        ev.preventDefault();
        this._jumpToStep(s);
      };
      title.appendChild(name);
      title.appendChild(h('span', 'nb2pipe-step-cells', ` cells ${s.cells.join(', ')}`));
      card.appendChild(title);
      if (s.boundary) {
        // a step found in the data flow says why it starts here, as a heading would
        card.appendChild(h('div', 'nb2pipe-step-boundary', `starts here: ${s.boundary}`));
      }
      const io: [string, string[]][] = [
        ['in', s.inputs.map(n => {
          const src = s.input_sources.find(([v]) => v === n);
          return src ? `${n} ← ${src[1]}` : n;
        })],
        ['params', s.params],
        ['out', s.outputs]
      ];
      for (const [label, names] of io) {
        if (!names.length && label === 'params') {
          continue;
        }
        const row = h('div', 'nb2pipe-io');
        row.appendChild(h('span', 'nb2pipe-io-label', label));
        row.appendChild(h('span', 'nb2pipe-io-names', names.join(', ') || '—'));
        card.appendChild(row);
      }
      if (s.name === this._selected && s.body) {
        const det = h('details', 'nb2pipe-code');
        det.appendChild(h('summary', '', 'code'));
        det.appendChild(h('pre', '', s.body));
        card.appendChild(det);
      }
      list.appendChild(card);
    }
    box.appendChild(list);
    if (plan.parameters.length) {
      box.appendChild(h('h3', '', 'Parameters'));
      const ul = h('ul', 'nb2pipe-params');
      for (const [name, value] of plan.parameters) {
        ul.appendChild(h('li', '', `${name} = ${value}`));
      }
      box.appendChild(ul);
    }
    return box;
  }

  private _renderDiagnostics(diags: IDiagnostic[]): HTMLElement {
    const box = h('section', 'nb2pipe-diagnostics');
    const count = (sev: string) => diags.filter(d => d.severity === sev).length;
    const parts = [
      [count('error'), 'error'],
      [count('warning'), 'warning'],
      [count('info'), 'note']
    ]
      .filter(([n]) => n)
      .map(([n, label]) => `${n} ${label}${n === 1 ? '' : 's'}`);
    box.appendChild(h('h3', '', `Diagnostics${parts.length ? ` (${parts.join(', ')})` : ''}`));
    const ul = h('ul');
    for (const d of diags) {
      const li = h('li', `nb2pipe-diag nb2pipe-sev-${d.severity}`);
      li.dataset.code = d.code;
      const where = d.cell !== null ? `cell ${d.cell}:${d.line ?? 1}` : 'notebook';
      li.appendChild(h('span', 'nb2pipe-diag-code', d.code));
      li.appendChild(h('span', 'nb2pipe-diag-where', where));
      li.appendChild(h('span', 'nb2pipe-diag-msg', d.message));
      li.title = `${d.severity}: ${d.location}`;
      if (d.cell !== null) {
        li.classList.add('nb2pipe-clickable');
        li.onclick = () => this._jumpTo(d);
      }
      ul.appendChild(li);
    }
    if (!diags.length) {
      ul.appendChild(h('li', 'nb2pipe-hint', 'No findings.'));
    }
    box.appendChild(ul);
    return box;
  }
}

/** What identifies a plan for "the last conversion still describes it": steps and cells. */
function planKey(preview: IPreview): string {
  return JSON.stringify(
    (preview.plan?.steps ?? []).map(s => [s.name, s.cells, s.inputs, s.outputs, s.upstream])
  );
}

/** The serving path's state under the pipeline's status: verified (how to serve it), or why
 * not with the diagnostic's code (`nb2pipe explain CODE`). */
function servingLine(sv: IServing, outdir: string): HTMLElement {
  const line = document.createElement('div');
  line.className =
    'nb2pipe-serving ' + (sv.verified ? 'nb2pipe-serving-ok' : 'nb2pipe-serving-no');
  const serve =
    sv.run !== undefined && sv.run !== null
      ? `serve run ${sv.run} with nb2pipe serve ${outdir}`
      : `run the pipeline (it stores the serving state), then nb2pipe serve ${outdir}`;
  line.textContent = sv.verified
    ? `Serving: verified — ${sv.module} answers with ${sv.output}; ${serve}`
    : `Serving: ${sv.status}${sv.code ? ` [${sv.code}]` : ''}: ${sv.reason}`;
  line.title = sv.reason;
  return line;
}
