// Query benchmark: DataScript's query scenarios (q1..q5, qpred1/2, recursive rules over
// trees and chains of :follows, pull-many) on Datalith's native core.
//
// Prints one JSON object per scenario (bench/README.md); `datoms` is the number of
// result rows, so bench/compare.mjs also cross-checks the two engines' answers.
//
//   datalith_bench_query --people people.json [--runs N] [--only NAME] [--explain]
// --explain prints each query's plan (Explain) to stderr before timing it.
#include "bench_util.h"
#include "datalith/query.h"

using namespace bench;

namespace {

// Times `fn` by repeating it until at least 20 ms have passed; ms per call.
template <class F>
Sample Time(F&& fn) {
  size_t rows = 0;
  int reps = 0;
  auto t0 = Clock::now();
  auto t1 = t0;
  do {
    rows = fn();
    ++reps;
    t1 = Clock::now();
  } while (Ms(t0, t1) < 20);
  return Sample{Ms(t0, t1) / reps, rows, {{"reps", reps}}};
}

size_t Rows(const edn::Node& n) { return n.IsColl() ? n.items.size() : 1; }

std::shared_ptr<Connection> Load(const std::string& schema, const std::string& tx) {
  auto conn = Check(Connection::Create(MakeMemoryStore()), "create");
  Check(conn->Transact(schema), "schema");
  Check(conn->Transact(tx), "data");
  Check(conn->Flush(), "flush");
  return conn;
}

const char* kFollowsSchema =
    "[{:db/ident :name :db/valueType :db.type/string}"
    " {:db/ident :follows :db/valueType :db.type/ref :db/cardinality :db.cardinality/many}]";

std::string Node(int64_t id) { return "\"n" + std::to_string(id) + "\""; }

// DataScript's wide-db: a tree of `depth` levels where node id follows its `width`
// children id*width .. id*width+width-1; every node is named "Ivan".
void Wide(int64_t id, int depth, int width, std::string* tx) {
  if (depth == 0) {
    *tx += "{:db/id " + Node(id) + " :name \"Ivan\"}";
    return;
  }
  for (int k = 0; k < width; ++k) {
    int64_t child = id * width + k;
    *tx += "{:db/id " + Node(id) + " :name \"Ivan\" :follows " + Node(child) + "}";
    Wide(child, depth - 1, width, tx);
  }
}

// DataScript's long-db: `width` chains of `depth` follows each (ids shifted by one).
std::string Long(int depth, int width) {
  std::string tx = "[";
  for (int x = 0; x < width; ++x) {
    for (int y = 0; y < depth; ++y) {
      int64_t from = x * (depth + 1) + y + 1, to = from + 1;  // ids from 1, as in the JS side
      tx += "{:db/id " + Node(from) + " :name \"Ivan\" :follows " + Node(to) + "}";
      tx += "{:db/id " + Node(to) + " :name \"Ivan\"}";
    }
  }
  return tx + "]";
}

const char* kRules =
    "[[(follows ?x ?y) [?x :follows ?y]]"
    " [(follows ?x ?y) [?x :follows ?t] (follows ?t ?y)]]";

}  // namespace

int main(int argc, char** argv) {
  std::string people_path;
  int runs = 5;
  bool explain = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--people" && i + 1 < argc) people_path = argv[++i];
    else if (a == "--runs" && i + 1 < argc) runs = std::max(1, std::atoi(argv[++i]));
    else if (a == "--only" && i + 1 < argc) g_only = argv[++i];
    else if (a == "--explain") explain = true;
    else {
      std::cerr << "usage: datalith_bench_query --people FILE [--runs N] [--only NAME] [--explain]\n";
      return 2;
    }
  }
  if (people_path.empty()) {
    std::cerr << "--people is required\n";
    return 2;
  }
  std::vector<Person> people = LoadPeople(people_path);
  std::vector<edn::Node> maps = PersonMaps(people);
  auto conn = Load(kSchema, edn::Write(Vec(std::move(maps))));
  Db db = conn->db();

  auto query = [&](const std::string& name, const std::string& q, std::vector<QueryInput> in) {
    if (explain && name.find(g_only) != std::string::npos)
      std::cerr << name << ":\n" << Check(Explain(q, in), name.c_str()) << "\n";
    Run(name, "memory", runs, [&] {
      return Time([&] { return Rows(Check(Q(q, in), name.c_str())); });
    });
  };
  QueryInput people_db = QueryInput::Database(db);
  query("q1", R"([:find ?e :where [?e :name "Ivan"]])", {people_db});
  query("q2", R"([:find ?e ?a :where [?e :name "Ivan"] [?e :age ?a]])", {people_db});
  query("q2-switch", R"([:find ?e ?a :where [?e :age ?a] [?e :name "Ivan"]])", {people_db});
  query("q3", R"([:find ?e ?a :where [?e :name "Ivan"] [?e :age ?a] [?e :sex "male"]])", {people_db});
  query("q4",
        R"([:find ?e ?l ?a :where [?e :name "Ivan"] [?e :last-name ?l] [?e :age ?a] [?e :sex "male"]])",
        {people_db});
  query("q5", R"([:find ?e1 ?l ?a :where [?e :name "Ivan"] [?e :age ?a] [?e1 :age ?a] [?e1 :last-name ?l]])",
        {people_db});
  query("qpred1", R"([:find ?e ?s :where [?e :salary ?s] [(> ?s 50000)]])", {people_db});
  query("qpred2", R"([:find ?e ?s :in $ ?min_s :where [?e :salary ?s] [(> ?s ?min_s)]])",
        {people_db, QueryInput::Data(edn::Node::Long(50000))});

  QueryInput rules = Check(QueryInput::Edn(kRules), "rules");
  auto rule_case = [&](const std::string& name, const std::string& tx) {
    if (name.find(g_only) == std::string::npos) return;
    auto c = Load(kFollowsSchema, tx);
    query(name, "[:find ?e ?e2 :in $ % :where (follows ?e ?e2)]",
          {QueryInput::Database(c->db()), rules});
  };
  for (auto [depth, width] : {std::pair{3, 3}, std::pair{5, 3}, std::pair{4, 6}}) {
    std::string tx = "[";
    Wide(1, depth, width, &tx);
    rule_case("rules-wide-" + std::to_string(depth) + "x" + std::to_string(width), tx + "]");
  }
  for (auto [depth, width] : {std::pair{10, 3}, std::pair{30, 3}}) {
    rule_case("rules-long-" + std::to_string(depth) + "x" + std::to_string(width), Long(depth, width));
  }

  std::vector<Value> eids;
  for (const Datom& d : Check(db.Datoms(IndexType::kAevt, {Value::Keyword("name")}), "eids"))
    eids.push_back(Value::Ref(d.e));
  Run("pull-many", "memory", runs, [&] {
    return Time([&] {
      return Check(PullMany(db, "[:name :last-name :age :salary]", eids), "pull-many").size();
    });
  });
  return 0;
}
