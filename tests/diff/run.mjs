#!/usr/bin/env node
// Differential test: random data and random queries, run by DataScript (npm
// `datascript`) and by Datalith (tests/diff/driver.cpp), results compared.
//
//   node tests/diff/run.mjs path/to/datalith_difftest [--seed N] [--queries N] [--verbose] [--dump]
//
// Everything derives from the seed (a small PRNG, no Math.random), so a run is
// reproducible. What is generated, what is compared how, and what is left out on
// purpose: tests/diff/README.md. Exits 1 on any mismatch, printing each failing query
// with both results.

import d from 'datascript';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// ---------------------------------------------------------------------------------
// Arguments

const args = process.argv.slice(2);
let driver = null, seed = 20261122, nQueries = 400, verbose = false, dump = false;
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--seed') seed = Number(args[++i]);
  else if (args[i] === '--queries') nQueries = Number(args[++i]);
  else if (args[i] === '--verbose') verbose = true;
  else if (args[i] === '--dump') dump = true;  // print the data (EDN) and exit
  else driver = args[i];
}
if (!driver && !dump) {
  console.error('usage: node tests/diff/run.mjs DATALITH_DIFFTEST [--seed N] [--queries N] [--verbose] [--dump]');
  process.exit(2);
}

// ---------------------------------------------------------------------------------
// PRNG (mulberry32)

function makeRng(s) {
  let a = s >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const r = {
    next,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),  // inclusive
    chance: (p) => next() < p,
    pick: (xs) => xs[Math.floor(next() * xs.length)],
    // weighted choice over [[weight, value], ...]
    weighted: (pairs) => {
      const total = pairs.reduce((s, [w]) => s + w, 0);
      let x = next() * total;
      for (const [w, v] of pairs) {
        if ((x -= w) < 0) return v;
      }
      return pairs[pairs.length - 1][1];
    },
    sample: (xs, n) => {
      const pool = xs.slice(), out = [];
      while (out.length < n && pool.length) out.push(pool.splice(Math.floor(next() * pool.length), 1)[0]);
      return out;
    },
  };
  return r;
}
const rng = makeRng(seed);

// ---------------------------------------------------------------------------------
// Data: N entities with
//   name   string, cardinality one
//   age    long, cardinality one
//   score  double (always k + 0.5: never equal to a long, exact sums)
//   tag    string, cardinality many
//   follows ref, cardinality many
// Each attribute is sometimes missing. DataScript gets ids 1..N; Datalith gets
// tempids "e1".."eN" and the driver reports the ids it assigned.

const NAMES = ['ann', 'bob', 'cid', 'dan', 'eve', 'fay', 'gus'];
const TAGS = ['red', 'green', 'blue', 'gray'];
const AGES = [...Array(16).keys()];                      // 0..15
const SCORES = [...Array(12).keys()].map((k) => k - 3.5); // -3.5 .. 7.5

const ATTRS = {
  name: { type: 'str', many: false, values: NAMES },
  age: { type: 'long', many: false, values: AGES },
  score: { type: 'dbl', many: false, values: SCORES },
  tag: { type: 'str', many: true, values: TAGS },
  follows: { type: 'ent', many: true },
};
const VALUE_ATTRS = ['name', 'age', 'score', 'tag'];
const isNum = (t) => t === 'long' || t === 'dbl';

let entities = [];  // the current round's data

function makeEntities(n) {
  const out = [];
  for (let i = 1; i <= n; i++) {
    const e = { id: i };
    if (rng.chance(0.85)) e.name = rng.pick(NAMES);
    if (rng.chance(0.75)) e.age = rng.pick(AGES);
    if (rng.chance(0.6)) e.score = rng.pick(SCORES);
    const nt = rng.weighted([[3, 0], [3, 1], [2, 2], [1, 3]]);
    if (nt) e.tag = rng.sample(TAGS, nt);
    const nf = rng.weighted([[3, 0], [4, 1], [3, 2], [1, 3]]);
    if (nf) e.follows = rng.sample([...Array(n).keys()].map((k) => k + 1), nf);
    if (e.name === undefined && e.age === undefined && e.score === undefined && !e.tag && !e.follows)
      e.name = rng.pick(NAMES);
    out.push(e);
  }
  return out;
}

const ednStr = (s) => JSON.stringify(s);  // ASCII only: JSON string syntax is EDN's
const ednVal = (v) => (typeof v === 'string' ? ednStr(v) : String(v));  // doubles are k+0.5: "2.5"

const schemaEdn = `[{:db/ident :name :db/valueType :db.type/string}
 {:db/ident :age :db/valueType :db.type/long}
 {:db/ident :score :db/valueType :db.type/double}
 {:db/ident :tag :db/valueType :db.type/string :db/cardinality :db.cardinality/many}
 {:db/ident :follows :db/valueType :db.type/ref :db/cardinality :db.cardinality/many}]`;

const dataEdn = () => '[' + entities.map((e) => {
  let s = `{:db/id "e${e.id}"`;
  for (const a of ['name', 'age', 'score']) if (e[a] !== undefined) s += ` :${a} ${ednVal(e[a])}`;
  if (e.tag) s += ` :tag [${e.tag.map(ednStr).join(' ')}]`;
  if (e.follows) s += ` :follows [${e.follows.map((f) => `"e${f}"`).join(' ')}]`;
  return s + '}';
}).join('\n ') + ']';

const dsSchema = {
  tag: { ':db/cardinality': ':db.cardinality/many' },
  follows: { ':db/valueType': ':db.type/ref', ':db/cardinality': ':db.cardinality/many' },
};
function dsDatabase() {
  const conn = d.create_conn(dsSchema);
  d.transact(conn, entities.map((e) => {
    const m = { ':db/id': e.id };
    for (const a of ['name', 'age', 'score', 'tag', 'follows']) if (e[a] !== undefined) m[a] = e[a];
    return m;
  }));
  return d.db(conn);
}

// ---------------------------------------------------------------------------------
// Queries. Clauses are strings in which attributes are written @name@; render() makes
// them `:name` for Datalith and `"name"` for DataScript.

const A = (a) => `@${a}@`;
const render = (text, dialect) => text.replace(/@([a-z]+)@/g, (_, a) => (dialect === 'dl' ? `:${a}` : `"${a}"`));

// Rules. `reach` is the recursive follows rule; `linked` has two definitions; `named`
// binds a value; `older` is called with a constant threshold. Not `(older [?e] ?c)`:
// DataScript 1.8.1 ignores the body of a rule whose head has required variables (README).
const RULES = `[[(reach ?a ?b) [?a ${A('follows')} ?b]]
 [(reach ?a ?b) [?a ${A('follows')} ?m] (reach ?m ?b)]
 [(linked ?a ?b) [?a ${A('follows')} ?b]]
 [(linked ?a ?b) [?b ${A('follows')} ?a]]
 [(named ?e ?n) [?e ${A('name')} ?n]]
 [(older ?e ?c) [?e ${A('age')} ?x] [(> ?x ?c)]]
 @ODD_EVEN@
 [(reach-name ?a ?n) (reach ?a ?b) (named ?b ?n)]
 [(leaf ?e) [?e ${A('name')}] (not [?e ${A('follows')} _])]
 [(tagged-or-old ?e ?t ?c) (or-join [?e ?t ?c] [?e ${A('tag')} ?t] (and [?e ${A('age')} ?a] [(>= ?a ?c)]))]]`;

// `odd`/`even`: paths of odd/even length. Datalith gets them mutually recursive;
// DataScript gets an equivalent self-recursive form, because its rule evaluation does
// not terminate on mutually recursive rules over cyclic data (README).
const ODD_EVEN = {
  dl: `[(odd ?a ?b) [?a :follows ?b]]
 [(odd ?a ?b) [?a :follows ?m] (even ?m ?b)]
 [(even ?a ?b) [?a :follows ?m] (odd ?m ?b)]`,
  ds: `[(odd ?a ?b) [?a "follows" ?b]]
 [(odd ?a ?b) [?a "follows" ?m] [?m "follows" ?n] (odd ?n ?b)]
 [(even ?a ?b) [?a "follows" ?m] (odd ?m ?b)]`,
};
const renderRules = (dialect) => render(RULES, dialect).replace('@ODD_EVEN@', ODD_EVEN[dialect]);

let smallDb = true;  // the round's database is the small one (rules only there: DataScript is slow)

const OPS = ['<', '>', '<=', '>=', '=', 'not='];

function constFor(attr) {
  return rng.pick(ATTRS[attr].values);
}
function constOfType(type) {
  if (type === 'str') return rng.pick(rng.chance(0.7) ? NAMES : TAGS);
  if (type === 'long') return rng.int(-1, 16);
  return rng.int(-4, 8) + 0.5;
}
function attrsOfType(type) {
  return VALUE_ATTRS.filter((a) => ATTRS[a].type === type);
}

class Ctx {
  constructor() {
    this.vars = [];  // {name, type} bound so far by the outer conjunction
    this.n = 0;
    this.clauses = [];
    this.usesRules = false;
    this.expensive = 0;  // recursive rule calls and or-joins that bind variables
    this.ors = 0;        // or / or-join clauses
    this.orbind = false;
  }
  fresh(type) {
    return { name: `?${type === 'ent' ? 'e' : 'v'}${this.n++}`, type };
  }
  bind(v) {
    this.vars.push(v);
    return v.name;
  }
  local() {  // a variable local to a not/or-join branch
    return `?l${this.n++}`;
  }
  ents() { return this.vars.filter((v) => v.type === 'ent'); }
  ofType(t) { return this.vars.filter((v) => v.type === t); }
  nums() { return this.vars.filter((v) => isNum(v.type)); }
  vals() { return this.vars.filter((v) => v.type !== 'ent'); }
}

// A clause on a bound entity variable that binds nothing outside (for not/or bodies).
function filterOn(ctx, e) {
  return rng.weighted([
    [4, () => { const a = rng.pick(VALUE_ATTRS); return `[${e} ${A(a)} ${ednVal(constFor(a))}]`; }],
    [2, () => `[${e} ${A(rng.pick(VALUE_ATTRS))}]`],
    [2, () => {
      const a = rng.pick(['age', 'score']), l = ctx.local();
      return `[${e} ${A(a)} ${l}] [(${rng.pick(OPS)} ${l} ${ednVal(constOfType(ATTRS[a].type))})]`;
    }],
    [2, () => { const l = ctx.local(); return `[${e} ${A('follows')} ${l}] [${l} ${A('name')} ${ednStr(rng.pick(NAMES))}]`; }],
    // self-follows, written with a predicate: DataScript mishandles a variable that
    // occurs twice in one pattern (README)
    [1, () => { const l = ctx.local(); return `[${e} ${A('follows')} ${l}] [(= ${e} ${l})]`; }],
  ])();
}

// Adds one clause to the conjunction, in an order DataScript accepts (it does not
// reorder clauses: predicates, not and not-join need their variables bound by
// earlier clauses).
function addClause(ctx) {
  const ents = ctx.ents();
  const e = rng.pick(ents).name;
  const kind = rng.weighted([
    [6, 'attr'], [3, 'ref'], [4, 'pred'], [2, 'not'], [2, 'notjoin'], [2, 'or'],
    [2, 'orjoin'], [3, 'rule'], [1, 'join'], [2, 'fn'], [1, 'orbind'], [1, 'nested'],
  ]);
  // DataScript can take minutes (and gigabytes) on an or-join that binds a variable
  // combined with other or-joins, so the generator never combines them.
  if ((kind === 'or' || kind === 'orjoin') && ctx.orbind) return addClause(ctx);
  if (kind === 'or' || kind === 'orjoin') ctx.ors++;
  if (kind === 'orbind' && ctx.ors) return addClause(ctx);
  switch (kind) {
    case 'attr': {
      const a = rng.pick(VALUE_ATTRS);
      const same = ctx.ofType(ATTRS[a].type);
      const how = rng.weighted([[6, 'var'], [3, 'const'], [1, 'blank'], [same.length ? 1 : 0, 'join']]);
      if (how === 'var') return ctx.clauses.push(`[${e} ${A(a)} ${ctx.bind(ctx.fresh(ATTRS[a].type))}]`);
      if (how === 'const') return ctx.clauses.push(`[${e} ${A(a)} ${ednVal(constFor(a))}]`);
      if (how === 'blank') return ctx.clauses.push(`[${e} ${A(a)} _]`);
      return ctx.clauses.push(`[${e} ${A(a)} ${rng.pick(same).name}]`);
    }
    case 'ref': {
      const how = rng.weighted([[4, 'out'], [3, 'in'], [1, 'both']]);
      if (how === 'out') return ctx.clauses.push(`[${e} ${A('follows')} ${ctx.bind(ctx.fresh('ent'))}]`);
      if (how === 'in') return ctx.clauses.push(`[${ctx.bind(ctx.fresh('ent'))} ${A('follows')} ${e}]`);
      const others = ents.filter((v) => v.name !== e);  // never [?e :follows ?e] (README)
      if (!others.length) return ctx.clauses.push(`[${e} ${A('follows')} _]`);
      return ctx.clauses.push(`[${e} ${A('follows')} ${rng.pick(others).name}]`);
    }
    case 'join': {  // a second entity with the same value of some attribute
      // only on the small database: on the large one the join has ~10^4 rows, and
      // DataScript takes seconds to run an or-join or not against that
      if (!smallDb) return addClause(ctx);
      const a = rng.pick(['name', 'age', 'tag']);
      const v = ctx.fresh(ATTRS[a].type), e2 = ctx.fresh('ent');
      ctx.clauses.push(`[${e} ${A(a)} ${ctx.bind(v)}]`);
      return ctx.clauses.push(`[${ctx.bind(e2)} ${A(a)} ${v.name}]`);
    }
    case 'pred': {
      const nums = ctx.nums(), strs = ctx.ofType('str');
      if (!nums.length && !strs.length) return addClause(ctx);
      if (nums.length >= 2 && rng.chance(0.25)) {
        const [x, y] = rng.sample(nums, 2);
        // = and not= between a long and a double are left out (README: numeric equality)
        const ops = x.type === y.type ? OPS : ['<', '>', '<=', '>='];
        return ctx.clauses.push(`[(${rng.pick(ops)} ${x.name} ${y.name})]`);
      }
      const pool = nums.length && (!strs.length || rng.chance(0.7)) ? nums : strs;
      const x = rng.pick(pool);
      // a long against a double constant and vice versa, with ordering operators only
      // (no = between 2.0 and 2: README)
      const c = isNum(x.type) && rng.chance(0.3) ? constOfType(x.type === 'dbl' ? 'long' : 'dbl') : constOfType(x.type);
      const ops = typeof c === 'number' && (x.type === 'dbl') !== !Number.isInteger(c) ? ['<', '>', '<=', '>='] : OPS;
      const op = rng.pick(ops);
      if (rng.chance(0.25)) return ctx.clauses.push(`[(${op} ${ednVal(c)} ${x.name})]`);  // constant first
      return ctx.clauses.push(`[(${op} ${x.name} ${ednVal(c)})]`);
    }
    case 'not':
      return ctx.clauses.push(`(not ${filterOn(ctx, e)})`);
    case 'fn': {
      const how = rng.weighted([[2, 'arith'], [1, 'str'], [2, 'get-else'], [2, 'missing'], [1, 'ground']]);
      const nums = ctx.nums(), strs = ctx.ofType('str');
      if (how === 'arith' && nums.length) {
        const x = rng.pick(nums);
        const fn = rng.pick(['+', '-', '*']);
        const y = nums.length > 1 && rng.chance(0.3) ? rng.pick(nums).name : String(rng.int(-3, 3));
        const t = x.type === 'dbl' || ctx.vars.find((v) => v.name === y)?.type === 'dbl' ? 'dbl' : 'long';
        return ctx.clauses.push(`[(${fn} ${x.name} ${y}) ${ctx.bind(ctx.fresh(t))}]`);
      }
      if (how === 'str' && strs.length) {
        return ctx.clauses.push(`[(str ${rng.pick(strs).name} "-" ${ednStr(rng.pick(TAGS))}) ${ctx.bind(ctx.fresh('str'))}]`);
      }
      if (how === 'get-else') {  // cardinality-one attributes only (else an error in both)
        const a = rng.pick(['name', 'age', 'score']);
        const dflt = ATTRS[a].type === 'str' ? '"none"' : ATTRS[a].type === 'long' ? '-1' : '-9.5';
        return ctx.clauses.push(`[(get-else $ ${e} ${A(a)} ${dflt}) ${ctx.bind(ctx.fresh(ATTRS[a].type))}]`);
      }
      if (how === 'missing') return ctx.clauses.push(`[(missing? $ ${e} ${A(rng.pick([...VALUE_ATTRS, 'follows']))})]`);
      const c = constOfType('long');
      return ctx.clauses.push(`[(ground ${c}) ${ctx.bind(ctx.fresh('long'))}]`);
    }
    case 'orbind': {  // or-join that binds a new variable in every branch
      // Only on the small database and at most one per query: DataScript evaluates
      // these slowly (hundreds of ms, up to out of memory for several in a row).
      if (!smallDb || ctx.expensive++) return addClause(ctx);
      ctx.orbind = true;
      const e2 = ctx.fresh('ent');
      const head = rng.chance(0.5) ? `[${e} ${e2.name}]` : `[[${e}] ${e2.name}]`;
      const branches = rng.sample([
        `[${e} ${A('follows')} ${e2.name}]`,
        `[${e2.name} ${A('follows')} ${e}]`,
        `(and [${e} ${A('follows')} ?l${ctx.n}] [?l${ctx.n++} ${A('follows')} ${e2.name}])`,
        `(and [${e} ${A('name')} ?l${ctx.n}] [${e2.name} ${A('name')} ?l${ctx.n++}])`,
      ], rng.int(2, 3));
      ctx.bind(e2);
      return ctx.clauses.push(`(or-join ${head} ${branches.join(' ')})`);
    }
    case 'nested': {  // not inside or, or inside not, not inside not
      const a = rng.pick(VALUE_ATTRS), b = rng.pick(VALUE_ATTRS);
      const how = rng.weighted([[1, 'or-in-not'], [1, 'not-in-or'], [1, 'not-in-not'], [smallDb ? 1 : 0, 'rule-in-not-or']]);
      if (how === 'rule-in-not-or') {  // rule calls inside not and or
        ctx.usesRules = true;
        const others = ents.filter((v) => v.name !== e);
        const call = others.length ? `(${rng.pick(['linked', 'reach'])} ${e} ${rng.pick(others).name})` : `(leaf ${e})`;
        if (rng.chance(0.5)) return ctx.clauses.push(`(not ${call})`);
        return ctx.clauses.push(`(or ${call} [${e} ${A(a)} ${ednVal(constFor(a))}])`);
      }
      if (how === 'or-in-not')
        return ctx.clauses.push(`(not (or [${e} ${A(a)} ${ednVal(constFor(a))}] [${e} ${A(b)} ${ednVal(constFor(b))}]))`);
      if (how === 'not-in-or')
        return ctx.clauses.push(`(or (and [${e} ${A(a)}] (not [${e} ${A(b)} ${ednVal(constFor(b))}])) [${e} ${A(b)} ${ednVal(constFor(b))}])`);
      return ctx.clauses.push(`(not [${e} ${A(a)}] (not ${filterOn(ctx, e)}))`);
    }
    case 'notjoin': {
      const vals = ctx.vals().filter((v) => v.type === 'str' || v.type === 'long');
      if (vals.length && rng.chance(0.4)) {
        // no other entity with this value has the given attribute value
        const v = rng.pick(vals), l = ctx.local();
        const a = rng.pick(attrsOfType(v.type));
        return ctx.clauses.push(`(not-join [${v.name}] [${l} ${A(a)} ${v.name}] ${filterOn(ctx, l)})`);
      }
      const l = ctx.local();
      return ctx.clauses.push(`(not-join [${e}] [${e} ${A('follows')} ${l}] ${filterOn(ctx, l)})`);
    }
    case 'or': {
      if (rng.chance(0.3)) {  // both branches bind a new entity variable
        const e2 = ctx.bind(ctx.fresh('ent'));
        return ctx.clauses.push(`(or [${e} ${A('follows')} ${e2}] [${e2} ${A('follows')} ${e}])`);
      }
      const branch = () => rng.chance(0.7)
        ? (() => { const a = rng.pick(VALUE_ATTRS); return `[${e} ${A(a)} ${ednVal(constFor(a))}]`; })()
        : (() => {
          // every branch of `or` must use the same variables (here: only e)
          const [a, b] = rng.sample(VALUE_ATTRS, 2);
          return `(and [${e} ${A(a)} ${ednVal(constFor(a))}] [${e} ${A(b)}])`;
        })();
      const n = rng.int(2, 3);
      let s = '(or';
      for (let i = 0; i < n; i++) s += ' ' + branch();
      return ctx.clauses.push(s + ')');
    }
    case 'orjoin': {
      const n = rng.int(2, 3);
      let s = `(or-join [${e}]`;
      for (let i = 0; i < n; i++) {
        const body = filterOn(ctx, e);
        s += body.includes('] [') ? ` (and ${body})` : ` ${body}`;
      }
      return ctx.clauses.push(s + ')');
    }
    case 'rule': {
      if (!smallDb) return addClause(ctx);
      ctx.usesRules = true;
      // at most one recursive call per query (DataScript evaluates rules slowly)
      const rec = ctx.expensive++ ? 0 : 1;
      const r = rng.weighted([[4 * rec, 'reach'], [2, 'linked'], [2, 'named'], [2, 'older'], [2 * rec, 'odd'],
        [1 * rec, 'even'], [2 * rec, 'reach-name'], [1, 'leaf'], [1, 'tagged-or-old']]);
      if (r === 'named') return ctx.clauses.push(`(named ${e} ${ctx.bind(ctx.fresh('str'))})`);
      if (r === 'reach-name') {
        if (rng.chance(0.5)) return ctx.clauses.push(`(reach-name ${e} ${ednStr(rng.pick(NAMES))})`);
        return ctx.clauses.push(`(reach-name ${e} ${ctx.bind(ctx.fresh('str'))})`);
      }
      if (r === 'leaf') return ctx.clauses.push(`(leaf ${e})`);
      if (r === 'tagged-or-old') {
        // The arguments are variables bound by ground: DataScript 1.8.1 fails on a rule
        // call with constant arguments when the rule body has an or-join (README).
        const t = ctx.local(), c = ctx.local();
        return ctx.clauses.push(`[(ground ${ednStr(rng.pick(TAGS))}) ${t}] [(ground ${rng.int(0, 14)}) ${c}] ` +
          `(tagged-or-old ${e} ${t} ${c})`);
      }
      if (r === 'older') return ctx.clauses.push(`(older ${e} ${rng.int(-1, 15)})`);
      const how = rng.weighted([[4, 'out'], [2, 'in'], [1, 'both']]);
      if (how === 'out') return ctx.clauses.push(`(${r} ${e} ${ctx.bind(ctx.fresh('ent'))})`);
      if (how === 'in') return ctx.clauses.push(`(${r} ${ctx.bind(ctx.fresh('ent'))} ${e})`);
      const others = ents.filter((v) => v.name !== e);  // never (reach ?e ?e) (README)
      if (!others.length) return ctx.clauses.push(`(${r} ${e} _)`);
      return ctx.clauses.push(`(${r} ${e} ${rng.pick(others).name})`);
    }
  }
  throw new Error('unreachable');
}

// An input binding and the first clause that uses it. Returns {binding, ds, dl}.
function addInput(ctx, e0) {
  const how = rng.weighted([[3, 'scalar'], [3, 'coll'], [1, 'tuple'], [2, 'rel'], [2, 'entity']]);
  if (how === 'entity') {
    const many = rng.chance(0.5);
    const ids = rng.sample(entities.map((x) => x.id), many ? rng.int(0, 4) : 1);
    ctx.vars.push(e0);
    if (!many) return { binding: e0.name, ds: ids[0], dl: `#tempid "e${ids[0]}"` };
    return { binding: `[${e0.name} ...]`, ds: ids, dl: `[${ids.map((i) => `#tempid "e${i}"`).join(' ')}]` };
  }
  ctx.bind(e0);
  const a = rng.pick(['name', 'age', 'tag', 'score']);
  const v = ctx.fresh(ATTRS[a].type);
  if (how === 'scalar') {
    const c = constFor(a);
    ctx.clauses.push(`[${e0.name} ${A(a)} ${ctx.bind(v)}]`);
    return { binding: v.name, ds: c, dl: ednVal(c) };
  }
  if (how === 'coll') {
    const cs = rng.sample(ATTRS[a].values, rng.int(0, 4));
    ctx.clauses.push(`[${e0.name} ${A(a)} ${ctx.bind(v)}]`);
    return { binding: `[${v.name} ...]`, ds: cs, dl: `[${cs.map(ednVal).join(' ')}]` };
  }
  const b = rng.pick(['name', 'age', 'tag'].filter((x) => x !== a));
  const w = ctx.fresh(ATTRS[b].type);
  ctx.clauses.push(`[${e0.name} ${A(a)} ${ctx.bind(v)}]`, `[${e0.name} ${A(b)} ${ctx.bind(w)}]`);
  if (how === 'tuple') {
    const t = [constFor(a), constFor(b)];
    return { binding: `[${v.name} ${w.name}]`, ds: t, dl: `[${t.map(ednVal).join(' ')}]` };
  }
  // a relation: some rows taken from the data (so it matches), some random
  const rows = [];
  for (let i = rng.int(0, 5); i > 0; i--) {
    const src = rng.pick(entities);
    const x = src[a] === undefined ? constFor(a) : (Array.isArray(src[a]) ? rng.pick(src[a]) : src[a]);
    const y = src[b] === undefined ? constFor(b) : (Array.isArray(src[b]) ? rng.pick(src[b]) : src[b]);
    rows.push(rng.chance(0.8) ? [x, y] : [constFor(a), constFor(b)]);
  }
  return { binding: `[[${v.name} ${w.name}]]`, ds: rows, dl: `[${rows.map((r) => `[${r.map(ednVal).join(' ')}]`).join(' ')}]` };
}

// The find spec. Returns {find, with, shape, kinds} where shape is how the result is
// compared (rel / coll / scalar / tuple / bag) and kinds says which columns hold
// entity ids (mapped from Datalith's ids to DataScript's).
function makeFind(ctx) {
  const vars = ctx.vars;
  const kind = rng.weighted([[5, 'rel'], [2, 'coll'], [4, 'agg'], [1, 'bag']]);
  if (kind === 'rel') {
    const vs = rng.sample(vars, rng.int(1, Math.min(3, vars.length)));
    return { find: vs.map((v) => v.name).join(' '), shape: 'rel', kinds: vs.map((v) => v.type) };
  }
  if (kind === 'coll') {
    const v = rng.pick(vars);
    return { find: `[${v.name} ...]`, shape: 'coll', kinds: [v.type] };
  }
  if (kind === 'bag') {
    // :with and no aggregate: a bag (a vector with repeats) in Datomic and in DataScript
    const vs = rng.sample(vars, 2);
    if (vs.length < 2) return makeFind(ctx);
    return { find: vs[0].name, with: vs[1].name, shape: 'rel', kinds: [vs[0].type] };
  }
  // aggregates
  const groups = rng.sample(vars, rng.weighted([[3, 0], [3, 1], [1, 2]]));
  const rest = vars.filter((v) => !groups.includes(v));
  const pool = rest.length ? rest : vars;
  const aggs = [];
  for (let i = rng.int(1, 2); i > 0; i--) {
    const v = rng.pick(pool);
    const fns = ['count', 'count-distinct'];
    if (v.type !== 'ent') fns.push('min', 'max', 'distinct', 'min-n', 'max-n');
    if (isNum(v.type)) fns.push('sum', 'avg', 'sum', 'avg', 'median', 'variance', 'stddev');
    const fn = rng.pick(fns);
    // (min n ?x)/(max n ?x): the n least/greatest values, with repeats under :with;
    // their order differs (DataScript sorts both ascending), so they compare sorted
    const text = fn.endsWith('-n') ? `(${fn.slice(0, 3)} ${rng.int(1, 4)} ${v.name})` : `(${fn} ${v.name})`;
    aggs.push({ text, kind: fn === 'distinct' || fn.endsWith('-n') ? 'set' : 'val', v });
  }
  const find = [...groups.map((v) => v.name), ...aggs.map((a) => a.text)];
  const kinds = [...groups.map((v) => v.type), ...aggs.map((a) => a.kind)];
  const inFind = new Set([...groups, ...aggs.map((a) => a.v)].map((v) => v.name));
  const withCands = vars.filter((v) => !inFind.has(v.name));
  const withVar = withCands.length && rng.chance(0.5) ? rng.pick(withCands).name : undefined;
  if (!groups.length && aggs.length === 1 && rng.chance(0.4))
    return { find: `${find[0]} .`, with: withVar, shape: 'scalar', kinds };
  if (!groups.length && rng.chance(0.3))
    return { find: `[${find.join(' ')}]`, with: withVar, shape: 'tuple', kinds };
  return { find: find.join(' '), with: withVar, shape: 'rel', kinds };
}

function makeQuery(i) {
  const ctx = new Ctx();
  const e0 = ctx.fresh('ent');
  const inputs = [];
  if (rng.chance(0.3)) inputs.push(addInput(ctx, e0));
  else {
    const a = rng.pick([...VALUE_ATTRS, 'follows']);
    const t = ATTRS[a].type;
    ctx.bind(e0);
    if (t === 'ent') ctx.clauses.push(`[${e0.name} ${A(a)} ${ctx.bind(ctx.fresh('ent'))}]`);
    else if (rng.chance(0.35)) ctx.clauses.push(`[${e0.name} ${A(a)} ${ednVal(constFor(a))}]`);
    else ctx.clauses.push(`[${e0.name} ${A(a)} ${ctx.bind(ctx.fresh(t))}]`);
  }
  for (let k = rng.weighted([[2, 0], [4, 1], [4, 2], [3, 3], [1, 4]]); k > 0; k--) addClause(ctx);
  if (ctx.ofType('str').length && rng.chance(0.08)) {
    // a second source: a collection of [string long] tuples joined on a string
    const v = rng.pick(ctx.ofType('str')), c = ctx.fresh('long');
    const rows = [];
    for (let k = rng.int(0, 6); k > 0; k--) rows.push([rng.pick(rng.chance(0.7) ? NAMES : TAGS), rng.int(0, 5)]);
    ctx.clauses.push(`[$2 ${v.name} ${ctx.bind(c)}]`);
    inputs.push({ binding: '$2', ds: rows, dl: `[${rows.map(([a, b]) => `[${ednStr(a)} ${b}]`).join(' ')}]` });
  }
  if (rng.chance(0.08)) {
    // an entity id input as the value of a ref pattern
    const t = ctx.fresh('ent'), e = rng.pick(ctx.ents()).name, id = rng.pick(entities).id;
    ctx.clauses.push(rng.chance(0.5) ? `[${e} ${A('follows')} ${t.name}]` : `[${t.name} ${A('follows')} ${e}]`);
    ctx.bind(t);
    inputs.push({ binding: t.name, ds: id, dl: `#tempid "e${id}"` });
  }
  if (ctx.nums().length && rng.chance(0.15)) {
    // a comparison against a scalar input (Datalith pushes it into the pattern's range)
    const x = rng.pick(ctx.nums()), t = `?in${ctx.n++}`;
    const c = constOfType(rng.chance(0.7) ? x.type : rng.pick(['long', 'dbl']));
    const ops = (x.type === 'dbl') !== !Number.isInteger(c) ? ['<', '>', '<=', '>='] : OPS;
    ctx.clauses.push(rng.chance(0.7) ? `[(${rng.pick(ops)} ${x.name} ${t})]` : `[(${rng.pick(ops)} ${t} ${x.name})]`);
    inputs.push({ binding: t, ds: c, dl: ednVal(c) });
  }
  const f = makeFind(ctx);
  let inText = '';
  if (inputs.length || ctx.usesRules) {
    inText = ' :in $';
    if (ctx.usesRules) inText += ' %';
    for (const inp of inputs) inText += ' ' + inp.binding;
  }
  const text = `[:find ${f.find}${f.with ? ` :with ${f.with}` : ''}${inText} :where ${ctx.clauses.join(' ')}]`;
  return {
    i, text, shape: f.shape, kinds: f.kinds,
    ds: { q: render(text, 'ds'), in: [...(ctx.usesRules ? [renderRules('ds')] : []), ...inputs.map((x) => x.ds)] },
    dl: { q: render(text, 'dl'), in: ['$', ...(ctx.usesRules ? [renderRules('dl')] : []), ...inputs.map((x) => x.dl)] },
  };
}

// A few queries that both engines must reject.
const ERROR_QUERIES = [
  `[:find ?x :where [?e ${A('name')} ?n]]`,                                   // ?x not bound
  `[:find ?e :where [?e ${A('name')}] [(< ?a 10)]]`,                          // ?a never bound
  `[:find ?e :where [?e ${A('name')}] (or [?e ${A('age')} 1] [?x ${A('age')} 2])]`,  // or branches differ
  `[:find ?e :in $ % :where [?e ${A('name')}] (nosuchrule ?e)]`,              // unknown rule
  `[:find ?e :where [?e ${A('name')}] (not-join [?e ?zz] [?e ${A('age')} 1])]`,  // ?zz unbound
  `[:find (nosuchagg ?e) :where [?e ${A('name')}]]`,                          // unknown aggregate
  `[:find ?e :where [?e ${A('name')}] [(nosuchfn ?e)]]`,                      // unknown function
  `[:find ?e ?x :in $ ?x :where [?e ${A('name')} ?x]]`,                       // input missing
];

// ---------------------------------------------------------------------------------
// Rounds: a small database where every construct is cheap (DataScript evaluates rules
// slowly), and a larger one with fewer queries so that Datalith's planner takes its
// other paths (probing an index per bound value instead of scanning, AVET ranges).

const ROUNDS = [
  { name: 'small', entities: 24, queries: Math.round(nQueries * 0.7) },
  { name: 'large', entities: 300, queries: nQueries - Math.round(nQueries * 0.7) },
];

const clip = (t) => (t.length > 3000 ? `${t.slice(0, 3000)} ... (${t.length} chars)` : t);
const show = (q, r, norm) => clip(r.ok ? norm(q, r.value) : `ERROR ${r.error}`);
let totalQueries = 0, totalPass = 0, totalBothErr = 0, totalFailures = 0, totalNonEmpty = 0;
const summaries = [];
for (const round of ROUNDS) {
  entities = makeEntities(round.entities);
  smallDb = round.name === 'small';
  const queries = [];
  for (let i = 0; i < round.queries; i++) queries.push(makeQuery(i));  // (also when dumping: same PRNG sequence)
  if (dump) {
    console.log(`; round ${round.name}\n${dataEdn()}`);
    continue;
  }
  if (round.name === 'small') {
    for (const t of ERROR_QUERIES) {
      const usesRules = t.includes(':in $ %');
      queries.push({
        i: queries.length, text: t, shape: 'rel', kinds: [], expectError: true,
        ds: { q: render(t, 'ds'), in: usesRules ? ['[]'] : [] },
        dl: { q: render(t, 'dl'), in: usesRules ? ['$', '[]'] : ['$'] },
      });
    }
  }
  const r = runRound(round, queries);
  totalQueries += queries.length;
  totalPass += r.pass;
  totalBothErr += r.bothErr;
  totalFailures += r.failures.length;
  totalNonEmpty += r.nonEmpty;
  for (const { q, a, b, why } of r.failures) {
    console.log(`\nMISMATCH ${round.name} #${q.i}${why ? ` (${why})` : ''}`);
    console.log(`  datalith:   ${q.dl.q}`);
    if (q.dl.in.length > 1) console.log(`  inputs:     ${q.dl.in.slice(1).map((x) => x.replace(/\s*\n\s*/g, ' ')).join('  ')}`);
    console.log(`  datascript: ${show(q, a, r.normDs)}`);
    console.log(`  datalith:   ${show(q, b, r.normDl)}`);
  }
  summaries.push(`${round.name}: ${round.entities} entities, ${queries.length} queries, ` +
    `${r.failures.length} differ; DataScript ${r.tDs.toFixed(0)} ms ` +
    `(slowest #${r.slowest.i}: ${r.slowest.ms.toFixed(0)} ms), Datalith ${r.tDl.toFixed(0)} ms`);
}
if (dump) process.exit(0);
console.log(`\ndiff_datascript: seed ${seed}; ${summaries.join('; ')}`);
console.log(`diff_datascript: ${totalQueries} queries: ${totalPass} agree ` +
  `(${totalNonEmpty} with non-empty results, ${totalBothErr} rejected by both), ${totalFailures} differ`);
process.exit(totalFailures ? 1 : 0);

// ---------------------------------------------------------------------------------
// One round: run the queries on both engines and compare.

function runRound(round, queries) {
  const dsDb = dsDatabase();
  const t0 = performance.now();
  let slowest = { ms: 0, i: -1 };
  const dsResults = queries.map((q) => {
    if (verbose) process.stderr.write(`DataScript ${round.name} #${q.i}: ${q.ds.q}\n`);
    const start = performance.now();
    try {
      return { ok: true, value: d.q(q.ds.q, dsDb, ...q.ds.in) };
    } catch (e) {
      return { ok: false, error: String(e && e.message ? e.message : e) };
    } finally {
      const ms = performance.now() - start;
      if (ms > slowest.ms) slowest = { ms, i: q.i };
    }
  });
  const tDs = performance.now() - t0;

  const dir = mkdtempSync(join(tmpdir(), 'datalith-diff-'));
  let out;
  const t1 = performance.now();
  try {
    const file = join(dir, 'cases.json');
    writeFileSync(file, JSON.stringify({ schema: schemaEdn, data: dataEdn(), queries: queries.map((q) => q.dl) }));
    out = execFileSync(driver, [file], { encoding: 'utf8', maxBuffer: 256 << 20, timeout: 120000 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const tDl = performance.now() - t1;

  const lines = out.split('\n').filter((l) => l.length);
  if (!lines[0].startsWith('TEMPIDS ') || lines.length !== queries.length + 1) {
    console.error(`driver printed ${lines.length} lines for ${queries.length} queries:\n${out.slice(0, 2000)}`);
    process.exit(1);
  }
  const tempids = JSON.parse(lines[0].slice(8));
  const dlToDs = new Map(Object.entries(tempids).filter(([k]) => /^e\d+$/.test(k)).map(([k, v]) => [v, Number(k.slice(1))]));
  const dlResults = lines.slice(1).map((l) => (l.startsWith('ERROR ') ? { ok: false, error: l.slice(6) } : { ok: true, value: JSON.parse(l) }));

  const mapIds = (v, kind) => (kind === 'ent' && typeof v === 'number' ? (dlToDs.get(v) ?? `unknown-id-${v}`) : v);
  const normDs = (q, v) => normalize(q, v, (x) => x);
  const normDl = (q, v) => normalize(q, v, mapIds);

  let pass = 0, bothErr = 0, nonEmpty = 0;
  const failures = [];
  for (let k = 0; k < queries.length; k++) {
    const q = queries[k], a = dsResults[k], b = dlResults[k];
    let same, why = '';
    if (!a.ok || !b.ok) {
      same = !a.ok && !b.ok;
      if (same) bothErr++;
      if (q.expectError && !same) why = 'both engines must reject this query';
    } else {
      same = normDs(q, a.value) === normDl(q, b.value);
      if (a.value !== null && !(Array.isArray(a.value) && a.value.length === 0)) nonEmpty++;
    }
    if (q.expectError && a.ok) same = false, why = 'DataScript accepted a query expected to fail';
    if (same) pass++;
    else failures.push({ q, a, b, why });
    if (verbose) {
      console.log(`${round.name} #${q.i} ${same ? 'ok  ' : 'FAIL'} ${q.dl.q}`);
      if (!a.ok || !b.ok) console.log(`      DataScript: ${a.ok ? 'ok' : a.error}\n      Datalith:   ${b.ok ? 'ok' : b.error}`);
    }
  }
  return { pass, bothErr, nonEmpty, failures, tDs, tDl, slowest, normDs, normDl };
}

// ---------------------------------------------------------------------------------
// Comparison.

// Canonical text of a value: entity ids as #eN (DataScript's ids; Datalith's are
// mapped through its tempids), numbers to 10 significant digits (avg, variance and
// stddev are doubles summed in different orders), nested arrays (the `distinct`
// aggregate's set) sorted.
function canon(v, kind) {
  if (v === null || v === undefined) return 'nil';
  if (typeof v === 'number') {
    if (kind === 'ent' && v === Math.trunc(v)) return `#e${v}`;
    return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(10)));
  }
  if (typeof v === 'string') return kind === 'ent' ? v : JSON.stringify(v);
  if (typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) {
    const items = v.map((x) => canon(x));
    if (kind === 'set') items.sort();
    return `[${items.join(' ')}]`;
  }
  return JSON.stringify(v);
}

// The result as comparable text: relations and collections as sorted multisets (a
// relation is a set, so a duplicate row shows up as a difference; a :with bag keeps
// its repeats). `ids` maps a value of kind 'ent' to DataScript's id.
function normalize(q, value, ids) {
  const one = (x, kind) => canon(ids(x, kind), kind);
  if (q.shape === 'scalar') return one(value, q.kinds[0]);
  if (q.shape === 'tuple') return value === null ? 'nil' : '[' + value.map((x, k) => one(x, q.kinds[k])).join(' ') + ']';
  if (!Array.isArray(value)) return `not a collection: ${JSON.stringify(value)}`;
  if (q.shape === 'coll') return '[' + value.map((x) => one(x, q.kinds[0])).sort().join(' ') + ']';
  const rows = value.map((r) => '[' + r.map((x, k) => one(x, q.kinds[k])).join(' ') + ']').sort();
  return '#{' + rows.join(' ') + '}';
}
