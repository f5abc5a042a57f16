// `datalith`: operate databases from a shell (docs/cli.md). The command table, the
// argument parser, help and dispatch.
#include <cctype>
#include <cstdio>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "cli.h"

namespace datalith::cli {
namespace {

bool IsSchema(const std::string& v) { return v == "read" || v == "write"; }
bool IsClientId(const std::string& v) { return CheckClientId(v).ok(); }

const Flag kSchemaFlags[] = {
    {"schema", "read|write", "schema-on-write (default: attributes must be declared) or schema-on-read",
     IsSchema},
    {"no-history", nullptr, "drop retracted datoms (no as-of, since or history views)"},
};

const Flag kViews[] = {
    {"as-of", "T", "the database as of T: a tx id, a count t (1 = first transaction) or an ISO instant",
     IsTime},
    {"since", "T", "only datoms added after T", IsTime},
    {"history", nullptr, "every assertion and retraction, with its added flag"},
};

// A command's own flags followed by a shared group.
template <size_t N>
std::vector<Flag> Flags(std::initializer_list<Flag> own, const Flag (&group)[N]) {
  std::vector<Flag> out(own);
  out.insert(out.end(), group, group + N);
  return out;
}

constexpr int kHelpShown = -1;

const std::vector<Command>& Commands() {
  static const std::vector<Command> kCommands = {
      {"create", "DIR", "create a database in a directory",
       "Creates the directory if needed; fails if it already holds a database.",
       Flags({}, kSchemaFlags), 1, 1, true, CmdCreate},
      {"transact", "DIR [FILE|-]", "apply EDN transaction data from a file or stdin",
       "Each top-level form of the input (default: stdin) is one transaction, applied in\n"
       "order; prints one report per transaction: {:tx ID, :tempids {...}, :datoms N}\n"
       "(N counts the tx-data, including the transaction's :db/txInstant). Stops at the\n"
       "first failing transaction; the ones before it stay committed. With --client ID\n"
       "(1-64 characters of [A-Za-z0-9._:-]) the input is one transaction, applied only if\n"
       "no transaction with that client id is committed; else the report is that one's,\n"
       "with :duplicate true, and nothing is applied (run it again safely).",
       {{"client", "ID", "the transaction's client id (idempotency key)", IsClientId}}, 1, 2, true, CmdTransact},
      {"query", "[QUERY]", "run a Datalog query over databases and inputs",
       "QUERY is the query text (or --file). The inputs are given in :in order by the\n"
       "repeatable flags --db, --arg and --rules; --as-of, --since and --history change\n"
       "the --db just before them. Example:\n"
       "  datalith query '[:find ?n :in $cat $inv ?min :where ...]' \\\n"
       "      --db ./cat --as-of 2026-01-01T00:00:00Z --db ./inv --arg 50",
       Flags({{"file", "FILE", "read the query from FILE (- for stdin)"},
              {"db", "DIR", "input: the database in DIR"},
              {"arg", "EDN", "input: an EDN scalar, tuple, collection, relation or rule set"},
              {"rules", "FILE", "input: EDN read from FILE (a rule set for %)"},
              {"explain", nullptr, "print the plan (clause order, indices, row counts) instead"}},
             kViews),
       0, 1, true, CmdQuery},
      {"pull", "DIR ENTITY PATTERN", "pull a pattern for one entity",
       "ENTITY is an id, an :ident or a lookup ref [:attr value]; PATTERN an EDN vector:\n"
       "  datalith pull ./db '[:person/email \"ann@example.com\"]' '[* {:person/friend [:db/id]}]'",
       Flags({}, kViews), 3, 3, true, CmdPull},
      {"pull-many", "DIR ENTITIES PATTERN", "pull a pattern for several entities",
       "ENTITIES is an EDN vector of entity references; prints a vector of results, in order.",
       Flags({}, kViews), 3, 3, true, CmdPullMany},
      {"datoms", "DIR INDEX [COMPONENT...]", "print the datoms of an index",
       "INDEX is eavt, aevt, avet or vaet; each COMPONENT is one EDN value, the leading\n"
       "parts of the index order (entity: id, :ident or lookup ref; attribute: :keyword).\n"
       "Prints one datom per line: [e :attr v tx added].",
       Flags({{"limit", "N", "print at most N datoms", IsCount}}, kViews), 2, SIZE_MAX, true,
       CmdDatoms},
      {"stats", "DIR", "datom counts, store size and commits",
       ":nodes and :bytes count every blob in the store, including unreachable ones until\n"
       "the next gc.",
       {}, 1, 1, true, CmdStats},
      {"log", "DIR", "the commit log, newest first", "Prints one commit per line.",
       {{"limit", "N", "print at most N commits", IsCount}}, 1, 1, true, CmdLog},
      {"tx-range", "DIR", "the transaction log: each transaction with its datoms",
       "Prints one transaction per line, oldest first: {:tx T, :data [[e a v tx added] ...]}.\n"
       "The log reaches back as far as the commits gc kept.",
       {{"from", "TX", "the first tx id to print", IsCount}, {"to", "TX", "stop before this tx id", IsCount}},
       1, 1, true, CmdTxRange},
      {"gc", "DIR", "delete blobs no kept commit reaches",
       "Keeps the head commit and its N-1 ancestors (asOf stays exact: history trees keep\n"
       "old datoms); prints {:marked M, :deleted D}.",
       {{"keep", "N", "commits to keep (default 1)", IsCount}}, 1, 1, true, CmdGc},
      {"export", "DIR [FILE|-]", "write the database as EDN transaction data",
       "Writes one transaction (default: stdout): schema attributes first, then every\n"
       "entity with its current datoms, refs as string tempids. History, transaction\n"
       "entities and entity ids are not kept. Recreate it with `datalith import`.",
       {}, 1, 2, false, CmdExport},
      {"publish", "DIR OUT", "write the database as immutable objects for a static host",
       "Writes OUT/blobs/<address> for each blob of the head commit that OUT lacks, then\n"
       "OUT/heads/main (docs/format.md §6): upload OUT to a bucket or CDN, blobs first, and\n"
       "read it with `--db http://…/` or the npm package's http backend. Publishing again\n"
       "writes only what changed. Prints {:commit C, :written N, :bytes B, ...}.",
       {}, 2, 2, true, CmdPublish},
      {"import", "DIR [FILE|-]", "create a database from exported transaction data",
       "Creates the database (as `create` does) and transacts the input (as `transact`\n"
       "does). Use the schema mode of the exported database (see the export's first line).",
       Flags({}, kSchemaFlags), 1, 2, true, CmdImport},
  };
  return kCommands;
}

const Command* Find(const std::string& name) {
  for (const Command& c : Commands())
    if (name == c.name) return &c;
  return nullptr;
}

std::string FlagText(const Flag& f) {
  return std::string("--") + f.name + (f.arg ? std::string(" ") + f.arg : "");
}

void PrintGeneralHelp(FILE* out) {
  std::fprintf(out,
               "usage: datalith <command> [arguments] [--json]\n\n"
               "Operate Datalith databases (one database per directory).\n\ncommands:\n");
  for (const Command& c : Commands()) std::fprintf(out, "  %-10s %s\n", c.name, c.summary);
  std::fprintf(out,
               "\nOutput is EDN, or JSON with --json. Exit codes: 0 ok, 1 failed, 2 usage.\n"
               "Run 'datalith <command> --help' for a command's flags (docs/cli.md).\n");
}

void PrintHelp(const Command& c) {
  std::string summary = c.summary;
  summary[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(summary[0])));
  std::printf("usage: %s\n\n%s.\n\n%s\n", Synopsis(c).c_str(), summary.c_str(), c.details);
  if (!c.flags.empty() || c.json) std::printf("\nflags:\n");
  for (const Flag& f : c.flags) std::printf("  %-20s %s\n", FlagText(f).c_str(), f.help);
  if (c.json) std::printf("  %-20s %s\n", "--json", "print JSON instead of EDN");
}

// Parses argv (after the command name) into *a. Returns 0, kHelpShown or kUsage.
int Parse(const Command& c, const std::vector<std::string>& argv, Args* a) {
  a->cmd = &c;
  bool flags_done = false;
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& s = argv[i];
    if (flags_done || s == "-" || s.size() < 2 || s[0] != '-') {
      a->pos.push_back(s);
      continue;
    }
    if (s == "--") {
      flags_done = true;
      continue;
    }
    if (s == "--help" || s == "-h") {
      PrintHelp(c);
      return kHelpShown;
    }
    if (s == "--json") {
      if (!c.json) return Usage(*a, std::string(c.name) + " writes EDN only (no --json)");
      a->json = true;
      continue;
    }
    std::string name = s.substr(s.rfind("--", 0) == 0 ? 2 : 1);
    std::optional<std::string> value;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
    }
    const Flag* flag = nullptr;
    for (const Flag& f : c.flags)
      if (name == f.name && s.rfind("--", 0) == 0) flag = &f;
    if (!flag) return Usage(*a, "unknown flag " + s);
    if (!flag->arg && value) return Usage(*a, "--" + name + " takes no value");
    if (flag->arg && !value) {
      if (i + 1 == argv.size()) return Usage(*a, "--" + name + " needs a value " + flag->arg);
      value = argv[++i];
    }
    if (flag->check && !flag->check(*value)) {
      std::string expected = flag->check == IsTime
          ? "a tx id, a count t (1 = the first transaction) or an ISO-8601 instant such as 2026-01-01T00:00:00Z"
          : flag->arg;
      return Usage(*a, "bad value '" + *value + "' for --" + name + " (expected " + expected + ")");
    }
    a->opts.emplace_back(name, value.value_or(""));
  }
  if (a->pos.size() < c.min_pos) return Usage(*a, "missing arguments");
  if (a->pos.size() > c.max_pos) return Usage(*a, "too many arguments");
  return 0;
}

int Main(const std::vector<std::string>& args) {
  if (args.empty()) {
    std::fprintf(stderr, "datalith: missing command\n");
    PrintGeneralHelp(stderr);
    return kUsage;
  }
  const std::string& name = args[0];
  if (name == "help" || name == "--help" || name == "-h") {
    if (args.size() < 2) {
      PrintGeneralHelp(stdout);
      return kOk;
    }
    const Command* c = Find(args[1]);
    if (!c) {
      std::fprintf(stderr, "datalith: unknown command '%s'\n", args[1].c_str());
      return kUsage;
    }
    PrintHelp(*c);
    return kOk;
  }
  const Command* c = Find(name);
  if (!c) {
    std::fprintf(stderr, "datalith: unknown command '%s'\nrun 'datalith help' for the commands\n",
                 name.c_str());
    return kUsage;
  }
  Args a;
  int code = Parse(*c, std::vector<std::string>(args.begin() + 1, args.end()), &a);
  if (code == kHelpShown) return kOk;
  if (code != 0) return code;
  return c->run(a);
}

}  // namespace

std::string Synopsis(const Command& c) {
  std::string s = std::string("datalith ") + c.name + " " + c.params;
  for (const Flag& f : c.flags) s += " [" + FlagText(f) + "]";
  if (c.json) s += " [--json]";
  return s;
}

}  // namespace datalith::cli

int main(int argc, char** argv) {
  try {
    int code = datalith::cli::Main(std::vector<std::string>(argv + 1, argv + argc));
    if (std::fflush(stdout) != 0) {
      std::fprintf(stderr, "datalith: cannot write the output\n");
      return datalith::cli::kFailed;
    }
    return code;
  } catch (const std::exception& e) {  // bad_alloc and the like: report, never abort
    std::fprintf(stderr, "datalith: %s\n", e.what());
    return datalith::cli::kFailed;
  }
}
