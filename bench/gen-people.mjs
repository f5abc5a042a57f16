#!/usr/bin/env node
// Deterministic generator for DataScript's "people" benchmark workload.
//
// Mirrors `random-man` in tonsky/datascript bench/datascript/bench/bench.cljc:
//   name      one of 8 first names
//   last-name one of 6 last names
//   full-name "<name> <last-name>"
//   alias     (rand-int 10) picks from a fixed list of 11 pen names
//             (cardinality many; duplicates are removed here, as the
//             database would collapse them anyway)
//   sex       "male" | "female"       (keywords :male/:female in DataScript)
//   age       0..99
//   salary    0..99999
// Entity ids are 1..N in order (DataScript's string tempids "1".."N" resolve to
// sequential eids in transaction order, so this is equivalent).
//
// Randomness: mulberry32, seed 42 (override with --seed). No Math.random.
//
// Usage:
//   node bench/gen-people.mjs [--count N] [--seed S] OUT.json
//   node bench/gen-people.mjs --million OUT-1M.json [--target-datoms D]
//   (both forms may be combined in one call)
// The --million file holds as many people as needed for the first time the
// running datom total reaches --target-datoms (default 1,000,000), i.e. ~101k
// people, drawn from its own PRNG stream (seed + 1).

import { writeFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

export const NAMES = ['Ivan', 'Petr', 'Sergei', 'Oleg', 'Yuri', 'Dmitry', 'Fedor', 'Denis'];
export const LAST_NAMES = ['Ivanov', 'Petrov', 'Sidorov', 'Kovalev', 'Kuznetsov', 'Voronoi'];
export const ALIASES = ['A. C. Q. W.', 'A. J. Finn', 'A.A. Fair', 'Aapeli', 'Aaron Wolfe',
  'Abigail Van Buren', 'Jeanne Phillips', 'Abram Tertz', 'Abu Nuwas', 'Acton Bell', 'Adunis'];
export const SEXES = ['male', 'female'];

export function mulberry32(seed) {
  let a = seed >>> 0;
  return function next() {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Datoms one person contributes (every scalar attribute + each distinct alias).
export function datomsOf(p) {
  return 6 + p.alias.length;
}

export function makeGenerator(seed) {
  const rnd = mulberry32(seed);
  const randInt = (n) => Math.floor(rnd() * n);
  const pick = (xs) => xs[randInt(xs.length)];
  let nextId = 0;
  return function randomMan() {
    const name = pick(NAMES);
    const lastName = pick(LAST_NAMES);
    const nAliases = randInt(10);
    const alias = [];
    for (let i = 0; i < nAliases; i++) {
      const a = pick(ALIASES);
      if (!alias.includes(a)) alias.push(a);
    }
    return {
      id: ++nextId,
      name,
      'last-name': lastName,
      'full-name': `${name} ${lastName}`,
      alias,
      sex: pick(SEXES),
      age: randInt(100),
      salary: randInt(100000),
    };
  };
}

function writePeople(path, people) {
  mkdirSync(dirname(path), { recursive: true });
  // One person per line: readable, diffable, still plain JSON.
  const body = '{"people":[\n' + people.map((p) => JSON.stringify(p)).join(',\n') + '\n]}\n';
  writeFileSync(path, body);
}

function usage(msg) {
  if (msg) console.error(`gen-people: ${msg}`);
  console.error('usage: node bench/gen-people.mjs [--count N] [--seed S] [OUT.json] [--million OUT-1M.json] [--target-datoms D]');
  process.exit(2);
}

function parseArgs(argv) {
  const o = { count: 20000, seed: 42, out: null, million: null, targetDatoms: 1000000 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => { if (i + 1 >= argv.length) usage(`${a} needs a value`); return argv[++i]; };
    const int = (s) => { const n = Number(s); if (!Number.isInteger(n) || n < 0) usage(`bad number for ${a}: ${s}`); return n; };
    if (a === '--count') o.count = int(val());
    else if (a === '--seed') o.seed = int(val());
    else if (a === '--million') o.million = val();
    else if (a === '--target-datoms') o.targetDatoms = int(val());
    else if (a === '-h' || a === '--help') usage();
    else if (a.startsWith('--')) usage(`unknown option ${a}`);
    else if (o.out === null) o.out = a;
    else usage(`unexpected argument ${a}`);
  }
  if (!o.out && !o.million) usage('no output path given');
  return o;
}

function main() {
  const o = parseArgs(process.argv.slice(2));
  if (o.out) {
    const gen = makeGenerator(o.seed);
    const people = Array.from({ length: o.count }, gen);
    const datoms = people.reduce((s, p) => s + datomsOf(p), 0);
    writePeople(o.out, people);
    console.error(`gen-people: ${o.out}: ${people.length} people, ${datoms} datoms (seed ${o.seed})`);
  }
  if (o.million) {
    const gen = makeGenerator(o.seed + 1);
    const people = [];
    let datoms = 0;
    while (datoms < o.targetDatoms) {
      const p = gen();
      people.push(p);
      datoms += datomsOf(p);
    }
    writePeople(o.million, people);
    console.error(`gen-people: ${o.million}: ${people.length} people, ${datoms} datoms (seed ${o.seed + 1})`);
  }
}

main();
