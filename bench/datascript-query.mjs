#!/usr/bin/env node
// DataScript side of the native query benchmark (see bench/README.md and
// bench/query_bench.cpp: the same scenarios, data and timing method; bench/common.mjs).
//
// Usage: node --expose-gc bench/datascript-query.mjs --people people.json [--runs 5] [--only NAME]
//
// Prints one JSON object per scenario; `datoms` is the number of result rows.

import d from 'datascript';
import { readFileSync } from 'node:fs';
import { DS_PEOPLE_SCHEMA, readScenarios, parseArgs } from './common.mjs';

const o = parseArgs('datascript-query.mjs', process.argv.slice(2));
const people = JSON.parse(readFileSync(o.people, 'utf8')).people.map(({ id, ...attrs }) => ({ ':db/id': id, ...attrs }));
await readScenarios(o, d, d.db_with(d.empty_db(DS_PEOPLE_SCHEMA), people), 'memory');
