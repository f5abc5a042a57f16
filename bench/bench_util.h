// Shared by the benchmark drivers: the people data, result reporting and the
// scenario runner (see bench/README.md for the JSON lines they print).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "datalith/db.h"

namespace bench {

using namespace datalith;
using Clock = std::chrono::steady_clock;

struct Person {
  std::string id, name, last, full, sex;
  std::vector<std::string> alias;
  int64_t age = 0, salary = 0;
};

inline std::vector<Person> LoadPeople(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    std::cerr << "cannot read " << path << "\n";
    std::exit(2);
  }
  nlohmann::json j = nlohmann::json::parse(in);
  std::vector<Person> out;
  for (const auto& p : j["people"]) {
    Person x;
    x.id = std::to_string(p["id"].get<int64_t>());
    x.name = p["name"];
    x.last = p["last-name"];
    x.full = p["full-name"];
    x.sex = p["sex"];
    x.age = p["age"];
    x.salary = p["salary"];
    for (const auto& a : p["alias"]) x.alias.push_back(a);
    out.push_back(std::move(x));
  }
  return out;
}

inline edn::Node Kw(const char* k) { return edn::Node::Keyword(k); }

inline edn::Node PersonMap(const Person& p) {
  std::vector<edn::Node> aliases;
  for (const auto& a : p.alias) aliases.push_back(edn::Node::String(a));
  return edn::Node::Coll(edn::Kind::kMap,
                         {Kw("db/id"), edn::Node::String(p.id), Kw("name"), edn::Node::String(p.name),
                          Kw("last-name"), edn::Node::String(p.last), Kw("full-name"),
                          edn::Node::String(p.full), Kw("alias"),
                          edn::Node::Coll(edn::Kind::kVector, std::move(aliases)), Kw("sex"),
                          edn::Node::String(p.sex), Kw("age"), edn::Node::Long(p.age), Kw("salary"),
                          edn::Node::Long(p.salary)});
}

inline edn::Node Vec(std::vector<edn::Node> items) { return edn::Node::Coll(edn::Kind::kVector, std::move(items)); }

// Every person as an entity map, in file order.
inline std::vector<edn::Node> PersonMaps(const std::vector<Person>& people) {
  std::vector<edn::Node> maps;
  maps.reserve(people.size());
  for (const auto& p : people) maps.push_back(PersonMap(p));
  return maps;
}

inline const char* kSchema = R"([
  {:db/ident :name :db/valueType :db.type/string}
  {:db/ident :last-name :db/valueType :db.type/string}
  {:db/ident :full-name :db/valueType :db.type/string}
  {:db/ident :alias :db/valueType :db.type/string :db/cardinality :db.cardinality/many}
  {:db/ident :sex :db/valueType :db.type/string}
  {:db/ident :age :db/valueType :db.type/long}
  {:db/ident :salary :db/valueType :db.type/long}])";
// The same attributes with `:db/index false`: no AVET entries, so the indices
// maintained are those DataScript keeps for this schema (EAVT and AEVT).
inline std::string SchemaNoAvet() {
  std::string s = kSchema;
  const std::string opt = " :db/index false";
  for (size_t at = 0; (at = s.find('}', at)) != std::string::npos; at += opt.size() + 1) s.insert(at, opt);
  return s;
}

template <class T>
T Check(Result<T> r, const char* what) {
  if (!r.ok()) {
    std::cerr << what << ": " << r.status().ToString() << "\n";
    std::exit(1);
  }
  return std::move(r).value();
}

inline void Check(const Status& s, const char* what) {
  if (!s.ok()) {
    std::cerr << what << ": " << s.ToString() << "\n";
    std::exit(1);
  }
}

inline double Ms(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

struct Sample {
  double ms = 0;
  uint64_t datoms = 0;
  nlohmann::json extra = nlohmann::json::object();
};

inline void Report(const std::string& scenario, const std::string& backend, std::vector<Sample> samples) {
  std::vector<double> ms;
  for (const auto& s : samples) ms.push_back(s.ms);
  std::vector<double> sorted = ms;
  std::sort(sorted.begin(), sorted.end());
  nlohmann::json j;
#ifdef __EMSCRIPTEN__
  j["engine"] = "datalith-wasm-core";  // this driver compiled to WebAssembly
#else
  j["engine"] = "datalith";
#endif
  j["scenario"] = scenario;
  j["backend"] = backend;
  j["median_ms"] = sorted[sorted.size() / 2];
  j["samples_ms"] = ms;
  j["datoms"] = samples.back().datoms;
  for (auto& [k, v] : samples.back().extra.items()) j[k] = v;
  std::cout << j.dump() << std::endl;
}

inline std::string g_only;  // run only scenarios whose name contains this

inline void Run(const std::string& scenario, const std::string& backend, int runs,
         const std::function<Sample()>& fn) {
  if ((scenario + "/" + backend).find(g_only) == std::string::npos) return;
  std::cerr << scenario << " / " << backend << " ..." << std::endl;
  fn();  // warm-up
  std::vector<Sample> samples;
  for (int i = 0; i < runs; ++i) samples.push_back(fn());
  Report(scenario, backend, std::move(samples));
}

}  // namespace bench
