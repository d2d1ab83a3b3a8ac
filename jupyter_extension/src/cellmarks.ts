// Marks on the notebook's own cells (as Kale does): each code cell carries its step's colour
// and name (a left border and a small label), the cell that starts a step says why (tag,
// heading, data flow), skipped cells and stripped lines are muted with the reason on hover,
// and diagnostics sit on their cell and line with `nb2pipe explain`'s text on hover.
// The server computes the marks (nb2pipe/jupyter/cellmarks.py); this file only draws them.
import { StateEffect, StateField } from '@codemirror/state';
import { Decoration, DecorationSet, EditorView } from '@codemirror/view';
import { Cell } from '@jupyterlab/cells';
import type { CodeMirrorEditor } from '@jupyterlab/codemirror';
import { INotebookModel, NotebookPanel } from '@jupyterlab/notebook';

import { ICellMark, IDiagnostic, IPreview } from './api';

// distinct on light and dark themes; a step keeps its colour while the plan keeps its order
const PALETTE = [
  '#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2',
  '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#8cd17d'
];

export function stepColor(index: number): string {
  return PALETTE[index % PALETTE.length];
}

const START_TEXT: Record<string, string> = {
  tag: 'starts here by its step: tag',
  heading: 'starts here at a markdown heading',
  flow: 'starts here where few values cross (data flow)',
  first: 'the first step'
};

/** A line range to decorate in one cell's editor (1-based lines). */
interface ILineMark {
  from: number;
  to: number;
  cls: string;
  title: string;
}

const setLineMarks = StateEffect.define<ILineMark[]>();

const lineMarks = StateField.define<DecorationSet>({
  create: () => Decoration.none,
  update(value, tr) {
    value = value.map(tr.changes); // edits move the marks with the text until the next preview
    for (const effect of tr.effects) {
      if (effect.is(setLineMarks)) {
        const doc = tr.state.doc;
        const ranges = [];
        for (const m of effect.value) {
          for (let l = Math.max(1, m.from); l <= Math.min(m.to, doc.lines); l++) {
            ranges.push(
              Decoration.line({ class: m.cls, attributes: { title: m.title } }).range(
                doc.line(l).from
              )
            );
          }
        }
        value = Decoration.set(ranges, true);
      }
    }
    return value;
  },
  provide: f => EditorView.decorations.from(f)
});

/** The notebook as the editor holds it, without outputs (what the preview needs). */
export function slimNotebook(model: INotebookModel): { content: any; ids: string[] } {
  const ids: string[] = [];
  const cells: any[] = [];
  for (let i = 0; i < model.cells.length; i++) {
    const c = model.cells.get(i);
    ids.push(c.id);
    const tags = c.getMetadata('tags');
    const cell: any = {
      cell_type: c.type,
      id: c.id,
      source: c.sharedModel.getSource(),
      metadata: Array.isArray(tags) ? { tags } : {}
    };
    if (c.type === 'code') {
      cell.outputs = [];
      cell.execution_count = null;
    }
    cells.push(cell);
  }
  const metadata = model.sharedModel.getMetadata();
  return {
    content: { nbformat: 4, nbformat_minor: 5, metadata, cells },
    ids
  };
}

interface ICellView {
  step: string | null;
  color: string;
  label: string;
  labelTitle: string;
  classes: string[];
  lines: ILineMark[];
}

function explainOf(d: IDiagnostic, explain: Record<string, string>): string {
  const text = explain[d.code];
  return `${d.code} ${d.message}` + (text ? `\n\n${text}` : '');
}

/** What each cell (by model id) shows for one preview: pure, so it is cheap to compare. */
export function cellViews(
  preview: IPreview,
  ids: string[]
): Map<string, ICellView> {
  const out = new Map<string, ICellView>();
  const order = new Map((preview.plan?.steps ?? []).map((s, i) => [s.name, i]));
  const explain = preview.explain ?? {};
  const byCell = new Map<number, IDiagnostic[]>();
  for (const d of preview.diagnostics) {
    if (d.cell !== null) {
      (byCell.get(d.cell) ?? byCell.set(d.cell, []).get(d.cell)!).push(d);
    }
  }
  const marks = new Map<number, ICellMark>((preview.cells ?? []).map(m => [m.cell, m]));
  const cells = new Set<number>([...marks.keys(), ...byCell.keys()]);
  for (const index of cells) {
    const id = ids[index - 1];
    if (id === undefined) {
      continue;
    }
    const m = marks.get(index);
    const view: ICellView = {
      step: null,
      color: '',
      label: '',
      labelTitle: '',
      classes: [],
      lines: []
    };
    if (m?.skipped) {
      view.classes.push('nb2pipe-cell-skipped');
      view.label = 'not in the pipeline';
      view.labelTitle = `Skipped: ${m.skipped}`;
    } else if (m?.step) {
      view.step = m.step;
      view.color = stepColor(order.get(m.step) ?? 0);
      view.classes.push('nb2pipe-cell-step');
      view.label = m.step;
      view.labelTitle = `Pipeline step ${m.step}`;
      if (m.start) {
        view.classes.push('nb2pipe-cell-start', `nb2pipe-start-${m.start}`);
        view.label = `▶ ${m.step}`;
        view.labelTitle += ` — ${START_TEXT[m.start] ?? m.start}`;
      }
    }
    for (const s of m?.stripped ?? []) {
      view.lines.push({
        from: s.line,
        to: s.end,
        cls: 'nb2pipe-line-stripped',
        title: `Stripped from the step: ${s.reason}`
      });
    }
    if (m?.stripped?.length && !m.skipped) {
      view.labelTitle += `\n${m.stripped.length} statement(s) stripped: ` +
        Array.from(new Set(m.stripped.map(s => s.reason))).join(', ');
    }
    const diags = byCell.get(index) ?? [];
    if (diags.length) {
      const worst = diags.some(d => d.severity === 'error')
        ? 'error'
        : diags.some(d => d.severity === 'warning')
          ? 'warning'
          : 'info';
      view.classes.push('nb2pipe-cell-diag', `nb2pipe-cell-diag-${worst}`);
      for (const d of diags) {
        view.lines.push({
          from: d.line ?? 1,
          to: d.line ?? 1,
          cls: `nb2pipe-line-diag nb2pipe-line-${d.severity}`,
          title: explainOf(d, explain)
        });
      }
    }
    out.set(id, view);
  }
  return out;
}

/** Keeps one notebook's cells marked; only cells whose marks changed are touched. */
export class CellMarks {
  private _applied = new WeakMap<Cell, string>(); // signature of what each cell shows
  private _views = new Map<string, ICellView>();
  private _diags = new Map<string, IDiagnostic[]>();
  private _explain: Record<string, string> = {};
  private _injected = new WeakSet<EditorView>();

  constructor(private readonly _panel: NotebookPanel) {
    // a cell added or rendered later (windowed notebooks) gets its marks when it appears
    _panel.content.model?.cells.changed.connect(this._applyAll, this);
  }

  get panel(): NotebookPanel {
    return this._panel;
  }

  /** Show one preview (`ids`: the cell ids of the notebook as it was sent). */
  update(preview: IPreview, ids: string[]): void {
    const start = performance.now();
    this._views = cellViews(preview, ids);
    this._explain = preview.explain ?? {};
    this._diags = new Map();
    for (const d of preview.diagnostics) {
      const id = d.cell !== null ? ids[d.cell - 1] : undefined;
      if (id !== undefined) {
        (this._diags.get(id) ?? this._diags.set(id, []).get(id)!).push(d);
      }
    }
    this._applyAll();
    // how long marking the cells took (read by the browser test on a 300-cell notebook)
    performance.measure('nb2pipe-cellmarks', { start, end: performance.now() });
  }

  clear(): void {
    this._views = new Map();
    this._diags = new Map();
    this._applyAll();
  }

  dispose(): void {
    this._panel.content.model?.cells.changed.disconnect(this._applyAll, this);
    this.clear();
  }

  private _applyAll(): void {
    for (const cell of this._panel.content.widgets) {
      this._apply(cell);
    }
  }

  private _apply(cell: Cell): void {
    const id = cell.model.id;
    const view = this._views.get(id);
    const diags = this._diags.get(id) ?? [];
    const signature = view ? JSON.stringify([view, diags.map(d => d.code + d.message)]) : '';
    if ((this._applied.get(cell) ?? '') === signature) {
      return; // unchanged: a 300-cell notebook only pays for the cells that changed
    }
    this._applied.set(cell, signature);
    const node = cell.node;
    node.classList.forEach(c => {
      if (c.startsWith('nb2pipe-cell-') || c.startsWith('nb2pipe-start-')) {
        node.classList.remove(c);
      }
    });
    node.querySelectorAll(':scope > .nb2pipe-cell-tags').forEach(e => e.remove());
    node.style.removeProperty('--nb2pipe-step-color');
    delete node.dataset.nb2pipeStep;
    this._setLines(cell, view?.lines ?? []);
    if (!view) {
      return;
    }
    node.classList.add('nb2pipe-cell-marked', ...view.classes);
    if (view.step) {
      node.dataset.nb2pipeStep = view.step;
      node.style.setProperty('--nb2pipe-step-color', view.color);
    }
    // bottom right: the cell toolbar JupyterLab shows on the active cell takes the top right
    const tags = document.createElement('div');
    tags.className = 'nb2pipe-cell-tags';
    if (diags.length) {
      const badge = document.createElement('span');
      const worst = diags.some(d => d.severity === 'error')
        ? 'error'
        : diags.some(d => d.severity === 'warning') ? 'warning' : 'info';
      badge.className = `nb2pipe-cell-badge nb2pipe-sev-${worst}`;
      badge.textContent = diags.map(d => d.code).join(' ');
      badge.dataset.codes = diags.map(d => d.code).join(' ');
      badge.title = diags
        .map(d => `line ${d.line ?? 1}: ` + explainOf(d, this._explain))
        .join('\n\n────────\n\n');
      tags.appendChild(badge);
    }
    if (view.label) {
      const label = document.createElement('span');
      label.className = 'nb2pipe-cell-label';
      label.textContent = view.label;
      label.title = view.labelTitle;
      tags.appendChild(label);
    }
    if (tags.childElementCount) {
      node.appendChild(tags);
    }
  }

  private _setLines(cell: Cell, lines: ILineMark[]): void {
    const editor = cell.editor;
    if (!editor) {
      if (lines.length) {
        // not rendered yet: mark it once it is
        void cell.ready.then(() => {
          if (cell.editor) {
            this._setLines(cell, lines);
          }
        });
      }
      return;
    }
    const view = (editor as CodeMirrorEditor).editor as EditorView | undefined;
    if (!view) {
      return;
    }
    if (!this._injected.has(view)) {
      if (!lines.length) {
        return; // nothing to show and nothing shown: leave the editor alone
      }
      (editor as CodeMirrorEditor).injectExtension(lineMarks);
      this._injected.add(view);
    }
    view.dispatch({ effects: setLineMarks.of(lines) });
  }
}
