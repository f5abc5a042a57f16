#!/usr/bin/env bash
# End-to-end test of the `datalith` command-line tool (docs/cli.md).
# Usage: tests/cli/cli_test.sh path/to/datalith
set -euo pipefail

DL=$(realpath "${1:?usage: cli_test.sh path/to/datalith}")
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

fail() { echo "FAIL: $*" >&2; exit 1; }
# expect_eq WHAT ACTUAL EXPECTED
expect_eq() { [[ "$2" == "$3" ]] || fail "$1: got [$2], expected [$3]"; }
# expect_has WHAT TEXT NEEDLE
expect_has() { [[ "$2" == *"$3"* ]] || fail "$1: [$2] does not contain [$3]"; }
# expect_exit CODE CMD... : runs the command, checks its exit code, keeps stderr in $ERR
expect_exit() {
  local want=$1 got=0
  shift
  "$@" >out.txt 2>err.txt || got=$?
  ERR=$(cat err.txt)
  [[ $got == "$want" ]] || fail "exit $got (want $want) from: $* -- stderr: $ERR"
}
json_ok() { node -e 'JSON.parse(require("fs").readFileSync(0, "utf8"))' || fail "not JSON: $1"; }

# --- create, transact (file and stdin) ---
expect_eq "create" "$("$DL" create cat)" '{:created "cat", :schema :write, :history true}'
"$DL" create inv --no-history >/dev/null
expect_exit 1 "$DL" create cat
expect_has "create twice" "$ERR" "already exists"

cat >schema.edn <<'EOF'
[{:db/ident :item/sku :db/valueType :db.type/string :db/unique :db.unique/identity}
 {:db/ident :item/name :db/valueType :db.type/string}
 {:db/ident :item/price :db/valueType :db.type/long}
 {:db/ident :item/tags :db/valueType :db.type/keyword :db/cardinality :db.cardinality/many}
 {:db/ident :item/parts :db/valueType :db.type/ref :db/cardinality :db.cardinality/many}
 {:db/ident :item/added :db/valueType :db.type/instant}]
EOF
cat >items.edn <<'EOF'
[{:db/id "bolt" :item/sku "B1" :item/name "bolt" :item/price 10 :item/tags [:small :metal]}
 {:db/id "nut" :item/sku "N1" :item/name "nut" :item/price 5 :item/tags [:small]}
 {:db/id "frame" :item/sku "F1" :item/name "frame \"XL\"" :item/price 200
  :item/parts ["bolt" "nut"] :item/added #inst "2024-05-06T07:08:09.010Z"}]
EOF
"$DL" transact cat schema.edn >/dev/null
report=$("$DL" transact cat items.edn)
expect_has "transact report" "$report" '"bolt" '
expect_has "transact report" "$report" ':datoms 16'
"$DL" transact inv - >/dev/null <<'EOF'
[{:db/ident :stock/sku :db/valueType :db.type/string :db/unique :db.unique/identity}
 {:db/ident :stock/count :db/valueType :db.type/long}]
[{:stock/sku "B1" :stock/count 120} {:stock/sku "N1" :stock/count 30}
 {:stock/sku "F1" :stock/count 80}]
EOF
# t=3 of cat: the price of the bolt changes.
echo '[[:db/add [:item/sku "B1"] :item/price 12]]' | "$DL" transact cat >/dev/null

# --- query: two databases and a scalar, time views, rules, JSON, explain ---
Q2='[:find ?name ?n :in $cat $inv ?min
     :where [$inv ?s :stock/count ?n] [(>= ?n ?min)] [$inv ?s :stock/sku ?sku]
            [$cat ?i :item/sku ?sku] [$cat ?i :item/name ?name]]'
expect_eq "two dbs" "$("$DL" query "$Q2" --db cat --db inv --arg 50)" '#{["bolt" 120] ["frame \"XL\"" 80]}'
QP='[:find ?p . :where [?e :item/sku "B1"] [?e :item/price ?p]]'
expect_eq "current" "$("$DL" query "$QP" --db cat)" "12"
expect_eq "as-of t" "$("$DL" query "$QP" --db cat --as-of 2)" "10"
tx2=$("$DL" log cat | sed -n 2p | sed 's/.*:last-tx \([0-9]*\).*/\1/')
expect_eq "as-of tx" "$("$DL" query "$QP" --db cat --as-of "$tx2")" "10"
expect_eq "as-of instant" "$("$DL" query "$QP" --db cat --as-of 2000-01-01T00:00:00Z)" "nil"
expect_eq "history" "$("$DL" query '[:find ?p ?added :where [?e :item/sku "B1"] [?e :item/price ?p _ ?added]]' --db cat --history)" \
  '#{[10 true] [10 false] [12 true]}'
echo '[[(cheap ?e ?max) [?e :item/price ?p] [(< ?p ?max)]]]' >rules.edn
expect_eq "rules" "$("$DL" query '[:find [?n ...] :in $ % :where (cheap ?e 11) [?e :item/name ?n]]' --db cat --rules rules.edn)" '["nut"]'
echo '[:find ?sku . :where [?e :item/name "nut"] [?e :item/sku ?sku]]' >q.edn
expect_eq "query file" "$("$DL" query --file q.edn --db cat)" '"N1"'
json=$("$DL" query '[:find ?sku ?tag :keys sku tag :where [?e :item/sku ?sku] [?e :item/tags ?tag]]' --db cat --json)
echo "$json" | json_ok "query --json"
expect_has "json keyword" "$json" '":tag":":metal"'
plan=$("$DL" query "$QP" --db cat --explain)
expect_has "explain" "$plan" ":item/price"

# --- pull, datoms ---
expect_eq "pull" "$("$DL" pull cat '[:item/sku "F1"]' '[:item/name {:item/parts [:item/sku]}]')" \
  '{:item/name "frame \"XL\"", :item/parts [{:item/sku "B1"} {:item/sku "N1"}]}'
pj=$("$DL" pull cat '[:item/sku "F1"]' '[:item/added :item/tags]' --json)
expect_eq "pull --json" "$pj" '{":item/added":"2024-05-06T07:08:09.010Z"}'
expect_eq "pull-many" "$("$DL" pull-many cat '[[:item/sku "N1"] [:item/sku "B1"]]' '[:item/price]')" \
  '[{:item/price 5} {:item/price 12}]'
expect_eq "datoms avet" "$("$DL" datoms cat avet :item/price 5 | wc -l)" "1"
expect_has "datoms avet" "$("$DL" datoms cat avet :item/price 5)" ':item/price 5 '
expect_eq "datoms eavt" "$("$DL" datoms cat eavt '[:item/sku "B1"]' :item/tags | cut -d' ' -f2-3)" \
  $':item/tags :metal\n:item/tags :small'
expect_eq "datoms --limit" "$("$DL" datoms cat eavt --limit 3 | wc -l)" "3"
"$DL" datoms cat aevt :item/tags --json | while read -r line; do echo "$line" | json_ok "datoms --json"; done

# --- stats, log, gc ---
stats=$("$DL" stats cat)
expect_has "stats" "$stats" ':commits 4'
expect_has "stats" "$stats" ':schema :write'
"$DL" stats cat --json | json_ok "stats --json"
expect_eq "log" "$("$DL" log cat | wc -l)" "4"
expect_eq "log --limit" "$("$DL" log cat --limit 1 | wc -l)" "1"
# The transaction log: one line per transaction, with its datoms.
txs=$("$DL" tx-range cat | wc -l)
last=$("$DL" tx-range cat | tail -1)
expect_has "tx-range" "$last" ':db/txInstant'
last_tx=$(echo "$last" | sed 's/{:tx \([0-9]*\),.*/\1/')
expect_eq "tx-range --from" "$("$DL" tx-range cat --from "$last_tx" | wc -l)" "1"
expect_eq "tx-range --to" "$("$DL" tx-range cat --to "$last_tx" | wc -l)" "$((txs - 1))"
"$DL" tx-range cat --json | tail -1 | json_ok "tx-range --json"
gc=$("$DL" gc cat --keep 2)
expect_has "gc" "$gc" ':kept-commits 2'
expect_has "stats after gc" "$("$DL" stats cat)" ':commits 2'
after=$("$DL" tx-range cat | wc -l)
[[ "$after" -ge 1 && "$after" -lt "$txs" ]] || fail "tx-range after gc: $after of $txs transactions"

expect_eq "as-of after gc" "$("$DL" query "$QP" --db cat --as-of 2)" "10"

# --- export → import round trip ---
"$DL" export cat cat.edn
"$DL" import cat2 cat.edn >/dev/null
"$DL" export inv | "$DL" import inv2 - >/dev/null
for q in '[:find ?sku ?name ?price :where [?e :item/sku ?sku] [?e :item/name ?name] [?e :item/price ?price]]' \
         '[:find ?sku ?tag :where [?e :item/sku ?sku] [?e :item/tags ?tag]]' \
         '[:find ?sku ?psku :where [?e :item/sku ?sku] [?e :item/parts ?p] [?p :item/sku ?psku]]' \
         '[:find ?sku ?a :where [?e :item/sku ?sku] [?e :item/added ?a]]' \
         '[:find ?i ?t ?u :where [?a :db/ident ?i] [?a :db/valueType ?t] [(get-else $ ?a :db/unique :none) ?u]]'; do
  a=$("$DL" query "$q" --db cat)
  b=$("$DL" query "$q" --db cat2)
  expect_eq "round trip: $q" "$b" "$a"
done
expect_eq "round trip inv" "$("$DL" query "$Q2" --db cat2 --db inv2 --arg 50)" '#{["bolt" 120] ["frame \"XL\"" 80]}'
# Every current datom of user entities survives (the tx entity's :db/txInstant aside).
user_datoms() { "$DL" datoms "$1" aevt | grep -v ':db/txInstant' | awk '$1 >= 1000' | wc -l; }
expect_eq "round trip datoms" "$(user_datoms cat2)" "$(user_datoms cat)"

# schema-on-read databases round-trip too
"$DL" create loose --schema read >/dev/null
echo '[{:db/id "a" :color "red" :size 3} {:color "blue" :next "a"}]' | "$DL" transact loose >/dev/null
"$DL" export loose | "$DL" import loose2 --schema read >/dev/null
QL='[:find ?c ?s :where [?e :color ?c] [(get-else $ ?e :size 0) ?s]]'
expect_eq "read round trip" "$("$DL" query "$QL" --db loose2)" "$("$DL" query "$QL" --db loose)"

# --- errors and exit codes ---
expect_exit 1 "$DL" query '[:find ?e :where [?e :item/sku]' --db cat
expect_has "malformed query" "$ERR" "datalith: query: line 1, col"
expect_exit 1 "$DL" query '[:find ?e :wher [?e :item/sku]]' --db cat
expect_has "bad query" "$ERR" "line 1, col"
expect_exit 2 "$DL" query '[:find ?e :where [?e :item/sku]]' --db cat --frobnicate
expect_has "unknown flag" "$ERR" "unknown flag --frobnicate"
expect_exit 2 "$DL" query '[:find ?e :where [?e :item/sku]]' --db cat --as-of yesterday
expect_has "a bad time says what a time may be" "$ERR" "bad value 'yesterday' for --as-of (expected a tx id, a count t (1 = the first transaction) or an ISO-8601 instant"
expect_has "usage" "$ERR" "usage: datalith query"
expect_exit 2 "$DL" frobnicate
expect_exit 2 "$DL"
expect_exit 2 "$DL" pull cat 1000
expect_exit 2 "$DL" query "$QP" --as-of 1 --db cat
expect_exit 2 "$DL" query "$QP" --db cat --as-of yesterday
expect_exit 2 "$DL" datoms cat xyz
expect_exit 2 "$DL" export cat --json
expect_exit 1 "$DL" stats nowhere
expect_eq "missing db" "$ERR" "datalith: no database at nowhere"
expect_exit 1 "$DL" transact cat - <<<'[{:item/price "ten"}]'
expect_has "bad tx" "$ERR" "datalith: <stdin>: line 1, col"
expect_exit 1 "$DL" transact cat - <<<'[{:item/price 1'
expect_has "bad tx edn" "$ERR" "line 1, col"
expect_exit 1 "$DL" query "$QP" --db cat --arg '{:a'
expect_has "bad arg" "$ERR" "input 2 (--arg): line 1, col"
expect_exit 1 "$DL" pull cat '[:item/sku' '[*]'
expect_exit 1 "$DL" import cat3 missing.edn
[[ ! -e cat3 ]] || fail "import of a missing file created a database"
expect_exit 0 "$DL" help
expect_exit 0 "$DL" query --help
expect_has "help" "$(cat out.txt)" "--explain"

# --- transact --client: a rerun with the same id applies nothing and reports the original ---
"$DL" create once >/dev/null
"$DL" transact once - >/dev/null <<<'[{:db/ident :o/sku :db/valueType :db.type/string} {:db/ident :o/n :db/valueType :db.type/long}]'
first=$("$DL" transact once --client run-1 <<<'[{:db/id "c" :o/sku "C" :o/n 1}]')
again=$("$DL" transact once --client run-1 <<<'[{:db/id "c" :o/sku "C" :o/n 2}]')
expect_eq "client id rerun" "$again" "$(sed 's/:datoms [0-9]*}/:datoms 0, :duplicate true}/' <<<"$first")"
expect_eq "client id applied once" "$("$DL" query '[:find ?n . :where [?e :o/sku "C"] [?e :o/n ?n]]' --db once)" "1"
expect_exit 2 "$DL" transact once --client 'no spaces' - <<<'[]'
printf '[]\n[]\n' >two.edn
expect_exit 1 "$DL" transact once two.edn --client run-2
expect_has "client id, two transactions" "$ERR" "one transaction"

echo "cli: all tests passed"
