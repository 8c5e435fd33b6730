#pragma once
// The Cassandra table store of the clusters backend: io::TableStore over the CQL native
// protocol v4 client (docs/formats/cql.md). One connection to the first reachable node (in
// `local_dc` when set), plus, for upserts on a multi-node cluster, one per node that owns
// rows: each row goes to the owner of its partition key's Murmur3 token (token-aware
// routing; reads are not routed). The store knows the contact points
// and the peers the connected node lists (system.peers_v2). An upsert whose node goes away
// (connection broken, Unavailable/Overloaded, timeout) is sent again, whole, through another
// node (upserts are idempotent; at most 6 attempts). Other calls that see a failed connection
// return the error, and the next call connects again.
// Thread-safety: like every TableStore, an instance is used by one thread at a time.

#include <chrono>
#include <memory>
#include <string>

#include "common/status.h"
#include "io/net/net.h"
#include "io/state_store.h"
#include "io/table_store.h"

namespace tideline::io::cql {

struct CqlOptions {
  std::string contact_points = "127.0.0.1:9042";  // "host[:port], ..." (default port 9042)
  // When set, only a node of this data center is used (system.local data_center); the
  // connection fails naming the data centers found otherwise.
  std::string local_dc;
  std::string username;  // empty = no authentication
  std::string password;  // secret: never logged nor put in messages
  net::TlsOptions tls;
  std::chrono::milliseconds connect_timeout{5000}, request_timeout{12000};
  // Consistency of reads and writes: ANY, ONE, TWO, THREE, QUORUM, ALL, LOCAL_QUORUM,
  // EACH_QUORUM, LOCAL_ONE (case-insensitive).
  std::string consistency = "LOCAL_ONE";
};

// Connects and returns the store. Errors: kInvalidArgument for bad options (contact points,
// consistency, credentials refused), kUnavailable when no contact point answers.
Result<std::unique_ptr<io::TableStore>> open_cql_table_store(const CqlOptions& options);

// A job state store (io/state_store.h) in the Cassandra table `table` ("keyspace.table"),
// created if missing (docs/formats/checkpoint.md, "Cassandra"). Large values are chunked.
Result<std::unique_ptr<io::StateStore>> open_cql_state_store(const CqlOptions& options,
                                                             const std::string& table);

}  // namespace tideline::io::cql
