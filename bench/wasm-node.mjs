#!/usr/bin/env node
// DataScript's people workload (bench/wasm-scenarios.mjs) through the npm package's JS
// API (the WASM core under Node) and through npm `datascript`, in one Node process.
//
// Usage: node --expose-gc bench/wasm-node.mjs --people people.json [--runs 5] [--warm-ms 1000] [--only NAME]
//
// Prints one JSON object per engine and scenario (engine "datalith-wasm" or
// "datascript", backend "node"), the format bench/compare.mjs reads; for queries
// `datoms` is the number of result rows, otherwise the datoms about entities.
import ds from 'datascript';
import { readFileSync } from 'node:fs';
import { init } from '../wasm/js/node.js';
import { parseArgs } from './common.mjs';
import { runWorkload } from './wasm-scenarios.mjs';

const o = parseArgs('wasm-node.mjs', process.argv.slice(2));
const people = JSON.parse(readFileSync(o.people, 'utf8')).people;
await runWorkload({ init, ds, people, o, backend: 'node' });
