#!/usr/bin/env node
// Reactive queries on the people database (bench/live-scenarios.mjs) through the npm
// package's JS API in Node: 64 and 256 subscriptions, a transaction that changes one of
// them and one that changes all, timed from transact() to the last callback.
//
// Usage: node --expose-gc bench/live-node.mjs --people people.json [--samples 200]
//          [--warmup-ms 1000] [--counts 64,256] [--only live-64-one]
//
// Prints one JSON object per scenario (engine "datalith-wasm", backend "node").
import { readFileSync } from 'node:fs';
import { init } from '../wasm/js/index.js';
import { parseLiveArgs, runLive } from './live-scenarios.mjs';

const o = parseLiveArgs('live-node.mjs', process.argv.slice(2));
const people = JSON.parse(readFileSync(o.people, 'utf8')).people;
await runLive({ init, people, o, backend: 'node' });
