// The `datalith` command-line tool: shared declarations (docs/cli.md).
//
// A command is a row of the table in main.cpp: its flags, its positional arguments
// and a handler. The handler receives the parsed arguments and returns the exit code:
// 0 success, 1 the operation failed (Fail), 2 a usage error (Usage). Every error
// message goes to stderr as "datalith: <message>".
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "datalith/db.h"
#include "datalith/edn.h"
#include "datalith/status.h"

namespace datalith::cli {

// Checks a flag's value at parse time (a bad value is a usage error).
using Check = bool (*)(const std::string&);

struct Flag {
  const char* name;  // without dashes: "as-of"
  const char* arg;   // the value's placeholder ("T"), or nullptr for a switch
  const char* help;
  Check check = nullptr;
};

struct Args;
using Handler = int (*)(const Args&);

struct Command {
  const char* name;
  const char* params;   // positional arguments for the synopsis: "DIR [FILE|-]"
  const char* summary;  // one line, for `datalith help`
  const char* details;  // the rest of `datalith <cmd> --help`
  std::vector<Flag> flags;
  size_t min_pos;
  size_t max_pos;       // SIZE_MAX: any number
  bool json;            // accepts --json
  Handler run;
};

struct Args {
  const Command* cmd = nullptr;
  std::vector<std::string> pos;
  std::vector<std::pair<std::string, std::string>> opts;  // flags in command-line order
  bool json = false;

  bool Has(const std::string& name) const;
  // The value of the last occurrence of `name`.
  std::optional<std::string> Get(const std::string& name) const;
};

// Exit codes.
constexpr int kOk = 0, kFailed = 1, kUsage = 2;

// Prints "datalith: <message>" and returns kFailed.
int Fail(const Status& s);
// Prints "datalith: <message>", the command's synopsis and a hint; returns kUsage.
int Usage(const Args& a, const std::string& message);
std::string Synopsis(const Command& c);

// Output: one EDN form per line, or its JSON rendering with --json (mapping in
// docs/cli.md).
void Print(const Args& a, const edn::Node& n);

// Small builders for report maps: Map({{"tx", Long(1)}}) → {:tx 1}.
edn::Node Map(std::vector<std::pair<std::string, edn::Node>> entries);
edn::Node Vec(std::vector<edn::Node> items);

// The whole contents of `path` ("-" is stdin).
Result<std::string> ReadInput(const std::string& path);
// "file.edn", or "<stdin>" for "-": the prefix of error messages about the input.
std::string InputName(const std::string& path);
// A non-negative integer, or nullopt; IsCount checks flag values.
std::optional<uint64_t> ParseCount(const std::string& text);
bool IsCount(const std::string& text);

// The store at `where`: a directory (created with `create`), a database published at
// an http:// or https:// prefix (read-only), or postgres://HOST/PGDB#NAME (any libpq URI,
// the database NAME after '#').
Result<std::shared_ptr<Store>> OpenLocation(const std::string& where, bool create);
// Opens the database at `dir` (OpenLocation; NotFound: "no database at DIR").
Result<std::shared_ptr<Connection>> OpenDb(const std::string& dir);
// Time views. IsViewFlag: as-of, since, history. ApplyView applies one of them (the
// value checked by IsTime: a tx id, a count t, or an ISO instant).
bool IsViewFlag(const std::string& flag);
bool IsTime(const std::string& text);
Result<Db> ApplyView(const Db& db, const std::string& flag, const std::string& value);
// Opens `dir` and applies every view flag of `a` in order.
Result<Db> OpenView(const Args& a, const std::string& dir, std::shared_ptr<Connection>* conn);

// Creates a database in `dir` with the create flags of `a` (--schema, --no-history).
Result<std::shared_ptr<Connection>> CreateDb(const Args& a, const std::string& dir);
// The top-level forms of the file at `path` ("-": stdin); an error if there are none.
Result<std::vector<edn::Node>> ReadForms(const std::string& path);
// Each form is one transaction, applied in order; prints one report per transaction
// and flushes. Stops at the first failure (the transactions before it stay).
int TransactForms(const Args& a, Connection& conn, const std::vector<edn::Node>& forms,
                  const std::string& source);

// Handlers.
int CmdCreate(const Args& a);
int CmdTransact(const Args& a);
int CmdQuery(const Args& a);
int CmdPull(const Args& a);
int CmdPullMany(const Args& a);
int CmdDatoms(const Args& a);
int CmdStats(const Args& a);
int CmdLog(const Args& a);
int CmdTxRange(const Args& a);
int CmdGc(const Args& a);
int CmdExport(const Args& a);
int CmdImport(const Args& a);
int CmdPublish(const Args& a);

}  // namespace datalith::cli
