// The Boost.Beast and Asio headers and the short namespace names the network layer
// uses (net, beast, http, websocket, tcp).
#pragma once

#include <boost/asio.hpp>
#include <boost/beast.hpp>

namespace datalith::server {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;

}  // namespace datalith::server
