#!/usr/bin/env bash
# An Apache Pulsar standalone (broker + one bookie, RocksDB metadata) for tests, on 127.0.0.1
# only, without functions worker or stream storage.
#   pulsar.sh start    download once (Maven Central), start, return when admin REST and the
#                      binary protocol answer and namespace public/default exists
#   pulsar.sh stop     stop the server this script started (pid file), nothing else
#   pulsar.sh status   "running (...)" and exit 0, or "stopped" and exit 3
#   pulsar.sh wait     wait until a started server answers
#   pulsar.sh env      print the connection settings as shell assignments
# Environment: TIDELINE_PULSAR_PORT (binary, 6650), TIDELINE_PULSAR_HTTP_PORT (admin REST,
# 8080), TIDELINE_PULSAR_BOOKIE_PORT (3181), TIDELINE_PULSAR_VERSION (4.0.7),
# TIDELINE_PULSAR_HEAP (1G), and those in lib.sh.
set -euo pipefail
tl_name=pulsar
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

version="${TIDELINE_PULSAR_VERSION:-4.0.7}"
broker_port="${TIDELINE_PULSAR_PORT:-6650}"
http_port="${TIDELINE_PULSAR_HTTP_PORT:-8080}"
bookie_port="${TIDELINE_PULSAR_BOOKIE_PORT:-3181}"
heap="${TIDELINE_PULSAR_HEAP:-1G}"

tl_ready() {
  local probe="$tl_services_root/scripts/services/probe.py"
  python3 "$probe" pulsar-admin "http://$tl_host:$http_port" standalone 2>/dev/null &&
    python3 "$probe" pulsar "$tl_host" "$broker_port" 2>/dev/null
}

tl_describe() { echo "binary pulsar://$tl_host:$broker_port, admin http://$tl_host:$http_port"; }

tl_env() {
  echo "TIDELINE_PULSAR_URL=pulsar://$tl_host:$broker_port"
  echo "TIDELINE_PULSAR_ADMIN_URL=http://$tl_host:$http_port"
}

tl_start() {
  local p
  for p in "$broker_port" "$http_port" "$bookie_port"; do
    tl_port_busy "$p" && tl_die "port $tl_host:$p is already in use by another process"
  done
  tl_fetch org.apache.pulsar pulsar-broker "$version" pulsar

  # Fresh data for every run, except for `restart` (tl_keep_data=1): topics, subscriptions,
  # policies and stored messages survive it, as they survive a real broker's restart.
  ((tl_keep_data)) || rm -rf "$tl_run_dir"
  mkdir -p "$tl_run_dir/data" "$tl_run_dir/logs" "$tl_run_dir/conf"
  tl_render "$tl_conf_dir/standalone.conf.in" "$tl_run_dir/conf/standalone.conf" \
    "BROKER_PORT=$broker_port" "HTTP_PORT=$http_port" "BOOKIE_PORT=$bookie_port"

  local wipe=(--wipe-data)
  ((tl_keep_data)) && wipe=()
  local opens=()
  mapfile -t opens < <(grep -v '^\s*#' "$tl_conf_dir/java17-opens.txt" | grep -v '^\s*$')
  local t0=$SECONDS
  tl_log "starting Pulsar $version standalone on $tl_host:$broker_port / $tl_host:$http_port (run dir $tl_run_dir)"
  # The starter resolves its default data paths against the working directory: run it in
  # the run directory and pass every path explicitly anyway.
  (cd "$tl_run_dir" && PULSAR_STANDALONE_USE_ZOOKEEPER=0 tl_launch "$(tl_java)" \
    -Dtideline.service=pulsar \
    -Xms256M "-Xmx$heap" -XX:MaxDirectMemorySize=512M \
    -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError -XX:ActiveProcessorCount=2 \
    "${opens[@]}" \
    -Dio.netty.tryReflectionSetAccessible=true \
    -Dio.netty.leakDetectionLevel=disabled \
    -Dlog4j.configurationFile="$tl_conf_dir/pulsar-log4j2.xml" \
    -Dpulsar.log.dir="$tl_run_dir/logs" \
    -Djava.net.preferIPv4Stack=true \
    -cp "$tl_lib/*" org.apache.pulsar.PulsarStandaloneStarter \
    --config "$tl_run_dir/conf/standalone.conf" \
    --metadata-dir "$tl_run_dir/data/metadata" \
    --bookkeeper-dir "$tl_run_dir/data/bookkeeper" \
    --zookeeper-dir "$tl_run_dir/data/zookeeper" \
    --bookkeeper-port "$bookie_port" \
    --advertised-address "$tl_host" \
    --no-functions-worker --no-stream-storage "${wipe[@]}")
  if ! tl_wait_ready; then
    tl_stop >/dev/null
    tl_die "Pulsar did not become ready"
  fi
  echo "pulsar: ready on pulsar://$tl_host:$broker_port, http://$tl_host:$http_port in $((SECONDS - t0)) s (pid $(tl_pid))"
}

tl_main "$@"
