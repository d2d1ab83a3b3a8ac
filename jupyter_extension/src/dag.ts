// Draws the step DAG as SVG: layers top to bottom (a step sits one layer below its lowest
// upstream step), edges labelled with the values they carry.
import { IStep } from './api';

const SVG_NS = 'http://www.w3.org/2000/svg';
const NODE_W = 150;
const NODE_H = 34;
const GAP_X = 24;
const GAP_Y = 46;
const PAD = 12;

function el<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number> = {}
): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) {
    node.setAttribute(k, String(v));
  }
  return node;
}

function truncate(text: string, max: number): string {
  return text.length > max ? text.slice(0, max - 1) + '…' : text;
}

export function layers(steps: IStep[]): Map<string, number> {
  const names = new Set(steps.map(s => s.name));
  const layer = new Map<string, number>();
  for (const s of steps) {
    // steps come in notebook order, so every upstream step is placed already
    const ups = s.upstream.filter(u => names.has(u)).map(u => layer.get(u) ?? 0);
    layer.set(s.name, ups.length ? Math.max(...ups) + 1 : 0);
  }
  return layer;
}

export function drawDag(
  steps: IStep[],
  onSelect: (step: IStep) => void,
  selected: string | null
): SVGSVGElement {
  const layer = layers(steps);
  const rows: IStep[][] = [];
  for (const s of steps) {
    const l = layer.get(s.name) ?? 0;
    (rows[l] = rows[l] || []).push(s);
  }
  const widest = Math.max(1, ...rows.map(r => r.length));
  const width = PAD * 2 + widest * NODE_W + (widest - 1) * GAP_X;
  const height = PAD * 2 + rows.length * NODE_H + Math.max(0, rows.length - 1) * GAP_Y;
  const pos = new Map<string, { x: number; y: number }>();
  rows.forEach((row, r) => {
    const rowWidth = row.length * NODE_W + (row.length - 1) * GAP_X;
    const x0 = (width - rowWidth) / 2;
    row.forEach((s, i) => {
      pos.set(s.name, { x: x0 + i * (NODE_W + GAP_X), y: PAD + r * (NODE_H + GAP_Y) });
    });
  });

  const svg = el('svg', {
    class: 'nb2pipe-dag',
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    role: 'img',
    'aria-label': 'pipeline steps and their data flow'
  });
  const defs = el('defs');
  const marker = el('marker', {
    id: 'nb2pipe-arrow',
    viewBox: '0 0 10 10',
    refX: 10,
    refY: 5,
    markerWidth: 7,
    markerHeight: 7,
    orient: 'auto-start-reverse'
  });
  marker.appendChild(el('path', { d: 'M 0 0 L 10 5 L 0 10 z', class: 'nb2pipe-dag-arrow' }));
  defs.appendChild(marker);
  svg.appendChild(defs);

  for (const s of steps) {
    const to = pos.get(s.name)!;
    for (const up of s.upstream) {
      const from = pos.get(up);
      if (!from) {
        continue;
      }
      const x1 = from.x + NODE_W / 2;
      const y1 = from.y + NODE_H;
      const x2 = to.x + NODE_W / 2;
      const y2 = to.y;
      const my = (y1 + y2) / 2;
      const edge = el('path', {
        d: `M ${x1} ${y1} C ${x1} ${my}, ${x2} ${my}, ${x2} ${y2}`,
        class: 'nb2pipe-dag-edge',
        'marker-end': 'url(#nb2pipe-arrow)',
        'data-from': up,
        'data-to': s.name
      });
      const carried = s.input_sources.filter(([, src]) => src === up).map(([n]) => n);
      const title = el('title');
      title.textContent = `${up} → ${s.name}` + (carried.length ? `: ${carried.join(', ')}` : '');
      edge.appendChild(title);
      svg.appendChild(edge);
      if (carried.length) {
        const label = el('text', {
          x: (x1 + x2) / 2 + 4,
          y: my + 4,
          class: 'nb2pipe-dag-label'
        });
        label.textContent = truncate(carried.join(', '), 28);
        svg.appendChild(label);
      }
    }
  }

  for (const s of steps) {
    const p = pos.get(s.name)!;
    const g = el('g', {
      class: 'nb2pipe-dag-node' + (s.name === selected ? ' nb2pipe-selected' : ''),
      transform: `translate(${p.x},${p.y})`,
      'data-step': s.name,
      tabindex: 0
    });
    g.appendChild(el('rect', { width: NODE_W, height: NODE_H, rx: 6, ry: 6 }));
    const text = el('text', { x: NODE_W / 2, y: NODE_H / 2 + 4, 'text-anchor': 'middle' });
    text.textContent = truncate(s.name, 20);
    g.appendChild(text);
    const title = el('title');
    title.textContent =
      `${s.name} (cells ${s.cells.join(', ')})\ninputs: ${s.inputs.join(', ') || '—'}` +
      `\noutputs: ${s.outputs.join(', ') || '—'}`;
    g.appendChild(title);
    g.addEventListener('click', () => onSelect(s));
    g.addEventListener('keydown', (ev: KeyboardEvent) => {
      if (ev.key === 'Enter') {
        onSelect(s);
      }
    });
    svg.appendChild(g);
  }
  return svg;
}
