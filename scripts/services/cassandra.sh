#!/usr/bin/env bash
# A single-node Apache Cassandra for tests, on 127.0.0.1 only.
#   cassandra.sh start    download once (Maven Central), start, return when CQL answers
#   cassandra.sh stop     stop the server this script started (pid file), nothing else
#   cassandra.sh status   "running (...)" and exit 0, or "stopped" and exit 3
#   cassandra.sh wait     wait until a started server answers CQL
#   cassandra.sh env      print the connection settings as shell assignments
# Environment: TIDELINE_CASSANDRA_PORT (native CQL, 9042), TIDELINE_CASSANDRA_STORAGE_PORT
# (7000), TIDELINE_CASSANDRA_VERSION (5.0.9), TIDELINE_CASSANDRA_HEAP (1G), and those in lib.sh.
set -euo pipefail
tl_name=cassandra
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

version="${TIDELINE_CASSANDRA_VERSION:-5.0.9}"
native_port="${TIDELINE_CASSANDRA_PORT:-9042}"
storage_port="${TIDELINE_CASSANDRA_STORAGE_PORT:-7000}"
heap="${TIDELINE_CASSANDRA_HEAP:-1G}"

tl_ready() {
  python3 "$tl_services_root/scripts/services/probe.py" cql "$tl_host" "$native_port" 2>/dev/null
}

tl_describe() { echo "cql $tl_host:$native_port"; }

tl_env() {
  echo "TIDELINE_CASSANDRA_HOST=$tl_host"
  echo "TIDELINE_CASSANDRA_PORT=$native_port"
}

tl_start() {
  local p
  for p in "$native_port" "$storage_port"; do
    tl_port_busy "$p" && tl_die "port $tl_host:$p is already in use by another process"
  done
  tl_fetch org.apache.cassandra cassandra-all "$version" cassandra-parent

  # Fresh data for every run; the previous run's log is kept next to it until the next start.
  # `restart` keeps the data (tl_keep_data=1): the same node comes back with its tables.
  ((tl_keep_data)) || rm -rf "$tl_run_dir"
  mkdir -p "$tl_run_dir/data" "$tl_run_dir/logs" "$tl_run_dir/conf" "$tl_run_dir/triggers"
  tl_render "$tl_conf_dir/cassandra.yaml.in" "$tl_run_dir/conf/cassandra.yaml" \
    "STORAGE_PORT=$storage_port" "NATIVE_PORT=$native_port" "DATA_DIR=$tl_run_dir/data"

  local opens=()
  mapfile -t opens < <(grep -v '^\s*#' "$tl_conf_dir/java17-opens.txt" | grep -v '^\s*$')
  local t0=$SECONDS
  tl_log "starting Cassandra $version on $tl_host:$native_port (run dir $tl_run_dir)"
  (cd "$tl_run_dir" && tl_launch "$(tl_java)" \
    -Dtideline.service=cassandra \
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
  echo "cassandra: ready on $tl_host:$native_port in $((SECONDS - t0)) s (pid $(tl_pid))"
}

tl_main "$@"
