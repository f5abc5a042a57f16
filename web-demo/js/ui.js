// Small DOM helpers: element builder, result tables, SVG bar charts, formatting.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

export const $ = (sel, root = document) => root.querySelector(sel);

export function fmt(v) {
  if (v === null || v === undefined) return '';
  if (v instanceof Date) return v.toISOString().replace('T', ' ').replace(/:00\.000Z$|\.000Z$/, '');
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : v.toFixed(2);
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return `[${v.map(fmt).join(' ')}]`;
  if (typeof v === 'object' && v.constructor === Object) {
    return `{${Object.entries(v).map(([k, x]) => `:${k} ${fmt(x)}`).join(', ')}}`;
  }
  return String(v);
}

// Transaction ids are 2^42 + t, where t counts the database's transactions (and
// db.asOf(t) takes either). The page shows `#t`, with the full id on hover.
export const TX0 = 2 ** 42;
const isTx = (v) => Number.isInteger(v) && v >= TX0 && v < TX0 + 2 ** 32;
export function txRef(tx) {
  return h('span', { class: 'tx', title: `tx ${tx}` }, `#${tx - TX0}`);
}

export function bytes(n) {
  if (!Number.isFinite(n)) return '–';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(2)} MB`;
}

// A result (relation, collection, tuple, scalar or :keys objects) as rows.
export function rowsOf(result) {
  if (!Array.isArray(result)) return { head: null, rows: [[result]] };
  if (result.length && !Array.isArray(result[0]) && typeof result[0] === 'object' && result[0] !== null &&
      result[0].constructor === Object) {
    const head = Object.keys(result[0]);
    return { head, rows: result.map((o) => head.map((k) => o[k])) };
  }
  if (result.length && !Array.isArray(result[0])) return { head: null, rows: result.map((x) => [x]) };
  return { head: null, rows: result };
}

// Renders rows into a <table>; `cells` may map (value, column, row) to a node or text.
export function table(head, rows, { limit = 200, cell, numeric = [] } = {}) {
  const t = h('table', { class: 'result' });
  if (head) t.append(h('thead', {}, h('tr', {}, head.map((c, i) => h('th', { class: numeric.includes(i) ? 'num' : null }, c)))));
  const body = h('tbody');
  for (const row of rows.slice(0, limit)) {
    body.append(h('tr', {}, row.map((v, i) => {
      const content = cell ? cell(v, i, row) : isTx(v) ? txRef(v) : fmt(v);
      const num = numeric.includes(i) || typeof v === 'number';
      return h('td', { class: num ? 'num' : null }, content);
    })));
  }
  t.append(body);
  if (rows.length > limit) {
    t.append(h('tfoot', {}, h('tr', {}, h('td', { colspan: String(row0Len(head, rows)) },
      `… ${rows.length - limit} more rows`))));
  }
  return t;
}
const row0Len = (head, rows) => (head ? head.length : rows[0]?.length ?? 1);

// Horizontal SVG bar chart. `data`: [{ label, value, parts?: [{ value, cls }] }].
// Bars whose value changed since the previous draw into `el` flash.
export function barChart(el, data, { unit = '', width = 520, bar = 18, gap = 6, labelWidth = 170 } = {}) {
  const prev = el._values ?? new Map();
  const max = Math.max(1, ...data.map((d) => d.value));
  const height = data.length * (bar + gap) + gap;
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.setAttribute('class', 'chart');
  svg.setAttribute('role', 'img');
  const s = (tag, attrs, text) => {
    const n = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
    if (text !== undefined) n.textContent = text;
    svg.append(n);
    return n;
  };
  const span = width - labelWidth - 60;
  data.forEach((d, i) => {
    const y = gap + i * (bar + gap);
    const changed = prev.size > 0 && prev.has(d.label) && prev.get(d.label) !== d.value;
    s('text', { x: labelWidth - 8, y: y + bar * 0.72, 'text-anchor': 'end', class: 'label' }, d.label);
    let x = labelWidth;
    for (const part of d.parts ?? [{ value: d.value, cls: 'bar' }]) {
      const w = Math.max(part.value > 0 ? 1 : 0, (part.value / max) * span);
      const r = s('rect', { x, y, width: w, height: bar, rx: 3, class: `${part.cls}${changed ? ' changed' : ''}` });
      r.append(Object.assign(document.createElementNS(ns, 'title'), { textContent: `${d.label}: ${part.value}` }));
      x += w;
    }
    s('text', { x: x + 6, y: y + bar * 0.72, class: 'value' }, `${fmt(d.value)}${unit}`);
  });
  el._values = new Map(data.map((d) => [d.label, d.value]));
  el.replaceChildren(svg);
}

// "line 3, col 14: ..." → { line, col } (1-based) or null.
export function errorPosition(message) {
  const m = /line (\d+), col(?:umn)? (\d+)/.exec(message);
  return m ? { line: Number(m[1]), col: Number(m[2]) } : null;
}
