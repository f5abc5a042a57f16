// export: the current database as one EDN transaction that recreates it; import:
// create + transact of such a file.
//
// The transaction is a vector of entity maps, schema attributes first (in id order),
// then every other entity (in id order). Each entity gets the string tempid "e<id>"
// and refs to it are written as that string, so references survive the new ids the
// importing database assigns. Refs to system entities are written as their idents.
// Schema-on-read: attributes the transactor installed on first use (nothing but a
// :db/ident) are left out and installed again by the import's first use; refs to
// them are written as their idents.
// Not exported: system entities, transaction entities (their :db/txInstant; the
// import is one new transaction), composite tuple attributes (the transactor derives
// them), and history.
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <unordered_set>
#include <vector>

#include "cli.h"

namespace datalith::cli {
namespace {

using edn::Kind;
using edn::Node;

struct Exporter {
  Exporter(const Db& d, FILE* f) : db(d), schema(d.schema()), out(f) {}
  const Db& db;
  const Schema& schema;
  FILE* out;
  uint64_t entities = 0;
  uint64_t dropped = 0;  // datoms that cannot be expressed (refs to transactions)
  std::unordered_set<EntityId> implicit;  // attributes installed on first use

  static bool Exported(EntityId e) { return e >= kFirstUserEid && !IsTxId(e); }
  static Node TempId(EntityId e) { return Node::String(std::string("e").append(std::to_string(e))); }

  // The value of a datom as tx data, or nullopt if it cannot be exported.
  std::optional<Node> ValueNode(const Value& v) const {
    if (v.type() != ValueType::kRef) return edn::FromValue(v);
    if (Exported(v.ref()) && !implicit.count(v.ref())) return TempId(v.ref());
    const std::string* ident = schema.Ident(v.ref());
    if (ident) return Node::Keyword(*ident);
    return std::nullopt;
  }

  // Writes the entity map of `datoms` (all of one entity, in EAVT order).
  void Entity(const std::vector<Datom>& datoms) {
    if (datoms.empty() || !Exported(datoms[0].e)) return;
    std::vector<Node> items = {Node::Keyword("db/id"), TempId(datoms[0].e)};
    for (size_t i = 0; i < datoms.size();) {
      EntityId a = datoms[i].a;
      const Attribute* attr = schema.Attr(a);
      std::vector<Node> values;
      for (; i < datoms.size() && datoms[i].a == a; ++i) {
        std::optional<Node> v = ValueNode(datoms[i].v);
        if (v) values.push_back(std::move(*v));
        else ++dropped;
      }
      if (!attr || !attr->tuple_attrs.empty() || values.empty()) continue;
      items.push_back(Node::Keyword(attr->ident));
      items.push_back(attr->many ? Vec(std::move(values)) : std::move(values[0]));
    }
    if (items.size() == 2) return;  // nothing but :db/id left
    std::string line(entities++ == 0 ? "[" : " ");
    line.append(edn::Write(Node::Coll(Kind::kMap, std::move(items)))).push_back('\n');
    std::fwrite(line.data(), 1, line.size(), out);
  }

  Status Run() {
    std::vector<EntityId> attrs;
    for (const auto& [id, attr] : schema.attributes())
      if (Exported(id)) attrs.push_back(id);
    std::sort(attrs.begin(), attrs.end());
    for (EntityId id : attrs) {
      DL_ASSIGN_OR_RETURN(auto datoms, db.Datoms(IndexType::kEavt, {Value::Ref(id)}));
      DL_ASSIGN_OR_RETURN(uint64_t uses, db.Count(IndexType::kAevt, {Value::Ref(id)}));
      bool only_ident = datoms.size() == 1 && datoms[0].a == sys::kIdent;
      if (schema.flexibility() == SchemaFlexibility::kRead && only_ident && uses > 0) implicit.insert(id);
      else Entity(datoms);
    }
    DL_ASSIGN_OR_RETURN(DatomIterator it, db.DatomsIter(IndexType::kEavt, {}));
    std::vector<Datom> one;
    auto flush = [&] {
      if (!one.empty() && !schema.Attr(one[0].e)) Entity(one);
      one.clear();
    };
    for (; it.Valid(); it.Next()) {
      if (!one.empty() && one[0].e != it.datom().e) flush();
      one.push_back(it.datom());
    }
    DL_RETURN_IF_ERROR(it.status());
    flush();
    std::fputs(entities == 0 ? "[]\n" : "]\n", out);
    return Status::Ok();
  }
};

}  // namespace

int CmdExport(const Args& a) {
  auto conn = OpenDb(a.pos[0]);
  if (!conn.ok()) return Fail(conn.status());
  std::string path = a.pos.size() > 1 ? a.pos[1] : "-";
  FILE* out = path == "-" ? stdout : std::fopen(path.c_str(), "w");
  if (!out) return Fail(Status::IOError("cannot write " + path + ": " + std::strerror(errno)));
  Db db = (*conn)->db();
  bool read = db.schema().flexibility() == SchemaFlexibility::kRead;
  std::fprintf(out, ";; datalith export of %s (basis tx %llu); recreate with: datalith import DIR FILE%s\n",
               a.pos[0].c_str(), static_cast<unsigned long long>(db.basis_tx()),
               read ? " --schema read" : "");
  Exporter ex(db, out);
  Status s = ex.Run();
  bool write_failed = std::ferror(out) != 0;
  if (out != stdout) write_failed = std::fclose(out) != 0 || write_failed;
  if (!s.ok()) return Fail(s);
  if (write_failed) return Fail(Status::IOError("cannot write " + InputName(path)));
  if (ex.dropped > 0)
    std::fprintf(stderr, "datalith: warning: %llu datoms refer to transaction entities and were not exported\n",
                 static_cast<unsigned long long>(ex.dropped));
  return kOk;
}

int CmdImport(const Args& a) {
  std::string path = a.pos.size() > 1 ? a.pos[1] : "-";
  auto forms = ReadForms(path);  // a malformed input creates nothing
  if (!forms.ok()) return Fail(forms.status());
  auto conn = CreateDb(a, a.pos[0]);
  if (!conn.ok()) return Fail(conn.status());
  return TransactForms(a, **conn, *forms, InputName(path));
}

}  // namespace datalith::cli
