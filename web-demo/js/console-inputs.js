// The query console binds a query's `:in` names to the replicas: `$` (the database
// chosen under "$ is"), `$catalog`, `$inventory`, `$history` (the catalog's history),
// `$acme` or `$tenant-acme` (one tenant), and a binding form holding a `$` source, such
// as `[[?tenant $db] ...]`, to every tenant as [name, db] pairs.
// Reads only as much EDN as that needs; the engine reports real syntax errors.

// Top-level forms of `text` as { text, children?, start } (strings, comments skipped).
function forms(text, from, close) {
  const out = [];
  let i = from;
  while (i < text.length) {
    const c = text[i];
    if (/[\s,]/.test(c)) { i++; continue; }
    if (c === ';') { while (i < text.length && text[i] !== '\n') i++; continue; }
    if (c === close) return { forms: out, end: i + 1 };
    if (c === '[' || c === '(' || c === '{') {
      const inner = forms(text, i + 1, c === '[' ? ']' : c === '(' ? ')' : '}');
      out.push({ text: text.slice(i, inner.end), children: inner.forms, open: c, start: i });
      i = inner.end;
      continue;
    }
    if (c === ']' || c === ')' || c === '}') return { forms: out, end: i + 1 };  // unbalanced: let the engine say
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      out.push({ text: text.slice(i, j + 1), start: i });
      i = j + 1;
      continue;
    }
    let j = i;
    while (j < text.length && !/[\s,;[\](){}"]/.test(text[j])) j++;
    out.push({ text: text.slice(i, j), start: i });
    i = j;
  }
  return { forms: out, end: i };
}

// The `:in` forms of a query (vector or map form), or null if it has no `:in`.
export function inForms(query) {
  const top = forms(query, 0, null).forms[0];
  if (!top?.children) return null;
  const items = top.children;
  const at = items.findIndex((f) => f.text === ':in');
  if (at < 0) return null;
  if (top.open === '{') return items[at + 1]?.children ?? [];
  const out = [];
  for (const f of items.slice(at + 1)) {
    if (!f.children && f.text.startsWith(':')) break;
    out.push(f);
  }
  return out;
}

const hasSource = (f) => (f.children ? f.children.some(hasSource) : f.text.startsWith('$'));

// The inputs for `query` and the databases they read: `replicas` maps names to Dbs
// ({ catalog, inventory, history, tenants: [[name, db]...], byName, dbOf }); `fallback`
// names the database bound to `$`.
export function bindInputs(query, replicas, fallback) {
  const names = inForms(query) ?? [{ text: '$' }];  // no :in means :in $
  const reads = [];
  const inputs = names.map((f) => {
    if (f.children) {
      if (hasSource(f)) {
        reads.push(...replicas.tenants.map(([t]) => replicas.dbOf[t]));
        return replicas.tenants;
      }
      throw new Error(`console: the input ${f.text} holds no $source; only databases can be bound here`);
    }
    if (f.text === '...') {
      throw new Error('console: ... is not an input. In the map form :in is a vector of inputs, so a ' +
        'collection binding needs its own brackets: {:in [[[?tenant $db] ...]] ...}');
    }
    const name = f.text === '$' ? `$${fallback}` : f.text;
    if (name.startsWith('$')) {
      const db = replicas.byName[name.slice(1)];
      if (db) {
        reads.push(replicas.dbOf[name.slice(1)]);
        return db;
      }
      throw new Error(`console: no database ${name}; use ${sourceNames(replicas)}`);
    }
    throw new Error(`console: the input ${name} needs a value; write it into the query instead`);
  });
  return { inputs, reads: [...new Set(reads)] };
}

const sourceNames = (replicas) => Object.keys(replicas.byName).filter((n) => !n.startsWith('tenant-'))
  .map((n) => `$${n}`).join(', ');

// Whether the query binds `$` (the database chosen under "$ is"): with no :in, or an
// :in that names `$`.
export function usesDefault(query) {
  const names = inForms(query);
  return names === null || names.some((f) => f.text === '$');
}

// The engine's "source $x was not passed" errors, explained in this console's terms.
export function explainSourceError(message, query, replicas) {
  const m = /source (\$[\w.-]*) (?:was not passed|is not a database passed)/.exec(message);
  if (!m) return null;
  const name = m[1];
  const names = inForms(query);
  const passed = (names ?? []).flatMap(function all(f) {
    return f.children ? f.children.flatMap(all) : f.text.startsWith('$') ? [f.text] : [];
  });
  const lines = [names === null ? `The query reads ${name}, but without :in it is passed $ only.`
    : `The query reads ${name}, but its :in passes ${passed.length ? passed.join(' ') : 'no database'}.`];
  if (name === '$') {
    lines.push('Patterns, pull and functions without a source read $. Name the source, as in ' +
      `[${passed[0] ?? '$catalog'} ?p :product/sku ?sku] or (pull ${passed[0] ?? '$catalog'} ?p [*]), ` +
      'or add $ to :in: it is the database chosen under "$ is".');
  } else {
    const known = name.slice(1) in replicas.byName;
    lines.push(`${known ? `Add ${name} to :in.` : `There is no database ${name} here.`} This console binds ` +
      `${sourceNames(replicas)}, $ (chosen under "$ is") and [[?tenant $db] ...] (every tenant) by their names in :in.`);
  }
  return lines.join('\n');
}

// Column names for a result table: the :find elements as written (or the :keys).
export function findColumns(query) {
  const top = forms(query, 0, null).forms[0];
  if (!top?.children) return null;
  const items = top.children;
  const at = items.findIndex((f) => f.text === ':find');
  if (at < 0) return null;
  const keysAt = items.findIndex((f) => f.text === ':keys');
  if (keysAt >= 0 && items[keysAt + 1]?.children) return items[keysAt + 1].children.map((f) => f.text);
  let elems;
  if (top.open === '{') elems = items[at + 1]?.children ?? [];
  else {
    elems = [];
    for (const f of items.slice(at + 1)) {
      if (!f.children && f.text.startsWith(':')) break;
      elems.push(f);
    }
  }
  // [?a ?b] (tuple) and [?a ...] (collection) name their own columns.
  if (elems.length === 1 && elems[0].open === '[') elems = elems[0].children.filter((f) => f.text !== '...');
  return elems.filter((f) => f.text !== '.').map((f) => f.text.replace(/\s+/g, ' '));
}
