#!/usr/bin/env bash
# A single-node Apache Cassandra for tests, on 127.0.0.1 only.
#   cassandra.sh start    download once (Maven Central), start, return when CQL answers
#   cassandra.sh stop     stop the server this script started (pid file), nothing else
#   cassandra.sh status   "running (...)" and exit 0, or "stopped" and exit 3
#   cassandra.sh wait     wait until a started server answers CQL
#   cassandra.sh env      print the connection settings as shell assignments
#   ... --secure          the secured profile (a second server, other ports): client-to-node
#                         TLS with a CA and certificates generated at start, client
#                         certificates required, PasswordAuthenticator (docs/services.md)
# Environment: TIDELINE_CASSANDRA_PORT (native CQL, 9042), TIDELINE_CASSANDRA_STORAGE_PORT
# (7000), TIDELINE_CASSANDRA_SECURE_PORT (9142), TIDELINE_CASSANDRA_SECURE_STORAGE_PORT (7100),
# TIDELINE_CASSANDRA_SECURE_CLIENT_AUTH (true), TIDELINE_CASSANDRA_VERSION (5.0.9),
# TIDELINE_CASSANDRA_HEAP (1G), and those in lib.sh.
set -euo pipefail
tl_name=cassandra
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
tl_profile "$@"

# --node N (1 or 2): one node of a two-node cluster on 127.0.0.N (docs/services.md,
# "Two-node cluster"); --keep: start without wiping the node's data (a node coming back).
node=""
keep=0
prev=""
for a in "$@"; do
  [ "$prev" = --node ] && node="$a"
  [ "$a" = --keep ] && keep=1
  prev="$a"
done

version="${TIDELINE_CASSANDRA_VERSION:-5.0.9}"
if [ -n "$node" ]; then
  [[ "$node" =~ ^[12]$ ]] || tl_die "--node takes 1 or 2, got '$node'"
  ((tl_secure)) && tl_die "--node and --secure do not combine"
  tl_name="cassandra-node$node"
  tl_host="127.0.0.$node"
  native_port="${TIDELINE_CASSANDRA_CLUSTER_PORT:-9242}"
  storage_port="${TIDELINE_CASSANDRA_CLUSTER_STORAGE_PORT:-7200}"
elif ((tl_secure)); then
  native_port="${TIDELINE_CASSANDRA_SECURE_PORT:-9142}"
  storage_port="${TIDELINE_CASSANDRA_SECURE_STORAGE_PORT:-7100}"
  client_auth="${TIDELINE_CASSANDRA_SECURE_CLIENT_AUTH:-true}"
else
  native_port="${TIDELINE_CASSANDRA_PORT:-9042}"
  storage_port="${TIDELINE_CASSANDRA_STORAGE_PORT:-7000}"
fi
heap="${TIDELINE_CASSANDRA_HEAP:-1G}"
# The secured server's certificate names this host only (not 127.0.0.1).
secure_host=localhost

# The probe's TLS and client-certificate options for the secured server.
tl_secure_opts() {
  local tls="$tl_run_root/$tl_name/tls"
  echo --ca "$tls/ca.pem" --cert "$tls/client.pem" --key "$tls/client.key"
}

tl_ready() {
  local probe="$tl_services_root/scripts/services/probe.py"
  if ((tl_secure)); then
    # shellcheck disable=SC2046
    python3 "$probe" cql "$secure_host" "$native_port" $(tl_secure_opts) 2>/dev/null
  else
    python3 "$probe" cql "$tl_host" "$native_port" 2>/dev/null
  fi
}

tl_describe() {
  if ((tl_secure)); then
    echo "cql+tls $secure_host:$native_port (client certificates: $client_auth)"
  else
    echo "cql $tl_host:$native_port"
  fi
}

tl_env() {
  if ((tl_secure)); then
    local d="$tl_run_root/$tl_name"
    echo "TIDELINE_CASSANDRA_HOST=$secure_host"
    echo "TIDELINE_CASSANDRA_PORT=$native_port"
    echo "TIDELINE_CASSANDRA_CA_FILE=$d/tls/ca.pem"
    echo "TIDELINE_CASSANDRA_CERT_FILE=$d/tls/client.pem"
    echo "TIDELINE_CASSANDRA_KEY_FILE=$d/tls/client.key"
    echo "TIDELINE_CASSANDRA_USERNAME=tideline"
    echo "TIDELINE_CASSANDRA_PASSWORD_FILE=$d/secrets/tideline.password"
    echo "TIDELINE_CASSANDRA_SUPERUSER_PASSWORD_FILE=$d/secrets/cassandra.password"
  else
    echo "TIDELINE_CASSANDRA_HOST=$tl_host"
    echo "TIDELINE_CASSANDRA_PORT=$native_port"
  fi
}

# Secured profile, before the server starts: CA, certificates, PKCS12 key and trust stores
# (store password generated per run), and the cassandra.yaml changes.
tl_secure_prepare() {
  local tls="$tl_run_dir/tls" yaml="$tl_run_dir/conf/cassandra.yaml" storepass
  mkdir -p "$tl_run_dir/secrets"
  chmod 700 "$tl_run_dir/secrets"
  tl_make_pki "$tls" "$secure_host"
  storepass="$(tl_random_secret)"
  (umask 077 && echo "$storepass" >"$tl_run_dir/secrets/store.password")
  openssl pkcs12 -export -in "$tls/server.pem" -inkey "$tls/server.key" -name node \
    -out "$tls/keystore.p12" -passout "file:$tl_run_dir/secrets/store.password" 2>/dev/null ||
    tl_die "openssl could not write the key store"
  "$(dirname "$(readlink -f "$(tl_java)")")/keytool" -importcert -noprompt -alias ca \
    -file "$tls/ca.pem" -keystore "$tls/truststore.p12" -storetype PKCS12 \
    -storepass:file "$tl_run_dir/secrets/store.password" >/dev/null 2>&1 ||
    tl_die "keytool could not write the trust store"
  sed -i 's/^authenticator: .*/authenticator: PasswordAuthenticator/' "$yaml"
  cat >>"$yaml" <<YAML
# Secured profile (cassandra.sh --secure): client-to-node TLS only, certificates of this run.
client_encryption_options:
  enabled: true
  optional: false
  keystore: $tls/keystore.p12
  keystore_password: $storepass
  truststore: $tls/truststore.p12
  truststore_password: $storepass
  store_type: PKCS12
  require_client_auth: $client_auth
YAML
  chmod 600 "$yaml"
}

# Secured profile, once the server answers: role `tideline` (login, not superuser) with a
# password generated for this run; the default superuser's well-known password is replaced
# by another generated one. The default superuser appears shortly after start: retried.
tl_secure_roles() {
  local secrets="$tl_run_dir/secrets" pw su deadline=$((SECONDS + 60))
  pw="$(tl_random_secret)"
  su="$(tl_random_secret)"
  (umask 077 && echo "$pw" >"$secrets/tideline.password.new" && echo "$su" >"$secrets/cassandra.password" &&
    echo cassandra >"$secrets/default.password")
  local probe="$tl_services_root/scripts/services/probe.py" err
  # shellcheck disable=SC2046
  # The statements go through standard input (printf is a builtin): no password on a command
  # line.
  until err="$(printf '%s\n' \
    "CREATE ROLE IF NOT EXISTS tideline WITH PASSWORD = '$pw' AND LOGIN = true AND SUPERUSER = false" \
    "ALTER ROLE cassandra WITH PASSWORD = '$su'" |
    python3 "$probe" cql-exec "$secure_host" "$native_port" $(tl_secure_opts) \
      --user cassandra --password-file "$secrets/default.password" - 2>&1)"; do
    if ((SECONDS > deadline)); then
      tl_log "could not create the roles: $err"
      return 1
    fi
    sleep 1
  done
  mv "$secrets/tideline.password.new" "$secrets/tideline.password"
  rm -f "$secrets/default.password"
}

tl_start() {
  local p
  for p in "$native_port" "$storage_port"; do
    tl_port_busy "$p" && tl_die "port $tl_host:$p is already in use by another process"
  done
  tl_fetch org.apache.cassandra cassandra-all "$version" cassandra-parent

  # Fresh data for every run; the previous run's log is kept next to it until the next start.
  # `restart` (tl_keep_data=1) and `start --keep` keep the data: the same node comes back with
  # its tables.
  if ((keep || tl_keep_data)) && [ -d "$tl_run_dir/data" ]; then
    tl_log "keeping the data of the previous run"
  else
    rm -rf "$tl_run_dir"
  fi
  mkdir -p "$tl_run_dir/data" "$tl_run_dir/logs" "$tl_run_dir/conf" "$tl_run_dir/triggers"
  tl_render "$tl_conf_dir/cassandra.yaml.in" "$tl_run_dir/conf/cassandra.yaml" \
    "STORAGE_PORT=$storage_port" "NATIVE_PORT=$native_port" "DATA_DIR=$tl_run_dir/data"
  if [ -n "$node" ]; then
    # Node N listens on 127.0.0.N; node 1 is the seed. Tokens split the ring in halves.
    local token=-4611686018427387904
    [ "$node" = 2 ] && token=4611686018427387904
    sed -i -e "s/^listen_address: .*/listen_address: $tl_host/" \
      -e "s/^rpc_address: .*/rpc_address: $tl_host/" \
      -e "s/^initial_token: .*/initial_token: $token/" \
      -e "s/^cluster_name: .*/cluster_name: tideline-test-cluster/" "$tl_run_dir/conf/cassandra.yaml"
  fi
  if ((tl_secure)); then tl_secure_prepare; fi

  local opens=()
  mapfile -t opens < <(grep -v '^\s*#' "$tl_conf_dir/java17-opens.txt" | grep -v '^\s*$')
  local t0=$SECONDS
  tl_log "starting Cassandra $version ($tl_name) on $tl_host:$native_port (run dir $tl_run_dir)"
  (cd "$tl_run_dir" && tl_launch "$(tl_java)" \
    "-Dtideline.service=$tl_name" \
    -Xms256M "-Xmx$heap" -Xss512k -XX:MaxDirectMemorySize=512M \
    -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError -XX:ActiveProcessorCount=2 \
    "${opens[@]}" \
    -Dcassandra.config="file://$tl_run_dir/conf/cassandra.yaml" \
    -Dcassandra.storagedir="$tl_run_dir/data" \
    -Dcassandra.logdir="$tl_run_dir/logs" \
    -Dcassandra.triggers_dir="$tl_run_dir/triggers" \
    -Dlogback.configurationFile="$tl_conf_dir/cassandra-logback.xml" \
    -Dcassandra-foreground=yes \
    -Dcassandra.skip_wait_for_gossip_to_settle=0 \
    -Dcassandra.load_ring_state=false \
    -Dcassandra.superuser_setup_delay_ms=0 \
    -Djava.net.preferIPv4Stack=true \
    -cp "$tl_lib/*" org.apache.cassandra.service.CassandraDaemon)
  if ! tl_wait_ready; then
    tl_stop >/dev/null
    tl_die "Cassandra did not become ready"
  fi
  if ((tl_secure)) && ! tl_secure_roles; then
    tl_stop >/dev/null
    tl_die "Cassandra ($tl_name) did not accept the role set-up"
  fi
  echo "$tl_name: ready on $(tl_describe) in $((SECONDS - t0)) s (pid $(tl_pid))"
}

tl_main "$@"
