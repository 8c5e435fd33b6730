#pragma once
// Pieces shared by the CQL stores (table_store.cc, state_store.cc). Private to io/cql.

#include <memory>
#include <string_view>
#include <vector>

#include "io/cql/client.h"
#include "io/cql/cql.h"

namespace tideline::io::cql {

// A client connected to the first usable contact point (reachable, in the local dc if set).
Result<std::unique_ptr<Client>> connect_client(const CqlOptions& options);

// The native-protocol endpoints of the connected node's peers: system.peers_v2
// (native_address, native_port), or system.peers (rpc_address, `default_port`) on servers
// without it.
Result<std::vector<net::Endpoint>> discover_peers(Client& client, uint16_t default_port);

// Appends the [value] of a text (or blob) bind marker.
void bind_text(QueryParams& p, std::string_view s);

}  // namespace tideline::io::cql
