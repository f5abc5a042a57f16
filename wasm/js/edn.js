// JS values ↔ the raw tier's text: an EDN writer for JS data and a reader for the JSON
// replies (docs/wasm.md, "JSON value encoding"). Conventions:
//   JS → EDN  a string starting with ':' is a keyword; a leading '\' escapes the next
//             character (so '\\:x' is the string ":x"); integral numbers are longs,
//             others doubles; BigInt is a long; Date an instant; Uuid a uuid; arrays
//             are vectors, Sets sets, Maps and plain objects maps (object keys are
//             keywords, with or without the leading colon).
//   EDN → JS  the same in reverse: keywords come back as ":ns/name", strings that
//             start with ':' or '\' come back with a '\' prefix, longs beyond 2^53
//             as BigInt, instants as Date, uuids as Uuid.

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export class Uuid {
  #text;
  constructor(text) {
    if (typeof text !== 'string' || !UUID_RE.test(text)) {
      throw new Error(`invalid uuid ${JSON.stringify(String(text))}: expected 8-4-4-4-12 hex digits`);
    }
    this.#text = text.toLowerCase();
  }
  toString() { return this.#text; }
  toJSON() { return this.#text; }
  equals(other) { return other instanceof Uuid && other.#text === this.#text; }
}

// EDN text passed through untouched (d.edn(text)): rules, pull patterns, any input.
export class EdnText {
  constructor(text) {
    if (typeof text !== 'string') throw new Error('edn(): expected a string of EDN text');
    this.text = text;
  }
}

// Characters that end a token in EDN (core/src/edn/edn.cpp IsDelimiter) and so can
// never be part of a keyword.
const KEYWORD_RE = /^:[^\s,()[\]{}"\\;]+$/;

const keywords = new Map();  // name → keyword text: attribute names repeat a lot

// 'product/name' or ':product/name' → ':product/name'.
export function keyword(name) {
  let k = keywords.get(name);
  if (k !== undefined) return k;
  if (typeof name !== 'string') throw new Error(`expected a keyword, got ${describe(name)}`);
  k = name[0] === ':' ? name : ':' + name;
  if (!KEYWORD_RE.test(k)) throw new Error(`invalid keyword ${JSON.stringify(k)}`);
  if (keywords.size >= 4096) keywords.clear();
  keywords.set(name, k);
  return k;
}

const STRING_ESCAPES = { '"': '\\"', '\\': '\\\\', '\n': '\\n', '\t': '\\t', '\r': '\\r', '\b': '\\b', '\f': '\\f' };
// Quotes, backslashes, control characters and unpaired surrogates (which the core then
// rejects with a position instead of the UTF-8 conversion silently replacing them).
const STRING_SPECIAL = /["\\\x00-\x1f\x7f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

function escapeChar(c) {
  return STRING_ESCAPES[c] ?? '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0');
}

// Most strings hold none of those: a test without lookarounds lets them through as they
// are (any surrogate, paired or not, takes the full check).
const STRING_PLAIN = /^[^"\\\x00-\x1f\x7f\ud800-\udfff]*$/;

export function ednString(s) {
  return '"' + (STRING_PLAIN.test(s) ? s : s.replace(STRING_SPECIAL, escapeChar)) + '"';
}

const LONG_MIN = -(2n ** 63n), LONG_MAX = 2n ** 63n - 1n;

function ednLong(b) {
  if (b < LONG_MIN || b > LONG_MAX) throw new Error(`integer ${b} does not fit in a long`);
  return b.toString();
}

function ednNumber(x) {
  if (Number.isSafeInteger(x)) return String(x === 0 ? 0 : x);  // -0 is the long 0
  if (Number.isNaN(x)) return '##NaN';
  if (x === Infinity) return '##Inf';
  if (x === -Infinity) return '##-Inf';
  if (Number.isInteger(x)) {
    // Integral but beyond 2^53: a long while it fits, else a double (exponent form,
    // which the reader cannot take for a big integer).
    return Math.abs(x) < 2 ** 63 ? BigInt(x).toString() : x.toExponential();
  }
  return String(x);  // always has '.' or 'e', so it reads as a double
}

function ednInstant(date) {
  const ms = date.getTime();
  if (Number.isNaN(ms)) throw new Error('invalid Date');
  return `#inst "${date.toISOString()}"`;
}

function isPlainObject(v) {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function describe(v) {
  if (v === null) return 'null';
  if (typeof v === 'object') return v.constructor?.name ?? 'object';
  if (typeof v === 'function') return 'a function';
  return `${typeof v} ${String(v)}`;
}

// A plain object as a map with keyword keys.
function ednObject(obj) {
  const parts = [];
  for (const k in obj) {
    const v = obj[k];
    if (v !== undefined) parts.push(keyword(k), toEdn(v));  // skipped as JSON.stringify does
  }
  return '{' + parts.join(' ') + '}';
}

function ednSeq(open, items, close, write = toEdn) {
  const parts = [];
  for (const x of items) parts.push(write(x));
  return open + parts.join(' ') + close;
}

const ednEntry = ([k, v]) => toEdn(k) + ' ' + toEdn(v);

// Any JS value → EDN text.
export function toEdn(v) {
  switch (typeof v) {
    case 'string':
      if (v[0] === ':') return keyword(v);
      return ednString(v[0] === '\\' ? v.slice(1) : v);
    case 'number': return ednNumber(v);
    case 'bigint': return ednLong(v);
    case 'boolean': return v ? 'true' : 'false';
    case 'object':
      if (v === null) return 'nil';
      if (Array.isArray(v)) return ednSeq('[', v, ']');
      if (v instanceof Date) return ednInstant(v);
      if (v instanceof Uuid) return `#uuid "${v}"`;
      if (v instanceof EdnText) return v.text;
      if (v instanceof Set) return ednSeq('#{', v, '}');
      if (v instanceof Map) return ednSeq('{', v, '}', ednEntry);
      if (isPlainObject(v)) return ednObject(v);
  }
  throw new Error(`cannot convert ${describe(v)} to EDN`);
}

// An entity position: an id, a tempid, an ident, or a lookup ref ['person/email', 'a@b']
// whose attribute may omit the colon.
export function entityToEdn(e) {
  if (Array.isArray(e) && e.length === 2 && typeof e[0] === 'string') {
    return `[${keyword(e[0])} ${toEdn(e[1])}]`;
  }
  return toEdn(e);
}

// List forms whose argument 1 is an entity and argument 2 an attribute.
const DATOM_OPS = new Set([':db/add', ':db/retract', ':db/cas', ':db.fn/cas']);
const ENTITY_OPS = new Set([':db/retractEntity', ':db.fn/retractEntity']);

// The attribute of the form being written (txToEdn names it when a value fails).
let formAttr = null;

// One transaction form, to be written at `start` in the text. With `marks`, it records
// where each attribute's part starts (for locateTxError), as { offset, index, attr }.
function txFormToEdn(form, start, index, marks) {
  const mark = (offset, attr) => {
    formAttr = attr;
    marks?.push({ offset: start + offset, index, attr });
  };
  if (Array.isArray(form)) {
    if (form.length === 0) throw new Error('empty list form in transaction');
    const op = keyword(form[0]);
    if (DATOM_OPS.has(op) && typeof form[2] === 'string') mark(0, keyword(form[2]));
    const args = form.slice(1).map((x, i) =>
      i === 0 && (DATOM_OPS.has(op) || ENTITY_OPS.has(op)) ? entityToEdn(x)
        : i === 1 && DATOM_OPS.has(op) ? keyword(x) : toEdn(x));
    return ednSeq('[', [op, ...args], ']', String);
  }
  if (form !== null && typeof form === 'object' && isPlainObject(form)) {
    const parts = [];
    let length = 1;  // of the text so far, for the marks
    for (const k in form) {
      const v = form[k];
      if (v === undefined) continue;  // skipped as JSON.stringify does
      const attr = keyword(k);
      if (parts.length > 0) length++;  // the space before this part
      mark(length, attr);
      const part = attr + ' ' + (attr === ':db/id' ? entityToEdn(v) : toEdn(v));
      length += part.length;
      parts.push(part);
    }
    return '{' + parts.join(' ') + '}';
  }
  throw new Error(`transaction forms are entity maps or list forms, got ${describe(form)}`);
}

const txPlace = (index, attr) => `txData[${index}]` + (attr ? `, attribute ${attr}` : '');

// Transaction data: an array of entity maps and list forms, or EDN text as is. A value
// that cannot be converted is named by its place (`txData[2], attribute :a/b: ...`).
// With `marks` (an array) it records where each form and attribute starts in the text,
// for locateTxError.
export function txToEdn(tx, marks) {
  if (typeof tx === 'string') return tx;
  if (!Array.isArray(tx)) throw new Error('transaction data must be an array (or EDN text)');
  const parts = new Array(tx.length);
  let length = 1;  // of the text so far: '[' and the parts before, each with its separator
  for (let index = 0; index < tx.length; index++) {
    formAttr = null;
    marks?.push({ offset: length, index, attr: null });
    try {
      parts[index] = txFormToEdn(tx[index], length, index, marks);
    } catch (e) {
      throw Object.assign(new Error(`${txPlace(index, formAttr)}: ${e.message}`), e.code ? { code: e.code } : {});
    }
    length += parts[index].length + 1;
  }
  return '[' + parts.join(' ') + ']';
}

// Transaction data as JSON text when JSON.stringify writes it as txToEdn would (the
// core reads it without the EDN reader: edn/json_tx.h, raw connApplyJson): an array of
// plain objects whose values are strings, finite numbers, booleans, null, and arrays
// (without holes) and plain objects of those; keys and strings starting with ':' valid
// keywords. Anything else (list forms, Dates, BigInts, Sets...): null, and the EDN text
// carries it.
export function txToJson(tx) {
  if (!Array.isArray(tx) || tx.length === 0) return null;
  for (const form of tx) {
    if (form === null || typeof form !== 'object' || !isPlainObject(form) || !jsonObject(form)) return null;
  }
  return JSON.stringify(tx);
}

// keyword() without its throw (and filling the same cache).
function validKeyword(name) {
  try {
    keyword(name);
    return true;
  } catch {
    return false;
  }
}

function jsonObject(obj) {
  for (const k in obj) {
    const v = obj[k];
    if (v !== undefined && !(validKeyword(k) && jsonValue(v))) return false;
  }
  return true;
}

function jsonValue(v) {
  switch (typeof v) {
    case 'string': return v[0] !== ':' || validKeyword(v);
    // JSON writes integers below 1e21 in digits (a long, as ednNumber makes them; one
    // beyond 64 bits fails, and the EDN text goes instead), others with an exponent or
    // a point (a double, as there).
    case 'number': return Number.isFinite(v);
    case 'boolean': return true;
    case 'object':
      if (v === null) return true;
      if (Array.isArray(v)) {
        for (let i = 0; i < v.length; i++) if (!jsonValue(v[i])) return false;  // a hole is undefined
        return true;
      }
      return isPlainObject(v) && jsonObject(v);
    default: return false;
  }
}

// The index in `text` of EDN position line:col (the core counts columns in code points).
function offsetOf(text, line, col) {
  let i = 0;
  for (let l = 1; l < line; l++) {
    i = text.indexOf('\n', i) + 1;
    if (i === 0) return text.length;
  }
  for (let c = 1; c < col && i < text.length; c++) i += text.codePointAt(i) > 0xffff ? 2 : 1;
  return i;
}

// An error the core reported by position in the EDN txToEdn wrote for JS data `tx`: each
// `line L, col C` becomes the place in `tx` it falls in (`txData[0], attribute :a/b`).
export function locateTxError(error, tx) {
  if (!Array.isArray(tx) || !/line \d+, col \d+/.test(error.message)) return error;
  const marks = [];
  const text = txToEdn(tx, marks);
  error.message = error.message.replace(/line (\d+), col (\d+)/g, (_, line, col) => {
    const offset = offsetOf(text, Number(line), Number(col));
    let at = null;
    for (const m of marks) {
      if (m.offset > offset) break;
      at = m;
    }
    return at && offset < text.length - 1 ? txPlace(at.index, at.attr) : 'the transaction';
  });
  return error;
}

// ---- replies ----

// Values the JSON encoding wraps in a one-key object (docs/wasm.md).
const TAGGED = {
  '#long': (s) => BigInt(s),
  '#double': (s) => (s === 'NaN' ? NaN : s === '-Inf' ? -Infinity : Infinity),
  '#inst': (ms) => new Date(ms),
  '#uuid': (s) => new Uuid(s),
};

// Strings pass through as they are: the core writes a string that starts with ':' or
// a backslash with a backslash in front, which is how JS writes that string (the input
// convention), so a value read back can be transacted again unchanged.
function revive(_key, v) {
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
    for (const tag in v) {
      const make = Object.hasOwn(TAGGED, tag) ? TAGGED[tag] : undefined;  // not "constructor" and the like
      return make && Object.keys(v).length === 1 ? make(v[tag]) : v;
    }
  }
  return v;
}

// Tagged objects are rare; most replies parse without a reviver. The core writes
// each as `{"#tag":` with no space (json_writer.cpp), so a substring search finds them.
const needsReviver = (text) => text.includes('{"#');

export const MISSING = Symbol('missing');

// A raw tier reply {"ok": v} | {"error": msg} | {"missing": true} → v, a thrown Error,
// or MISSING.
export function parseReply(text) {
  const r = JSON.parse(text, needsReviver(text) ? revive : undefined);
  if ('ok' in r) return r.ok;
  if ('error' in r) throw Object.assign(new Error(r.error), r.code ? { code: r.code } : {});
  if (r.missing) return MISSING;
  throw new Error(`unexpected reply from the core: ${text.slice(0, 200)}`);
}

// A pull reply (json_writer.h) → its results: {"r": rows, "k": shapes}, each row
// [value..., shape] or null; a row becomes the map of its shape's keys to its values.
export function parsePull(text) {
  const reply = parseReply(text);
  if (reply === MISSING) return reply;
  const { r: rows, k: shapes } = reply;
  // A key named __proto__ is set as an own property, as JSON.parse would.
  const plain = shapes.map((keys) => !keys.includes('__proto__'));
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i];
    if (row === null) continue;
    const n = row.length - 1, s = row[n], keys = shapes[s], map = {};
    if (plain[s]) {
      for (let j = 0; j < n; j++) map[keys[j]] = row[j];
    } else {
      for (let j = 0; j < n; j++) Object.defineProperty(map, keys[j], { value: row[j], enumerable: true, writable: true, configurable: true });
    }
    rows[i] = map;
  }
  return rows;
}

// ---- queries ----

const TOKEN_RE = /"(?:[^"\\]|\\.)*"|;[^\n]*|[[\](){}]|[^\s,;"[\](){}]+/g;

// The query's forms as nested arrays of tokens (strings and comments dropped); each
// array remembers its opening bracket. Just enough to read the :in section.
function skeleton(text) {
  const stack = [[]];
  for (const [tok] of text.matchAll(TOKEN_RE)) {
    if (tok[0] === '"' || tok[0] === ';') continue;
    if ('([{'.includes(tok)) {
      const form = [];
      form.open = tok;
      stack[stack.length - 1].push(form);
      stack.push(form);
    } else if (')]}'.includes(tok)) {
      if (stack.length > 1) stack.pop();
    } else {
      stack[stack.length - 1].push(tok);
    }
  }
  return stack[0];
}

// Indexes of the inputs bound to rule sets (`%` in :in): a JS string there is EDN text
// (the rules), anywhere else it is a string value. Kept per query text (an app runs the
// same few queries over and over; reading the text was a tenth of a small query's
// time), up to 256 of them. The Set is shared: read it only.
const ruleSets = new Map();
export function ruleInputs(query) {
  let rules = ruleSets.get(query);
  if (rules === undefined) {
    if (ruleSets.size >= 256) ruleSets.clear();
    ruleSets.set(query, (rules = readRuleInputs(query)));
  }
  return rules;
}

function readRuleInputs(query) {
  const [top] = skeleton(query);
  const at = Array.isArray(top) ? top.indexOf(':in') : -1;
  const rules = new Set();
  if (at < 0) return rules;
  let ins = top[at + 1];
  if (top.open !== '{') {
    const end = top.findIndex((x, i) => i > at && typeof x === 'string' && x[0] === ':');
    ins = top.slice(at + 1, end < 0 ? top.length : end);
  }
  if (Array.isArray(ins)) ins.forEach((b, i) => typeof b === 'string' && b[0] === '%' && rules.add(i));
  return rules;
}

// A transaction report {txId, tempids, txData}. txData, the bulk of a big report, is
// parsed on first use. Relies on the raw tier writing txData last; parses everything
// otherwise.
export function parseReport(text) {
  const at = text.indexOf('},"txData":[');
  if (!text.startsWith('{"ok":{"txId":') || at < 0) return parseReply(text);
  const report = parseReply(text.slice(0, at + 1) + '}}');
  const txData = text.slice(at + '},"txData":'.length, -2);
  let parsed;
  return Object.defineProperty(report, 'txData', {
    enumerable: true,
    get: () => (parsed ??= parseReply(`{"ok":${txData}}`)),
  });
}
