// A published database read over HTTP(S) (docs/format.md §6), natively: a read-only
// Store whose Get fetches P/blobs/<address> and verifies it against the address, and
// whose GetHead reads P/heads/<name>. One keep-alive connection, reopened when the
// server closed it; requests are serialised (the store is thread-safe, not parallel).
// Needs Boost (Beast): without it (the WASM build, where the npm package reads published
// databases in JS), OpenHttpStore says so. https needs OpenSSL.
#include "datalith/store.h"

#include <nlohmann/json.hpp>

namespace datalith {

namespace {
constexpr const char* kFormat = "datalith-published";
constexpr int kVersion = 1;
}  // namespace

std::string PublishedHeadJson(const Address& commit, uint64_t tx) {
  return nlohmann::json{{"format", kFormat}, {"version", kVersion}, {"commit", commit.Hex()}, {"tx", tx}}.dump() + "\n";
}

Result<Address> ParsePublishedHead(std::string_view text, const std::string& where) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || j.value("format", "") != kFormat)
    return Status::Corruption(where + " is not a datalith-published head");
  if (!j["version"].is_number_integer() || j["version"].get<int>() != kVersion)
    return Status::Unsupported(where + ": published version " + j["version"].dump() + "; this datalith reads version " +
                               std::to_string(kVersion));
  auto commit = j["commit"].is_string() ? Address::FromHex(j["commit"].get<std::string>()) : Status::Corruption("");
  if (!commit.ok()) return Status::Corruption(where + ": no commit address");
  return commit;
}

}  // namespace datalith

#ifndef DATALITH_HTTP

namespace datalith {
Result<std::shared_ptr<Store>> OpenHttpStore(const std::string& url) {
  return Status::Unsupported(url + ": this build reads no published databases over HTTP (it has no Boost.Beast)");
}
}  // namespace datalith

#else

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <mutex>
#include <variant>

#ifdef DATALITH_HTTPS
#include <boost/asio/ssl.hpp>
#include <boost/beast/ssl.hpp>
#endif

namespace datalith {

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

constexpr auto kTimeout = std::chrono::seconds(30);
constexpr size_t kMaxBody = size_t{64} << 20;  // far above any blob or head

struct Url {
  bool tls = false;
  std::string host, port, prefix;  // prefix starts and ends with '/'
};

Result<Url> ParseUrl(const std::string& url) {
  Url u;
  std::string rest;
  if (url.rfind("http://", 0) == 0) {
    rest = url.substr(7);
  } else if (url.rfind("https://", 0) == 0) {
    u.tls = true;
    rest = url.substr(8);
  } else {
    return Status::Invalid("not an http:// or https:// URL: " + url);
  }
  size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  u.prefix = slash == std::string::npos ? "/" : rest.substr(slash);
  if (u.prefix.find_first_of("?#") != std::string::npos) return Status::Invalid(url + ": a published prefix has no query or fragment");
  if (u.prefix.back() != '/') u.prefix += '/';
  size_t colon = authority.rfind(':');
  if (colon != std::string::npos && authority.find(']') == std::string::npos) {
    u.host = authority.substr(0, colon);
    u.port = authority.substr(colon + 1);
  } else {
    u.host = authority;
    u.port = u.tls ? "443" : "80";
  }
  if (u.host.empty()) return Status::Invalid(url + ": no host");
#ifndef DATALITH_HTTPS
  if (u.tls) return Status::Unsupported(url + ": this build has no TLS (OpenSSL was not found)");
#endif
  return u;
}

class HttpStore final : public Store {
 public:
  HttpStore(std::string url, Url u) : url_(std::move(url)), u_(std::move(u)) {}

  Result<std::string> Get(const Address& addr) override {
    const std::string path = "blobs/" + addr.Hex();
    DL_ASSIGN_OR_RETURN(auto body, Fetch(path));
    if (!body) return Status::NotFound(Where(path) + " is missing (HTTP 404)");
    Status ok = VerifyBlob(addr, *body);
    if (!ok.ok()) return Status::Corruption(Where(path) + ": " + ok.message());
    return std::move(*body);
  }

  Result<std::optional<std::string>> GetHead(const std::string& name) override {
    const std::string path = "heads/" + name;
    DL_ASSIGN_OR_RETURN(auto body, Fetch(path));
    if (!body) return std::optional<std::string>();
    DL_ASSIGN_OR_RETURN(Address commit, ParsePublishedHead(*body, Where(path)));
    return std::optional<std::string>(commit.Hex());
  }

  Result<std::vector<std::string>> ListHeads() override {
    DL_ASSIGN_OR_RETURN(auto main, GetHead("main"));
    return main ? std::vector<std::string>{"main"} : std::vector<std::string>{};
  }

  Status Put(const std::vector<std::pair<Address, std::string>>&) override { return ReadOnly(); }
  Status Sync() override { return Status::Ok(); }
  Status CasHead(const std::string&, const std::optional<std::string>&, const std::string&) override { return ReadOnly(); }
  Status DeleteHead(const std::string&) override { return ReadOnly(); }
  Result<std::vector<Address>> List() override { return ReadOnly(); }
  Status Delete(const Address&) override { return ReadOnly(); }

 private:
  Status ReadOnly() const {
    return Status::Unsupported(url_ + " is a published database: read-only (publish a new version with datalith publish)");
  }
  std::string Where(const std::string& path) const { return url_ + path; }

  // The body of a GET of prefix + path; nullopt for 404. A request on a keep-alive
  // connection the server has meanwhile closed is sent again on a new one.
  Result<std::optional<std::string>> Fetch(const std::string& path) {
    std::lock_guard<std::mutex> lock(mu_);
    for (int attempt = 0;; ++attempt) {
      beast::error_code ec;
      bool fresh = !stream_;
      auto res = Request(path, ec);
      if (!ec) {
        if (res.need_eof()) Disconnect();
        if (res.result() == http::status::not_found) return std::optional<std::string>();
        if (res.result() != http::status::ok)
          return Status::IOError(Where(path) + ": HTTP " + std::to_string(res.result_int()));
        return std::optional<std::string>(std::move(res.body()));
      }
      Disconnect();
      if (fresh || attempt > 0) return Status::IOError(Where(path) + ": " + ec.message());
    }
  }

  http::response<http::string_body> Request(const std::string& path, beast::error_code& ec) {
    http::response<http::string_body> res;
    if (!stream_) Connect(ec);
    if (ec) return res;
    http::request<http::empty_body> req{http::verb::get, u_.prefix + path, 11};
    req.set(http::field::host, u_.host);
    req.set(http::field::user_agent, "datalith");
    req.keep_alive(true);
    http::response_parser<http::string_body> parser;
    parser.body_limit(kMaxBody);
    std::visit([&](auto& s) {
      beast::get_lowest_layer(*s).expires_after(kTimeout);
      http::write(*s, req, ec);
      if (!ec) http::read(*s, buffer_, parser, ec);
    }, *stream_);
    if (!ec) res = parser.release();
    return res;
  }

  void Connect(beast::error_code& ec) {
    tcp::resolver resolver(ioc_);
    auto endpoints = resolver.resolve(u_.host, u_.port, ec);
    if (ec) return;
    buffer_.clear();
#ifdef DATALITH_HTTPS
    if (u_.tls) {
      auto s = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(ioc_, *tls_);
      if (!SSL_set_tlsext_host_name(s->native_handle(), u_.host.c_str())) {
        ec = beast::error_code(static_cast<int>(::ERR_get_error()), net::error::get_ssl_category());
        return;
      }
      s->set_verify_callback(net::ssl::host_name_verification(u_.host));
      beast::get_lowest_layer(*s).expires_after(kTimeout);
      beast::get_lowest_layer(*s).connect(endpoints, ec);
      if (!ec) s->handshake(net::ssl::stream_base::client, ec);
      if (!ec) stream_.emplace(std::move(s));
      return;
    }
#endif
    auto s = std::make_unique<beast::tcp_stream>(ioc_);
    s->expires_after(kTimeout);
    s->connect(endpoints, ec);
    if (!ec) stream_.emplace(std::move(s));
  }

  void Disconnect() {
    if (!stream_) return;
    beast::error_code ignored;
    std::visit([&](auto& s) { beast::get_lowest_layer(*s).socket().close(ignored); }, *stream_);
    stream_.reset();
  }

  const std::string url_;
  const Url u_;
  std::mutex mu_;
  net::io_context ioc_;
#ifdef DATALITH_HTTPS
  std::unique_ptr<net::ssl::context> tls_ = [] {
    auto c = std::make_unique<net::ssl::context>(net::ssl::context::tls_client);
    c->set_default_verify_paths();  // honours SSL_CERT_FILE / SSL_CERT_DIR
    c->set_verify_mode(net::ssl::verify_peer);
    return c;
  }();
  using Stream = std::variant<std::unique_ptr<beast::tcp_stream>, std::unique_ptr<beast::ssl_stream<beast::tcp_stream>>>;
#else
  using Stream = std::variant<std::unique_ptr<beast::tcp_stream>>;
#endif
  std::optional<Stream> stream_;
  beast::flat_buffer buffer_;
};

}  // namespace

Result<std::shared_ptr<Store>> OpenHttpStore(const std::string& url) {
  DL_ASSIGN_OR_RETURN(Url u, ParseUrl(url));
  std::string normal = url.back() == '/' ? url : url + "/";
  return std::shared_ptr<Store>(std::make_shared<HttpStore>(std::move(normal), std::move(u)));
}

}  // namespace datalith

#endif  // DATALITH_HTTP
