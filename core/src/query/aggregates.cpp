// The aggregates of :find: count, sum, avg, min/max (optionally the n smallest or
// largest), median, variance, stddev, distinct, sample, rand.
#include <algorithm>
#include <cmath>
#include <optional>
#include <random>
#include <string>

#include "query/builtin_call.h"
#include "query/builtins.h"

namespace datalith::query {

using namespace builtin;

namespace {

// Whether an aggregate takes the count parameter n: (min n ?x), (sample n ?x).
enum class Param { kNone, kOptional, kRequired };
using AggregateFn = Result<edn::Node> (*)(const char* name, std::optional<int64_t> n,
                                          std::vector<Value> values);
struct Aggregate {
  const char* name;
  Param param;
  AggregateFn fn;
};

edn::Node Coll(edn::Kind kind, const std::vector<Value>& values) {
  std::vector<edn::Node> items;
  items.reserve(values.size());
  for (const Value& v : values) items.push_back(edn::FromValue(v));
  return edn::Node::Coll(kind, std::move(items));
}

Result<std::vector<double>> Numbers(const char* name, const std::vector<Value>& values) {
  std::vector<double> out;
  out.reserve(values.size());
  for (const Value& v : values) {
    if (!v.is_number())
      return Fail(name, "got " + Describe(v) + " (" + v.ToString() + "), expected a number");
    out.push_back(v.AsDouble());
  }
  return out;
}

double Mean(const std::vector<double>& xs) {
  double sum = 0;
  for (double x : xs) sum += x;
  return sum / static_cast<double>(xs.size());
}

Result<edn::Node> AggCount(const char*, std::optional<int64_t>, std::vector<Value> values) {
  return edn::Node::Long(static_cast<int64_t>(values.size()));
}

Result<edn::Node> AggCountDistinct(const char*, std::optional<int64_t>, std::vector<Value> values) {
  SortDistinct(&values);
  return edn::Node::Long(static_cast<int64_t>(values.size()));
}

Result<edn::Node> AggSum(const char* name, std::optional<int64_t>, std::vector<Value> values) {
  DL_RETURN_IF_ERROR(Numbers(name, values).status());
  Value sum = Value::Long(0);
  for (const Value& v : values) {
    DL_ASSIGN_OR_RETURN(sum, Arith(name, Op::kAdd, sum, v));
  }
  return edn::FromValue(sum);
}

enum class Stat { kAvg, kMedian, kVariance, kStddev };

template <Stat stat>
Result<edn::Node> AggStat(const char* name, std::optional<int64_t>, std::vector<Value> values) {
  DL_ASSIGN_OR_RETURN(std::vector<double> xs, Numbers(name, values));
  if (xs.empty()) return edn::Node::Nil();
  if (stat == Stat::kAvg) return edn::Node::Double(Mean(xs));
  if (stat == Stat::kMedian) {
    // The middle value itself (a long stays a long); the mean of the two middle ones
    // for an even count, as DataScript does.
    std::sort(values.begin(), values.end(), Before);
    const size_t mid = values.size() / 2;
    if (values.size() % 2 == 1) return edn::FromValue(values[mid]);
    return edn::Node::Double((values[mid - 1].AsDouble() + values[mid].AsDouble()) / 2);
  }
  const double mean = Mean(xs);
  double sum = 0;
  for (double x : xs) sum += (x - mean) * (x - mean);
  const double variance = sum / static_cast<double>(xs.size());  // population variance
  return edn::Node::Double(stat == Stat::kVariance ? variance : std::sqrt(variance));
}

template <bool smallest>
Result<edn::Node> AggExtreme(const char*, std::optional<int64_t> n, std::vector<Value> values) {
  if (!n) {
    if (values.empty()) return edn::Node::Nil();
    return edn::FromValue(smallest ? *std::min_element(values.begin(), values.end(), Before)
                                   : *std::max_element(values.begin(), values.end(), Before));
  }
  // The n smallest (largest) values, duplicates kept (DataScript), in ascending order.
  std::sort(values.begin(), values.end(), Before);
  const size_t keep = std::min(values.size(), static_cast<size_t>(*n));
  std::vector<Value> out(smallest ? values.begin() : values.end() - keep,
                         smallest ? values.begin() + keep : values.end());
  return Coll(edn::Kind::kVector, out);
}

Result<edn::Node> AggDistinct(const char*, std::optional<int64_t>, std::vector<Value> values) {
  SortDistinct(&values);
  return Coll(edn::Kind::kSet, values);
}

Result<edn::Node> AggSample(const char*, std::optional<int64_t> n, std::vector<Value> values) {
  SortDistinct(&values);
  std::shuffle(values.begin(), values.end(), Rng());
  values.resize(std::min(values.size(), static_cast<size_t>(*n)));
  return Coll(edn::Kind::kVector, values);
}

Result<edn::Node> AggRand(const char* name, std::optional<int64_t> n, std::vector<Value> values) {
  if (n && *n > kMaxElements) {
    return Fail(name, "count " + std::to_string(*n) + " is more than the limit of " +
                          std::to_string(kMaxElements));
  }
  if (values.empty()) return n ? edn::Node::Coll(edn::Kind::kVector, {}) : edn::Node::Nil();
  std::uniform_int_distribution<size_t> pick(0, values.size() - 1);
  if (!n) return edn::FromValue(values[pick(Rng())]);
  std::vector<Value> out;
  for (int64_t i = 0; i < *n; ++i) out.push_back(values[pick(Rng())]);
  return Coll(edn::Kind::kVector, out);
}

const Aggregate kAggregates[] = {
    {"count", Param::kNone, AggCount},
    {"count-distinct", Param::kNone, AggCountDistinct},
    {"sum", Param::kNone, AggSum},
    {"avg", Param::kNone, AggStat<Stat::kAvg>},
    {"median", Param::kNone, AggStat<Stat::kMedian>},
    {"variance", Param::kNone, AggStat<Stat::kVariance>},
    {"stddev", Param::kNone, AggStat<Stat::kStddev>},
    {"min", Param::kOptional, AggExtreme<true>},
    {"max", Param::kOptional, AggExtreme<false>},
    {"distinct", Param::kNone, AggDistinct},
    {"sample", Param::kRequired, AggSample},
    {"rand", Param::kOptional, AggRand},
};

const Aggregate* FindAggregate(std::string_view name) {
  for (const Aggregate& a : kAggregates) {
    if (name == a.name) return &a;
  }
  return nullptr;
}

}  // namespace

bool IsAggregate(std::string_view name) { return FindAggregate(name) != nullptr; }

Result<edn::Node> RunAggregate(std::string_view name, const std::vector<Value>& params,
                               std::vector<Value> values) {
  const Aggregate* agg = FindAggregate(name);
  if (agg == nullptr) return Status::Invalid("unknown aggregate `" + std::string(name) + "`");
  if (agg->param == Param::kNone && !params.empty()) {
    return Fail(name, "takes no parameters, got " + std::to_string(params.size()));
  }
  if (params.size() > 1) {
    return Fail(name,
                "takes at most one parameter (a count), got " + std::to_string(params.size()));
  }
  if (params.empty() && agg->param == Param::kRequired) {
    return Fail(name, "needs a count parameter, as in (" + std::string(name) + " 3 ?x)");
  }
  std::optional<int64_t> n;
  if (!params.empty()) {
    const Value& p = params[0];
    if (p.type() != ValueType::kLong || p.long_value() < 0) {
      return Fail(name, "the count parameter must be a non-negative long, got " + Describe(p) +
                            (p.is_nil() ? "" : " (" + p.ToString() + ")"));
    }
    n = p.long_value();
  }
  return agg->fn(agg->name, n, std::move(values));
}

}  // namespace datalith::query
