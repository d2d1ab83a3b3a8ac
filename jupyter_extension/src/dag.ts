// Draws the step DAG as SVG from the layered layout (layout.ts): nodes by layer, edges routed
// around the nodes of the layers they skip, labels with the values each edge carries (wrapped;
// the full list on hover).
import { IStep } from './api';
import { ILayoutEdge, layoutDag } from './layout';

const SVG_NS = 'http://www.w3.org/2000/svg';

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

function titled<T extends SVGElement>(node: T, text: string): T {
  const title = el('title');
  title.textContent = text;
  node.appendChild(title);
  return node;
}

/** The DAG's edges: each upstream step -> step, labelled with the values it hands on. */
export function dagEdges(steps: IStep[]): ILayoutEdge[] {
  const names = new Set(steps.map(s => s.name));
  const edges: ILayoutEdge[] = [];
  for (const s of steps) {
    for (const up of s.upstream) {
      if (names.has(up)) {
        const carried = s.input_sources.filter(([, src]) => src === up).map(([n]) => n);
        edges.push({ from: up, to: s.name, names: carried });
      }
    }
  }
  return edges;
}

export function drawDag(
  steps: IStep[],
  onSelect: (step: IStep) => void,
  selected: string | null,
  colorOf: (step: string) => string = () => ''
): SVGSVGElement {
  const layout = layoutDag(
    steps.map(s => s.name),
    dagEdges(steps)
  );
  const byName = new Map(steps.map(s => [s.name, s]));
  const { width, height } = layout;
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

  for (const e of layout.edges) {
    const d = e.points.map((p, i) => `${i ? 'L' : 'M'} ${p.x} ${p.y}`).join(' ');
    const path = el('path', {
      d,
      class: 'nb2pipe-dag-edge',
      'marker-end': 'url(#nb2pipe-arrow)',
      'data-from': e.from,
      'data-to': e.to,
      'data-layers': e.points.length
    });
    svg.appendChild(titled(path, `${e.from} → ${e.to}` + (e.full ? `: ${e.full}` : '')));
  }
  for (const e of layout.edges) {
    if (!e.label) {
      continue;
    }
    const g = el('g', {
      class: 'nb2pipe-dag-label',
      'data-from': e.from,
      'data-to': e.to
    });
    g.appendChild(
      el('rect', { x: e.label.x, y: e.label.y, width: e.label.w, height: e.label.h, rx: 2 })
    );
    const text = el('text', { x: e.label.x + 3, y: e.label.y + 10 });
    e.lines.forEach((line, i) => {
      const span = el('tspan', { x: e.label!.x + 3, dy: i ? 12 : 0 });
      span.textContent = line;
      text.appendChild(span);
    });
    g.appendChild(text);
    svg.appendChild(titled(g, `${e.from} → ${e.to}: ${e.full}`));
  }

  for (const n of layout.nodes) {
    const s = byName.get(n.name)!;
    const g = el('g', {
      class: 'nb2pipe-dag-node' + (s.name === selected ? ' nb2pipe-selected' : ''),
      transform: `translate(${n.x},${n.y})`,
      'data-step': s.name,
      'data-layer': n.layer,
      tabindex: 0
    });
    const rect = el('rect', { width: n.w, height: n.h, rx: 6, ry: 6 });
    const color = colorOf(s.name);
    if (color) {
      rect.style.stroke = color;
    }
    g.appendChild(rect);
    const text = el('text', { x: n.w / 2, y: 0, 'text-anchor': 'middle' });
    n.lines.forEach((line, i) => {
      const span = el('tspan', { x: n.w / 2, y: 9 + 12 + i * 15 });
      span.textContent = line;
      text.appendChild(span);
    });
    g.appendChild(text);
    titled(
      g,
      `${s.name} (cells ${s.cells.join(', ')})\ninputs: ${s.inputs.join(', ') || '—'}` +
        `\noutputs: ${s.outputs.join(', ') || '—'}`
    );
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
