// Unit test of the DAG layout (jupyter_extension/src/layout.ts), without a browser: the
// TypeScript is transpiled in memory with the extension's own typescript. Prints one JSON line
// {"ok": bool, "checks": n, "failures": [...]}; run by tests/test_dag_layout.py.
const fs = require('fs');
const path = require('path');
const ts = require('typescript');

const src = fs.readFileSync(path.join(__dirname, '..', 'jupyter_extension', 'src', 'layout.ts'), 'utf8');
const js = ts.transpileModule(src, { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2018 } }).outputText;
const mod = { exports: {} };
new Function('module', 'exports', 'require', js)(mod, mod.exports, require);
const { layoutDag, longestPathLayers, wrapText, segmentHitsBox, overlaps } = mod.exports;

const failures = [];
let checks = 0;
const check = (cond, what) => { checks++; if (!cond) failures.push(what); };

function verify(name, names, edges) {
  const lay = layoutDag(names, edges);
  const boxes = new Map(lay.nodes.map(n => [n.name, n]));
  for (const e of lay.edges) {
    for (let i = 0; i + 1 < e.points.length; i++) {
      for (const n of lay.nodes) {
        check(!segmentHitsBox(e.points[i], e.points[i + 1], n),
          `${name}: edge ${e.from}->${e.to} segment ${i} passes through node ${n.name}`);
      }
    }
    const first = e.points[0], last = e.points[e.points.length - 1];
    const a = boxes.get(e.from), b = boxes.get(e.to);
    check(Math.abs(first.y - (a.y + a.h)) < 1e-6 && first.x > a.x && first.x < a.x + a.w,
      `${name}: edge ${e.from}->${e.to} does not leave its source's bottom`);
    check(Math.abs(last.y - b.y) < 1e-6 && last.x > b.x && last.x < b.x + b.w,
      `${name}: edge ${e.from}->${e.to} does not enter its target's top`);
    if (e.label) {
      for (const n of lay.nodes) {
        check(!overlaps(e.label, n), `${name}: label of ${e.from}->${e.to} covers node ${n.name}`);
      }
      check(e.lines.length <= 2 && e.lines.every(l => l.length <= 24),
        `${name}: label of ${e.from}->${e.to} is not wrapped: ${JSON.stringify(e.lines)}`);
    }
  }
  const labels = lay.edges.filter(e => e.label).map(e => e.label);
  for (const b of [...lay.nodes, ...labels]) {
    check(b.x >= 0 && b.y >= 0 && b.x + b.w <= lay.width && b.y + b.h <= lay.height,
      `${name}: ${JSON.stringify(b)} is cut off by the drawing (${lay.width}x${lay.height})`);
  }
  for (let i = 0; i < lay.nodes.length; i++) {
    for (let j = i + 1; j < lay.nodes.length; j++) {
      check(!overlaps(lay.nodes[i], lay.nodes[j]), `${name}: nodes ${lay.nodes[i].name} and ${lay.nodes[j].name} overlap`);
    }
  }
  return lay;
}

// churn's shape: load feeds train directly, skipping two layers
const churn = verify('churn', ['load_data', 'clean', 'features', 'train', 'evaluate'], [
  { from: 'load_data', to: 'clean', names: ['raw'] },
  { from: 'clean', to: 'features', names: ['df'] },
  { from: 'features', to: 'train', names: ['X_train', 'y_train', 'X_test', 'y_test'] },
  { from: 'load_data', to: 'train', names: ['random_state_seed'] },
  { from: 'train', to: 'evaluate', names: ['model', 'X_test', 'y_test', 'feature_names', 'scaler', 'encoder', 'threshold'] },
  { from: 'features', to: 'evaluate', names: ['X_test'] }
]);
const layer = Object.fromEntries(churn.nodes.map(n => [n.name, n.layer]));
check(JSON.stringify(layer) === JSON.stringify({ load_data: 0, clean: 1, features: 2, train: 3, evaluate: 4 }),
  `churn layers ${JSON.stringify(layer)}`);
const skip = churn.edges.find(e => e.from === 'load_data' && e.to === 'train');
check(skip.points.length >= 6, `the skipping edge has a bend per layer it crosses: ${JSON.stringify(skip.points)}`);
const ev = churn.edges.find(e => e.from === 'train' && e.to === 'evaluate');
check(ev.lines.join(' ').endsWith('…') && ev.full === 'model, X_test, y_test, feature_names, scaler, encoder, threshold' && ev.lines.length === 2,
  `long label: lines ${JSON.stringify(ev.lines)}, full ${ev.full}`);

// a wide layer: the same source feeds four steps, one of which feeds the last
verify('fan', ['src', 'a', 'b', 'c', 'd', 'end'], [
  { from: 'src', to: 'a', names: ['x'] }, { from: 'src', to: 'b', names: ['x'] },
  { from: 'src', to: 'c', names: ['x'] }, { from: 'src', to: 'd', names: ['x'] },
  { from: 'a', to: 'end', names: ['a_out'] }, { from: 'src', to: 'end', names: ['x'] },
  { from: 'd', to: 'end', names: ['d_out'] }
]);

// layers are longest paths even when steps come out of order
const lp = longestPathLayers(['c', 'b', 'a'], [{ from: 'a', to: 'b', names: [] }, { from: 'b', to: 'c', names: [] }, { from: 'a', to: 'c', names: [] }]);
check(lp.get('a') === 0 && lp.get('b') === 1 && lp.get('c') === 2, `longest path ${JSON.stringify([...lp])}`);
check(JSON.stringify(wrapText('a_very_long_step_name_for_testing', 12, 2)) === JSON.stringify(['a_very_long_', 'step_name_…']),
  `wrap ${JSON.stringify(wrapText('a_very_long_step_name_for_testing', 12, 2))}`);
check(segmentHitsBox({ x: 0, y: 5 }, { x: 20, y: 5 }, { x: 5, y: 0, w: 5, h: 10 }) &&
  !segmentHitsBox({ x: 0, y: 20 }, { x: 20, y: 20 }, { x: 5, y: 0, w: 5, h: 10 }), 'segmentHitsBox');

// random DAGs (a fixed seed): the same properties everywhere
let seed = 7;
const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
for (let k = 0; k < 60; k++) {
  const n = 2 + Math.floor(rand() * 9);
  const names = Array.from({ length: n }, (_, i) => i % 3 ? `s${i}` : `a_long_step_name_number_${i}`);
  const edges = [];
  for (let j = 1; j < n; j++) {
    for (let i = 0; i < j; i++) {
      if (rand() < 0.35) {
        const m = Math.floor(rand() * 6);
        edges.push({ from: names[i], to: names[j], names: Array.from({ length: m }, (_, t) => `value_${t}`) });
      }
    }
  }
  verify(`random ${k}`, names, edges);
}

process.stdout.write(JSON.stringify({ ok: failures.length === 0, checks, failures: failures.slice(0, 20) }) + '\n');
process.exit(failures.length ? 1 : 0);
