// Tag cells as pipeline steps without editing JSON: the tags nb2pipe reads (nb2pipe/notebook.py).
import { Cell } from '@jupyterlab/cells';
import { Notebook } from '@jupyterlab/notebook';

export const FLAG_TAGS = ['skip', 'imports', 'functions', 'parameters'] as const;
export type FlagTag = (typeof FLAG_TAGS)[number];

const NB2PIPE_FLAGS = new Set<string>([
  ...FLAG_TAGS,
  'pipeline-parameters',
  'pipeline-metrics'
]);
const NB2PIPE_PREFIXES = ['step:', 'prev:', 'block:'];

export function tagsOf(cell: Cell): string[] {
  const tags = cell.model.getMetadata('tags');
  return Array.isArray(tags) ? tags.filter((t): t is string => typeof t === 'string') : [];
}

function setTags(cell: Cell, tags: string[]): void {
  if (tags.length) {
    cell.model.setMetadata('tags', tags);
  } else {
    cell.model.deleteMetadata('tags');
  }
}

export function selectedCells(notebook: Notebook): Cell[] {
  return notebook.widgets.filter(c => notebook.isSelectedOrActive(c));
}

export function isNb2pipeTag(tag: string): boolean {
  return NB2PIPE_FLAGS.has(tag) || NB2PIPE_PREFIXES.some(p => tag.startsWith(p));
}

/** Mark cells as the start of step NAME (a cell has at most one step tag; `skip` goes). */
export function tagStep(cells: Cell[], name: string): void {
  for (const cell of cells) {
    const kept = tagsOf(cell).filter(t => !t.startsWith('step:') && t !== 'skip');
    setTags(cell, [...kept, `step:${name}`]);
  }
}

/** Toggle a flag tag on the cells: on for all unless all have it already. */
export function toggleFlag(cells: Cell[], flag: FlagTag): void {
  const allHave = cells.length > 0 && cells.every(c => tagsOf(c).includes(flag));
  for (const cell of cells) {
    let tags = tagsOf(cell).filter(t => t !== flag);
    if (!allHave) {
      if (flag === 'skip') {
        tags = tags.filter(t => !t.startsWith('step:'));
      }
      tags.push(flag);
    }
    setTags(cell, tags);
  }
}

export function clearTags(cells: Cell[]): void {
  for (const cell of cells) {
    setTags(cell, tagsOf(cell).filter(t => !isNb2pipeTag(t)));
  }
}

/** A step name from text: lowercase identifier, as nb2pipe would make it. */
export function stepName(text: string): string {
  const s = text
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, '_')
    .replace(/^_+|_+$/g, '');
  return /^[0-9]/.test(s) ? `step_${s}` : s;
}
