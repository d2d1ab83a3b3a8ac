// Layered layout of the step DAG, pure (no DOM), so it is tested without a browser
// (tests/dag_layout.cjs). Layers by longest path from the sources; an edge that skips layers
// gets a slot in each layer it crosses, so it is routed through the gap beside the nodes of
// those layers instead of through them; the order inside a layer is improved by barycenter
// sweeps (fewer crossings); labels wrap and are placed where they overlap nothing.

export interface ILayoutEdge {
  from: string;
  to: string;
  /** The values the edge carries (the label); empty: no label. */
  names: string[];
}

export interface IPoint {
  x: number;
  y: number;
}

export interface IBox {
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface INodeBox extends IBox {
  name: string;
  layer: number;
  lines: string[];
}

export interface IEdgeRoute {
  from: string;
  to: string;
  points: IPoint[];
  /** Full text of the label (for the hover title); lines: what is drawn. */
  full: string;
  lines: string[];
  label: IBox | null;
}

export interface IDagLayout {
  width: number;
  height: number;
  nodes: INodeBox[];
  edges: IEdgeRoute[];
}

export const LAYOUT = {
  nodeMinW: 110,
  nodeMaxW: 190,
  nodeLineH: 15,
  nodePadY: 9,
  charW: 7.2, // 12px monospace
  labelCharW: 6.1, // 10px monospace
  labelLineH: 12,
  labelMaxChars: 24,
  labelMaxLines: 2,
  gapX: 28,
  gapY: 64,
  slotW: 14, // the room an edge crossing a layer takes
  pad: 10
};

/** The layer of every node: 0 for sources, else one below its deepest upstream node. */
export function longestPathLayers(names: string[], edges: ILayoutEdge[]): Map<string, number> {
  const known = new Set(names);
  const ups = new Map<string, string[]>(names.map(n => [n, []]));
  for (const e of edges) {
    if (known.has(e.from) && known.has(e.to) && e.from !== e.to) {
      ups.get(e.to)!.push(e.from);
    }
  }
  const layer = new Map<string, number>();
  const visiting = new Set<string>();
  const visit = (n: string): number => {
    const done = layer.get(n);
    if (done !== undefined) {
      return done;
    }
    if (visiting.has(n)) {
      return 0; // a cycle (nb2pipe refuses those, NB303): do not loop
    }
    visiting.add(n);
    const l = Math.max(-1, ...ups.get(n)!.map(visit)) + 1;
    visiting.delete(n);
    layer.set(n, l);
    return l;
  };
  names.forEach(visit);
  return layer;
}

/** Text cut into lines of at most `max` characters, breaking after ", " or "_" where it can;
 * at most `maxLines` lines, the last ending in "…" when text was left out. */
export function wrapText(text: string, max: number, maxLines: number): string[] {
  const lines: string[] = [];
  let rest = text;
  while (rest.length > 0 && lines.length < maxLines) {
    if (rest.length <= max) {
      lines.push(rest);
      rest = '';
      break;
    }
    const window = rest.slice(0, max + 1);
    let cut = Math.max(window.lastIndexOf(', ') + 2, window.lastIndexOf('_') + 1);
    if (cut <= 1 || cut > max) {
      cut = max;
    }
    lines.push(rest.slice(0, cut).replace(/\s+$/, ''));
    rest = rest.slice(cut).replace(/^\s+/, '');
  }
  if (rest.length > 0) {
    const last = lines[lines.length - 1];
    lines[lines.length - 1] = (last.length >= max ? last.slice(0, max - 1) : last) + '…';
  }
  return lines;
}

interface ISlot {
  id: string; // a node name, or an edge's slot "edge#k@layer"
  node: boolean;
  w: number;
  x: number;
  ups: string[];
  downs: string[];
}

export function overlaps(a: IBox, b: IBox, margin = 0): boolean {
  return (
    a.x < b.x + b.w + margin &&
    b.x < a.x + a.w + margin &&
    a.y < b.y + b.h + margin &&
    b.y < a.y + a.h + margin
  );
}

/** Does the segment p-q pass through the box (shrunk by `inset`)? */
export function segmentHitsBox(p: IPoint, q: IPoint, box: IBox, inset = 1): boolean {
  const x0 = box.x + inset;
  const x1 = box.x + box.w - inset;
  const y0 = box.y + inset;
  const y1 = box.y + box.h - inset;
  // Liang-Barsky clipping: is any part of the segment inside the rectangle?
  let t0 = 0;
  let t1 = 1;
  const dx = q.x - p.x;
  const dy = q.y - p.y;
  const checks: [number, number][] = [
    [-dx, p.x - x0],
    [dx, x1 - p.x],
    [-dy, p.y - y0],
    [dy, y1 - p.y]
  ];
  for (const [pp, qq] of checks) {
    if (pp === 0) {
      if (qq < 0) {
        return false;
      }
    } else {
      const r = qq / pp;
      if (pp < 0) {
        t0 = Math.max(t0, r);
      } else {
        t1 = Math.min(t1, r);
      }
      if (t0 > t1) {
        return false;
      }
    }
  }
  return true;
}

export function layoutDag(names: string[], edges: ILayoutEdge[]): IDagLayout {
  const L = LAYOUT;
  const layer = longestPathLayers(names, edges);
  const depth = Math.max(0, ...Array.from(layer.values())) + 1;
  const rows: ISlot[][] = Array.from({ length: depth }, () => []);
  const slots = new Map<string, ISlot>();
  const nodeLines = new Map<string, string[]>();
  for (const n of names) {
    const maxChars = Math.floor((L.nodeMaxW - 16) / L.charW);
    const lines = wrapText(n, maxChars, 2);
    nodeLines.set(n, lines);
    const longest = Math.max(...lines.map(t => t.length));
    const w = Math.min(L.nodeMaxW, Math.max(L.nodeMinW, longest * L.charW + 20));
    const slot: ISlot = { id: n, node: true, w, x: 0, ups: [], downs: [] };
    slots.set(n, slot);
    rows[layer.get(n)!].push(slot);
  }
  // every edge as a chain of slots, one per layer it crosses
  const valid = edges.filter(
    e => slots.has(e.from) && slots.has(e.to) && layer.get(e.from)! < layer.get(e.to)!
  );
  const chains: string[][] = valid.map((e, k) => {
    const chain = [e.from];
    for (let l = layer.get(e.from)! + 1; l < layer.get(e.to)!; l++) {
      const id = `edge#${k}@${l}`;
      const slot: ISlot = { id, node: false, w: L.slotW, x: 0, ups: [], downs: [] };
      slots.set(id, slot);
      rows[l].push(slot);
      chain.push(id);
    }
    chain.push(e.to);
    for (let i = 0; i + 1 < chain.length; i++) {
      slots.get(chain[i])!.downs.push(chain[i + 1]);
      slots.get(chain[i + 1])!.ups.push(chain[i]);
    }
    return chain;
  });

  // order inside layers: barycenter of the neighbours' positions, sweeping down then up
  const place = () => {
    for (const row of rows) {
      let x = 0;
      for (const s of row) {
        s.x = x + s.w / 2;
        x += s.w + L.gapX;
      }
    }
  };
  place();
  const sweep = (r: number, by: 'ups' | 'downs') => {
    const row = rows[r];
    const center = (s: ISlot) => {
      const ns = s[by].map(id => slots.get(id)!.x);
      return ns.length ? ns.reduce((a, b) => a + b, 0) / ns.length : s.x;
    };
    const keyed = row.map((s, i) => ({ s, k: center(s), i }));
    keyed.sort((a, b) => a.k - b.k || a.i - b.i);
    rows[r] = keyed.map(o => o.s);
    place();
  };
  for (let it = 0; it < 4; it++) {
    for (let r = 1; r < depth; r++) {
      sweep(r, 'ups');
    }
    for (let r = depth - 2; r >= 0; r--) {
      sweep(r, 'downs');
    }
  }
  // x: each layer centred on the widest
  const rowW = rows.map(row =>
    row.reduce((a, s) => a + s.w, 0) + Math.max(0, row.length - 1) * L.gapX
  );
  const widest = Math.max(0, ...rowW);
  rows.forEach((row, r) => {
    let x = (widest - rowW[r]) / 2;
    for (const s of row) {
      s.x = x + s.w / 2;
      x += s.w + L.gapX;
    }
  });
  // y: layer bands as tall as their tallest node
  const bandH = rows.map(row =>
    Math.max(
      L.nodeLineH + 2 * L.nodePadY,
      ...row
        .filter(s => s.node)
        .map(s => nodeLines.get(s.id)!.length * L.nodeLineH + 2 * L.nodePadY)
    )
  );
  const bandY: number[] = [];
  let y = 0;
  for (let r = 0; r < depth; r++) {
    bandY.push(y);
    y += bandH[r] + L.gapY;
  }
  const nodes: INodeBox[] = names.map(n => {
    const s = slots.get(n)!;
    const l = layer.get(n)!;
    const h = nodeLines.get(n)!.length * L.nodeLineH + 2 * L.nodePadY;
    return {
      name: n,
      layer: l,
      lines: nodeLines.get(n)!,
      x: s.x - s.w / 2,
      y: bandY[l] + (bandH[l] - h) / 2,
      w: s.w,
      h
    };
  });
  const box = new Map(nodes.map(b => [b.name, b]));

  // ports: the edges leaving (entering) a node spread over its bottom (top), ordered by x
  const port = (node: string, others: string[], other: string) => {
    const b = box.get(node)!;
    const sorted = [...others].sort((a, c) => slots.get(a)!.x - slots.get(c)!.x);
    const k = sorted.indexOf(other);
    return b.x + (b.w * (k + 1)) / (sorted.length + 1);
  };
  const routes: IEdgeRoute[] = valid.map((e, k) => {
    const chain = chains[k];
    const from = box.get(e.from)!;
    const to = box.get(e.to)!;
    // straight down out of the node to its band's edge, so the slanted part stays in the gap
    const out = port(e.from, slots.get(e.from)!.downs, chain[1]);
    const lf = layer.get(e.from)!;
    const points: IPoint[] = [{ x: out, y: from.y + from.h }];
    if (from.y + from.h < bandY[lf] + bandH[lf]) {
      points.push({ x: out, y: bandY[lf] + bandH[lf] });
    }
    for (const id of chain.slice(1, -1)) {
      const s = slots.get(id)!;
      const l = Number(id.split('@')[1]);
      points.push({ x: s.x, y: bandY[l] }, { x: s.x, y: bandY[l] + bandH[l] });
    }
    const into = port(e.to, slots.get(e.to)!.ups, chain[chain.length - 2]);
    const lt = layer.get(e.to)!;
    if (to.y > bandY[lt]) {
      points.push({ x: into, y: bandY[lt] });
    }
    points.push({ x: into, y: to.y });
    const full = e.names.join(', ');
    return {
      from: e.from,
      to: e.to,
      points,
      full,
      lines: full ? wrapText(full, L.labelMaxChars, L.labelMaxLines) : [],
      label: null
    };
  });

  // labels: in a gap between layers, on a segment of their edge, clear of nodes and of the
  // labels placed before; the first free spot of a few along each segment
  const placed: IBox[] = [];
  for (const r of routes) {
    if (!r.lines.length) {
      continue;
    }
    const w = Math.max(...r.lines.map(t => t.length)) * L.labelCharW + 6;
    const h = r.lines.length * L.labelLineH + 2;
    let best: IBox | null = null;
    for (const t of [0.5, 0.3, 0.7, 0.15, 0.85]) {
      for (let i = r.points.length - 2; i >= 0 && !best; i--) {
        const p = r.points[i];
        const q = r.points[i + 1];
        if (q.y - p.y < L.gapY / 2) {
          continue; // a segment inside a layer band: no room beside nodes
        }
        const cx = p.x + (q.x - p.x) * t;
        const cy = p.y + (q.y - p.y) * t;
        for (const dx of [4, -w - 4]) {
          const cand = { x: cx + dx, y: cy - h / 2, w, h };
          if (
            !nodes.some(n => overlaps(cand, n, 2)) &&
            !placed.some(b => overlaps(cand, b, 1))
          ) {
            best = cand;
            break;
          }
        }
      }
      if (best) {
        break;
      }
    }
    if (!best) {
      // nowhere free: the first gap segment, and the hover title still has the full list
      const inGap = (p: IPoint, j: number) =>
        j + 1 < r.points.length && r.points[j + 1].y - p.y >= L.gapY / 2;
      const i = r.points.findIndex(inGap);
      const p = r.points[Math.max(0, i)];
      const q = r.points[Math.max(0, i) + 1];
      best = { x: (p.x + q.x) / 2 + 4, y: (p.y + q.y) / 2 - h / 2, w, h };
    }
    r.label = best;
    placed.push(best);
  }

  // everything inside the drawing: shift right/down by what sticks out, add padding
  const all: IBox[] = [...nodes, ...placed];
  const minX = Math.min(0, ...all.map(b => b.x));
  const minY = Math.min(0, ...all.map(b => b.y));
  const dx = L.pad - minX;
  const dy = L.pad - minY;
  for (const b of all) {
    b.x += dx;
    b.y += dy;
  }
  for (const r of routes) {
    for (const p of r.points) {
      p.x += dx;
      p.y += dy;
    }
  }
  const width = Math.max(...all.map(b => b.x + b.w), 0) + L.pad;
  const height = Math.max(...all.map(b => b.y + b.h), 0) + L.pad;
  return { width: Math.ceil(width), height: Math.ceil(height), nodes, edges: routes };
}
