// Building DOM nodes without a framework (the panel renders plain elements).

/** A new element with an optional class list and text. */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  cls = '',
  text = ''
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (cls) {
    node.className = cls;
  }
  if (text) {
    node.textContent = text;
  }
  return node;
}

/** A styled JupyterLab button. */
export function button(
  cls: string,
  label: string,
  onClick: () => void,
  disabled = false
): HTMLButtonElement {
  const b = el('button', `jp-mod-styled ${cls}`, label);
  b.disabled = disabled;
  b.onclick = onClick;
  return b;
}

/** A value as the notebook wrote it: numbers short, True/False/None, the rest as JSON. */
export function show(value: unknown): string {
  if (typeof value === 'boolean') {
    return value ? 'True' : 'False';
  }
  if (value === null) {
    return 'None';
  }
  if (typeof value === 'number') {
    return Number.isInteger(value) ? String(value) : value.toPrecision(6).replace(/\.?0+$/, '');
  }
  if (value === undefined) {
    return '—';
  }
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** Seconds as "0.25 s" / "1 min 5 s". */
export function duration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) {
    return '';
  }
  if (seconds < 60) {
    return `${seconds.toFixed(2)} s`;
  }
  return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
}
