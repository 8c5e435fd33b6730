#!/usr/bin/env bash
# An Apache Pulsar standalone (broker + one bookie, RocksDB metadata) for tests, on 127.0.0.1
# only, without functions worker or stream storage.
#   pulsar.sh start    download once (Maven Central), start, return when admin REST and the
#                      binary protocol answer and namespace public/default exists
#   pulsar.sh stop     stop the server this script started (pid file), nothing else
#   pulsar.sh status   "running (...)" and exit 0, or "stopped" and exit 3
#   pulsar.sh wait     wait until a started server answers
#   pulsar.sh env      print the connection settings as shell assignments
#   ... --secure       the secured profile (a second server, other ports): TLS only on the
#                      binary and web ports with a CA and certificate generated at start,
#                      token authentication (secret key and tokens generated at start),
#                      authorization, tenant `tideline` with namespace `tideline/pipeline`
#                      (docs/services.md, "Secured servers")
# Environment: TIDELINE_PULSAR_PORT (binary, 6650), TIDELINE_PULSAR_HTTP_PORT (admin REST,
# 8080), TIDELINE_PULSAR_BOOKIE_PORT (3181), TIDELINE_PULSAR_SECURE_PORT (6751),
# TIDELINE_PULSAR_SECURE_HTTPS_PORT (8543), TIDELINE_PULSAR_SECURE_BOOKIE_PORT (3281),
# TIDELINE_PULSAR_VERSION (4.0.7), TIDELINE_PULSAR_HEAP (1G), and those in lib.sh.
set -euo pipefail
tl_name=pulsar
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
tl_profile "$@"

version="${TIDELINE_PULSAR_VERSION:-4.0.7}"
if ((tl_secure)); then
  broker_port="${TIDELINE_PULSAR_SECURE_PORT:-6751}"
  http_port="${TIDELINE_PULSAR_SECURE_HTTPS_PORT:-8543}"
  bookie_port="${TIDELINE_PULSAR_SECURE_BOOKIE_PORT:-3281}"
else
  broker_port="${TIDELINE_PULSAR_PORT:-6650}"
  http_port="${TIDELINE_PULSAR_HTTP_PORT:-8080}"
  bookie_port="${TIDELINE_PULSAR_BOOKIE_PORT:-3181}"
fi
heap="${TIDELINE_PULSAR_HEAP:-1G}"
# The secured server's certificate names this host only (not 127.0.0.1); the broker
# advertises it, so lookups answer with URLs the certificate matches.
secure_host=localhost

tl_secure_opts() {
  local d="$tl_run_root/$tl_name"
  echo --ca "$d/tls/ca.pem" --token-file "$d/secrets/admin.token"
}

tl_ready() {
  local probe="$tl_services_root/scripts/services/probe.py"
  if ((tl_secure)); then
    # shellcheck disable=SC2046
    python3 "$probe" pulsar-admin "https://$secure_host:$http_port" standalone $(tl_secure_opts) 2>/dev/null &&
      python3 "$probe" pulsar "$secure_host" "$broker_port" $(tl_secure_opts) 2>/dev/null
  else
    python3 "$probe" pulsar-admin "http://$tl_host:$http_port" standalone 2>/dev/null &&
      python3 "$probe" pulsar "$tl_host" "$broker_port" 2>/dev/null
  fi
}

tl_describe() {
  if ((tl_secure)); then
    echo "binary pulsar+ssl://$secure_host:$broker_port, admin https://$secure_host:$http_port"
  else
    echo "binary pulsar://$tl_host:$broker_port, admin http://$tl_host:$http_port"
  fi
}

tl_env() {
  if ((tl_secure)); then
    local d="$tl_run_root/$tl_name"
    echo "TIDELINE_PULSAR_URL=pulsar+ssl://$secure_host:$broker_port"
    echo "TIDELINE_PULSAR_ADMIN_URL=https://$secure_host:$http_port"
    echo "TIDELINE_PULSAR_CA_FILE=$d/tls/ca.pem"
    echo "TIDELINE_PULSAR_SECRET_KEY_FILE=$d/secrets/secret.key"
    echo "TIDELINE_PULSAR_ADMIN_TOKEN_FILE=$d/secrets/admin.token"
    echo "TIDELINE_PULSAR_TOKEN_FILE=$d/secrets/tideline.token"
    echo "TIDELINE_PULSAR_OUTSIDER_TOKEN_FILE=$d/secrets/outsider.token"
    echo "TIDELINE_PULSAR_TENANT=tideline"
    echo "TIDELINE_PULSAR_NAMESPACE=tideline/pipeline"
  else
    echo "TIDELINE_PULSAR_URL=pulsar://$tl_host:$broker_port"
    echo "TIDELINE_PULSAR_ADMIN_URL=http://$tl_host:$http_port"
  fi
}

# Secured profile, before the server starts: CA and certificate, the token secret key and
# the tokens of roles admin (superuser), tideline (the pipeline's) and outsider (valid, no
# permissions), and the standalone.conf changes.
tl_secure_prepare() {
  local tls="$tl_run_dir/tls" sec="$tl_run_dir/secrets" conf="$tl_run_dir/conf/standalone.conf"
  local tok="$tl_services_root/scripts/services/token.py" role
  mkdir -p "$sec"
  chmod 700 "$sec"
  tl_make_pki "$tls" "$secure_host"
  python3 "$tok" secret-key "$sec/secret.key"
  for role in admin tideline outsider; do
    (umask 077 && python3 "$tok" create "$sec/secret.key" "$role" >"$sec/$role.token")
  done
  # No plaintext ports: TLS only (an empty port disables it).
  sed -i -e 's/^brokerServicePort=.*/brokerServicePort=/' -e 's/^webServicePort=.*/webServicePort=/' \
    -e "s/^advertisedAddress=.*/advertisedAddress=$secure_host/" \
    -e 's/^authenticationEnabled=.*/authenticationEnabled=true/' \
    -e 's/^authorizationEnabled=.*/authorizationEnabled=true/' "$conf"
  cat >>"$conf" <<CONF

### Secured profile (pulsar.sh --secure): material of this run only
brokerServicePortTls=$broker_port
webServicePortTls=$http_port
tlsCertificateFilePath=$tls/server.pem
tlsKeyFilePath=$tls/server.key
tlsTrustCertsFilePath=$tls/ca.pem
tlsAllowInsecureConnection=false
tlsRequireTrustedClientCertOnConnect=false
authenticationProviders=org.apache.pulsar.broker.authentication.AuthenticationProviderToken
tokenSecretKey=file://$sec/secret.key
superUserRoles=admin
brokerClientTlsEnabled=true
brokerClientTrustCertsFilePath=$tls/ca.pem
brokerClientAuthenticationPlugin=org.apache.pulsar.client.impl.auth.AuthenticationToken
brokerClientAuthenticationParameters=file://$sec/admin.token
CONF
}

# Secured profile, once the server answers: tenant `tideline` (its admin role is tideline,
# so prep-env may create namespaces and topics in it), namespace `tideline/pipeline`, and
# produce+consume there for role tideline. Role outsider gets nothing.
tl_secure_grants() {
  local probe="$tl_services_root/scripts/services/probe.py" url="https://$secure_host:$http_port"
  # shellcheck disable=SC2046
  python3 "$probe" pulsar-admin-call "$url" PUT /admin/v2/tenants/tideline \
    '{"adminRoles":["tideline"],"allowedClusters":["standalone"]}' $(tl_secure_opts) &&
    python3 "$probe" pulsar-admin-call "$url" PUT /admin/v2/namespaces/tideline/pipeline '{}' $(tl_secure_opts) &&
    python3 "$probe" pulsar-admin-call "$url" POST /admin/v2/namespaces/tideline/pipeline/permissions/tideline \
      '["produce","consume"]' $(tl_secure_opts)
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
  if ((tl_secure)); then tl_secure_prepare; fi

  local wipe=(--wipe-data)
  ((tl_keep_data)) && wipe=()
  local opens=()
  mapfile -t opens < <(grep -v '^\s*#' "$tl_conf_dir/java17-opens.txt" | grep -v '^\s*$')
  local t0=$SECONDS
  tl_log "starting Pulsar $version standalone ($tl_name) on $tl_host:$broker_port / $tl_host:$http_port (run dir $tl_run_dir)"
  # The starter resolves its default data paths against the working directory: run it in
  # the run directory and pass every path explicitly anyway.
  (cd "$tl_run_dir" && PULSAR_STANDALONE_USE_ZOOKEEPER=0 tl_launch "$(tl_java)" \
    "-Dtideline.service=$tl_name" \
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
    --advertised-address "$( ((tl_secure)) && echo "$secure_host" || echo "$tl_host")" \
    --no-functions-worker --no-stream-storage "${wipe[@]}")
  if ! tl_wait_ready; then
    tl_stop >/dev/null
    tl_die "Pulsar did not become ready"
  fi
  if ((tl_secure)) && ! tl_secure_grants; then
    tl_stop >/dev/null
    tl_die "Pulsar ($tl_name) did not accept the tenant, namespace and permission set-up"
  fi
  echo "$tl_name: ready on $(tl_describe) in $((SECONDS - t0)) s (pid $(tl_pid))"
}

tl_main "$@"
