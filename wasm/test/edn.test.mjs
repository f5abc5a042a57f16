// Unit tests of the JS ↔ EDN conventions (wasm/js/edn.js); no WebAssembly needed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { toEdn, txToEdn, txToJson, entityToEdn, keyword, parseReply, parseReport, ruleInputs, MISSING, Uuid, EdnText } from '../js/edn.js';

test('scalars', () => {
  assert.equal(toEdn(null), 'nil');
  assert.equal(toEdn(true), 'true');
  assert.equal(toEdn(42), '42');
  assert.equal(toEdn(-0), '0');
  assert.equal(toEdn(9.99), '9.99');
  assert.equal(toEdn(1e-7), '1e-7');
  assert.equal(toEdn(2 ** 60), '1152921504606846976');
  assert.equal(toEdn(1e20), '1e+20');  // beyond a long: a double, not a big integer
  assert.equal(toEdn(NaN), '##NaN');
  assert.equal(toEdn(-Infinity), '##-Inf');
  assert.equal(toEdn(123n), '123');
  assert.throws(() => toEdn(2n ** 63n), /does not fit in a long/);
  assert.equal(toEdn(new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 6))), '#inst "2024-01-02T03:04:05.006Z"');
  assert.throws(() => toEdn(new Date(NaN)), /invalid Date/);
  const u = new Uuid('5A0C3F1E-0000-4000-8000-00000000000A');
  assert.equal(toEdn(u), '#uuid "5a0c3f1e-0000-4000-8000-00000000000a"');
  assert.throws(() => new Uuid('nope'), /invalid uuid/);
});

test('strings and keywords', () => {
  assert.equal(toEdn('Widget'), '"Widget"');
  assert.equal(toEdn(':product/name'), ':product/name');
  assert.equal(toEdn('\\:not-a-keyword'), '":not-a-keyword"');
  assert.equal(toEdn('\\\\x'), '"\\\\x"');  // '\\' + '\x' → the string \x
  assert.equal(toEdn('a "quoted" \\ back\nslash\t\u0001'), '"a \\"quoted\\" \\\\ back\\nslash\\t\\u0001"');
  assert.equal(toEdn('é ✓ 😀'), '"é ✓ 😀"');
  assert.equal(toEdn('lone \ud800 x'), '"lone \\ud800 x"');
  assert.equal(toEdn('😀 "q" \udc00'), '"😀 \\"q\\" \\udc00"');  // a pair kept, a lone low half escaped
  assert.equal(toEdn('del \x7f'), '"del \\u007f"');
  assert.equal(toEdn(''), '""');
  assert.throws(() => toEdn(':bad keyword'), /invalid keyword/);
  assert.throws(() => toEdn(':'), /invalid keyword/);
  assert.equal(keyword('person/name'), ':person/name');
});

test('collections', () => {
  assert.equal(toEdn([1, 'a', [':k']]), '[1 "a" [:k]]');
  assert.equal(toEdn(new Set([1, 2])), '#{1 2}');
  assert.equal(toEdn(new Map([['a', 1], [':b', 2]])), '{"a" 1 :b 2}');
  assert.equal(toEdn({ 'person/name': 'Ann', ':person/age': 3, skip: undefined }), '{:person/name "Ann" :person/age 3}');
  assert.equal(toEdn({}), '{}');
  assert.equal(toEdn(new EdnText('[*]')), '[*]');
  assert.throws(() => toEdn(() => 1), /cannot convert a function/);
  assert.throws(() => toEdn(undefined), /cannot convert undefined/);
  assert.throws(() => toEdn(new (class Foo {})()), /cannot convert Foo/);
});

test('transaction data', () => {
  assert.equal(
    txToEdn([{ 'db/id': 'w', 'product/sku': 'W001', 'product/tags': [':a', ':b'] },
      [':db/add', 17, 'product/name', 'Gizmo'],
      ['db/retract', ['product/sku', 'W001'], ':product/price', 9.99],
      [':db/retractEntity', ['product/sku', 'X']],
      { ':db/id': ['product/sku', 'W001'], 'product/price': 1.5 }]),
    '[{:db/id "w" :product/sku "W001" :product/tags [:a :b]} [:db/add 17 :product/name "Gizmo"] ' +
    '[:db/retract [:product/sku "W001"] :product/price 9.99] [:db/retractEntity [:product/sku "X"]] ' +
    '{:db/id [:product/sku "W001"] :product/price 1.5}]');
  assert.equal(txToEdn('[[:db/add 1 :a 2]]'), '[[:db/add 1 :a 2]]');
  assert.throws(() => txToEdn({}), /must be an array/);
  assert.throws(() => txToEdn([42]), /entity maps or list forms/);
  assert.equal(entityToEdn(['person/email', 'a@b']), '[:person/email "a@b"]');
  assert.equal(entityToEdn(':red'), ':red');
});

test('replies', () => {
  assert.deepEqual(parseReply('{"ok":[[1,"a"],[2,"b"]]}'), [[1, 'a'], [2, 'b']]);
  assert.equal(parseReply('{"ok":":product/name"}'), ':product/name');
  // Escaped strings keep their escape: the JS spelling of the string ":literal".
  assert.equal(parseReply('{"ok":"\\\\:literal"}'), '\\:literal');
  assert.equal(parseReply('{"ok":"\\\\\\\\x"}'), '\\\\x');
  const v = parseReply('{"ok":{"a":{"#long":"9007199254740993"},"b":{"#inst":86400000},' +
    '"c":{"#uuid":"5a0c3f1e-0000-4000-8000-00000000000a"},"d":{"#double":"-Inf"},"e":{"#x":1}}}');
  assert.equal(v.a, 9007199254740993n);
  assert.deepEqual(v.b, new Date(86400000));
  assert.ok(v.c instanceof Uuid && String(v.c) === '5a0c3f1e-0000-4000-8000-00000000000a');
  assert.equal(v.d, -Infinity);
  assert.deepEqual(v.e, { '#x': 1 });
  assert.equal(parseReply('{"ok":null}'), null);
  assert.equal(parseReply('{"missing":true}'), MISSING);
  assert.throws(() => parseReply('{"error":"line 1, col 3: boom"}'), (e) => e instanceof Error && e.message === 'line 1, col 3: boom');
});

test('rule inputs are found from :in', () => {
  assert.deepEqual([...ruleInputs('[:find ?e :in $ % :where (r ?e)]')], [1]);
  // More texts than it keeps (256): still the right answers.
  for (let i = 0; i < 300; i++) assert.deepEqual([...ruleInputs(`[:find ?e :in $ ?x${i} % :where (r ?e)]`)], [2]);
  assert.deepEqual([...ruleInputs('[:find ?e :in $ % :where (r ?e)]')], [1]);
  assert.deepEqual([...ruleInputs('[:find ?e :in $ ?name % :where (r ?e)]')], [2]);
  // Kept per query text: asked again, the same answer (the same Set).
  assert.equal(ruleInputs('[:find ?e :in $ % :where (r ?e)]'), ruleInputs('[:find ?e :in $ % :where (r ?e)]'));
  assert.deepEqual([...ruleInputs('[:find ?e :in $ % :where (r ?e)]')], [1]);
  // More texts than it keeps (256): still the right answers.
  for (let i = 0; i < 300; i++) assert.deepEqual([...ruleInputs(`[:find ?e :in $ ?x${i} % :where (r ?e)]`)], [2]);
  assert.deepEqual([...ruleInputs('[:find ?e :in $ % :where (r ?e)]')], [1]);
  assert.deepEqual([...ruleInputs('[:find ?e :in [[?a ?b]] % ; comment :in %\n :where [?e ":in"]]')], [1]);
  assert.deepEqual([...ruleInputs('{:find [?e] :in [$ %] :where [(r ?e)]}')], [1]);
  assert.deepEqual([...ruleInputs('[:find ?e :where [?e :a]]')], []);
  assert.deepEqual([...ruleInputs('[:find ?e :in $ ?x]')], []);
});

test('transaction reports parse txData on first use', () => {
  const text = '{"ok":{"txId":4398046511105,"tempids":{"a},\\"txData\\":[":1,"datomic.tx":4398046511105},' +
    '"txData":[[1,":a/b","\\\\:x",4398046511105,true]]}}';
  const r = parseReport(text);
  assert.equal(r.txId, 4398046511105);
  assert.deepEqual(r.tempids, { 'a},"txData":[': 1, 'datomic.tx': 4398046511105 });
  assert.deepEqual(r.txData, [[1, ':a/b', '\\:x', 4398046511105, true]]);
  assert.equal(r.txData, r.txData);
  assert.deepEqual(parseReport('{"ok":{"txId":1,"txData":[],"tempids":{}}}'), { txId: 1, txData: [], tempids: {} });
  assert.throws(() => parseReport('{"error":"boom"}'), /boom/);
});

test('txToJson: plain entity maps as JSON text; anything JSON would not write as the EDN text does, null', () => {
  const ok = [{ 'db/id': 'a', name: 'x', ':ns/k': ':color/red', n: 1, d: 0.5, big: 2 ** 60, huge: 1e300, b: false, nil: null,
    many: ['y', 2], nested: { 'x/y': [{ z: 1 }] }, skipped: undefined }];
  assert.equal(txToJson(ok), JSON.stringify(ok));
  for (const [what, tx] of [
    ['not an array', { a: 1 }], ['empty', []], ['a list form', [[':db/add', 1, 'a', 2]]], ['text', '[{:a 1}]'],
    ['a Date', [{ a: new Date(0) }]], ['a BigInt', [{ a: 1n }]], ['NaN', [{ a: NaN }]], ['Infinity', [{ a: [Infinity] }]],
    ['undefined in an array', [{ a: [undefined] }]], ['a hole in an array', [{ a: [1, , 3] }]], ['a Set', [{ a: new Set([1]) }]], ['a Map', [{ a: new Map() }]],
    ['a Uuid', [{ a: new Uuid('5a0c3f1e-0000-4000-8000-00000000000a') }]], ['EDN text', [{ a: new EdnText('[1]') }]],
    ['a function', [{ a: () => 1 }]], ['an invalid key', [{ 'a b': 1 }]], ['an invalid keyword value', [{ a: ':a b' }]],
    ['a class instance', [new (class X { a = 1; })()]], ['null form', [null]],
  ]) assert.equal(txToJson(tx), null, what);
});
