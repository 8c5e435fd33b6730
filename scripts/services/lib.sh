# Shared by cassandra.sh and pulsar.sh; sourced, never run. Provides the cache and run
# directories, the one-time Maven download, pid-file bookkeeping and bounded waits.
#
# Environment (all optional):
#   TIDELINE_CACHE           download cache, default ~/.cache/tideline (outside the repo)
#   TIDELINE_SERVICES_DIR    per-run data and logs, default ${TMPDIR:-/tmp}/tideline-services-$UID
#   TIDELINE_START_TIMEOUT   seconds `start`/`wait` wait for readiness, default 240
#   TIDELINE_STOP_TIMEOUT    seconds `stop` waits after SIGTERM before SIGKILL, default 30
#   TIDELINE_MAVEN_ARGS      extra arguments for mvn, e.g. -Dmaven.repo.local=DIR

tl_services_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
tl_conf_dir="$tl_services_root/conf/services"
tl_cache="${TIDELINE_CACHE:-$HOME/.cache/tideline}"
tl_run_root="${TIDELINE_SERVICES_DIR:-${TMPDIR:-/tmp}/tideline-services-$(id -u)}"
tl_start_timeout="${TIDELINE_START_TIMEOUT:-240}"
tl_stop_timeout="${TIDELINE_STOP_TIMEOUT:-30}"
tl_host=127.0.0.1

# tl_profile "$@": called by cassandra.sh/pulsar.sh before anything else. `--secure` selects
# the secured profile (docs/services.md, "Secured servers"): tl_name becomes <server>-secure,
# so run directory, pid file, lock, leases and the process marker are separate from the plain
# server's and both can run at once. tl_server stays the server's name (download cache).
tl_secure=0
tl_lease=0
tl_profile() {
  tl_server="$tl_name"
  local a
  for a in "$@"; do
    case "$a" in
      --secure) tl_secure=1 ;;
      --lease) tl_lease=1 ;;
    esac
  done
  ((tl_secure)) && tl_name="$tl_server-secure"
  return 0
}

tl_log() { echo "[$tl_name] $*" >&2; }
tl_die() { tl_log "error: $*"; exit 1; }

tl_java() {
  if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then
    echo "$JAVA_HOME/bin/java"
  else
    command -v java || tl_die "java not found (scripts/setup.sh installs openjdk-17)"
  fi
}

# tl_fetch GROUP ARTIFACT VERSION PARENT_ARTIFACT
# Resolves GROUP:ARTIFACT:VERSION with its runtime dependencies from Maven Central into
# $tl_cache/$tl_name-VERSION/lib, once. Sets tl_lib. Concurrent callers serialise on a lock;
# a finished download is marked by lib/.complete so an interrupted one is redone.
tl_fetch() {
  local group="$1" artifact="$2" version="$3" parent="$4"
  local dir="$tl_cache/${tl_server:-$tl_name}-$version"
  tl_lib="$dir/lib"
  [ -f "$tl_lib/.complete" ] && return 0
  command -v mvn >/dev/null || tl_die "mvn not found (scripts/setup.sh installs maven)"
  mkdir -p "$dir"
  exec 8>"$dir/.lock"
  flock 8
  if [ ! -f "$tl_lib/.complete" ]; then
    tl_log "downloading $group:$artifact:$version and its dependencies from Maven Central (once)"
    sed -e "s/@GROUP@/$group/g" -e "s/@ARTIFACT@/$artifact/g" -e "s/@VERSION@/$version/g" \
        -e "s/@PARENT_ARTIFACT@/$parent/g" "$tl_conf_dir/fetch-pom.xml.in" >"$dir/pom.xml"
    rm -rf "$tl_lib"
    local t0=$SECONDS
    local extra=()
    read -r -a extra <<<"${TIDELINE_MAVEN_ARGS:-}"
    if ! (cd "$dir" && mvn -B -q -ntp "${extra[@]}" dependency:copy-dependencies -DincludeScope=runtime \
            -DoutputDirectory="$tl_lib" >"$dir/mvn.log" 2>&1); then
      grep -E "ERROR|FAIL" "$dir/mvn.log" | head -20 >&2
      exec 8>&-
      tl_die "Maven Central did not serve $group:$artifact:$version or a dependency (full log: $dir/mvn.log)"
    fi
    echo "$((SECONDS - t0))" >"$dir/download-seconds"
    tl_log "downloaded $(ls "$tl_lib" | wc -l) jars in $((SECONDS - t0)) s"
    touch "$tl_lib/.complete"
  fi
  exec 8>&-
}

# tl_render TEMPLATE OUTPUT KEY=VALUE...: copies TEMPLATE replacing each @KEY@ with VALUE.
tl_render() {
  local in="$1" out="$2"
  shift 2
  local args=() kv
  for kv in "$@"; do
    args+=(-e "s|@${kv%%=*}@|${kv#*=}|g")
  done
  sed "${args[@]}" "$in" >"$out"
  if grep -q '@[A-Z_]*@' "$out"; then
    tl_die "unfilled placeholder in $out: $(grep -o '@[A-Z_]*@' "$out" | head -1)"
  fi
}

# Pid of the server this script started, if that process is still alive; empty otherwise.
# The command line must carry our marker so a recycled pid is never mistaken for ours.
tl_pid() {
  local pid
  [ -f "$tl_pidfile" ] || return 0
  pid="$(cat "$tl_pidfile" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 0
  if [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "-Dtideline.service=$tl_name "; then
    echo "$pid"
  fi
}

# True when something accepts TCP connections on 127.0.0.1:PORT.
tl_port_busy() {
  (exec 3<>"/dev/tcp/$tl_host/$1") 2>/dev/null
}

tl_tail_log() {
  if [ -f "$tl_logfile" ]; then
    tl_log "last 50 lines of $tl_logfile:"
    tail -n 50 "$tl_logfile" >&2
  fi
}

# tl_wait_ready: polls tl_ready (defined by the caller) until it succeeds, the process dies
# or tl_start_timeout passes. Returns 0 when ready.
tl_wait_ready() {
  local deadline=$((SECONDS + tl_start_timeout)) pid
  while ((SECONDS < deadline)); do
    pid="$(tl_pid)"
    if [ -z "$pid" ]; then
      tl_log "server process is not running"
      tl_tail_log
      return 1
    fi
    if tl_ready; then
      return 0
    fi
    sleep 1
  done
  tl_log "not ready after ${tl_start_timeout} s"
  tl_tail_log
  return 1
}

# tl_launch CMD...: starts CMD detached (own session, so a test runner's process group
# signals do not reach it) with output to the log file; records its pid.
tl_launch() {
  setsid "$@" >>"$tl_logfile" 2>&1 </dev/null 8>&- 9>&- &
  local pid=$! i
  echo "$pid" >"$tl_pidfile"
  # Until the child has exec'd the server its command line is this script's, without the
  # marker, and tl_pid would call it gone: wait (bounded) for the exec.
  for ((i = 0; i < 100; i++)); do
    [ -n "$(tl_pid)" ] && return 0
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
}

tl_stop() {
  local pid
  pid="$(tl_pid)"
  if [ -z "$pid" ]; then
    rm -f "$tl_pidfile"
    echo "$tl_name: stopped"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + tl_stop_timeout))
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
    sleep 0.5
  done
  if kill -0 "$pid" 2>/dev/null; then
    tl_log "did not stop within ${tl_stop_timeout} s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
  fi
  rm -f "$tl_pidfile"
  echo "$tl_name: stopped (was pid $pid)"
}

tl_rss_mib() {
  local pid
  pid="$(tl_pid)"
  [ -n "$pid" ] && echo $(($(ps -o rss= -p "$pid") / 1024))
}

# Leases let several test runs on one machine share a server: `start --lease` records the
# calling process (CTest, for a fixture) and `stop --lease` drops that record and stops the
# server only when no live process holds a lease any more. A lease names a pid and its start
# time, so a lease of a run that died (or a recycled pid) counts as released.
tl_proc_start_time() {
  # Field 22 of /proc/PID/stat, counted after the command name (which may hold spaces).
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }"
  awk '{print $20}' <<<"$stat"
}

tl_lease_take() {
  local holder="$1" t
  t="$(tl_proc_start_time "$holder")" || return 0
  mkdir -p "$tl_lease_dir"
  echo "$t" >"$tl_lease_dir/$holder"
}

tl_lease_drop() {
  rm -f "$tl_lease_dir/$1"
}

# Prints the pids of live lease holders, removing stale leases.
tl_lease_live() {
  local f holder t
  [ -d "$tl_lease_dir" ] || return 0
  for f in "$tl_lease_dir"/*; do
    [ -f "$f" ] || continue
    holder="${f##*/}"
    t="$(tl_proc_start_time "$holder" || true)"
    if [ -n "$t" ] && [ "$t" = "$(cat "$f" 2>/dev/null)" ]; then
      echo "$holder"
    else
      rm -f "$f"
    fi
  done
}

# tl_make_pki DIR HOSTNAME: a fresh CA (ca.pem, ca.key), a server certificate for HOSTNAME
# only (server.pem, server.key; no IP address in it, so a client that checks host names must
# connect by that name) and a client certificate (client.pem, client.key, CN tideline), all
# signed by the CA, valid 2 days. Generated at every secured start, never kept elsewhere.
tl_make_pki() {
  local dir="$1" host="$2"
  mkdir -p "$dir"
  (
    cd "$dir"
    umask 077
    openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 2 -subj "/CN=Tideline test CA $tl_name" \
      -keyout ca.key -out ca.pem 2>/dev/null
    printf 'subjectAltName=DNS:%s\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' \
      "$host" >server.ext
    openssl req -newkey rsa:2048 -nodes -sha256 -subj "/CN=$host" -keyout server.key -out server.csr 2>/dev/null
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -sha256 \
      -extfile server.ext -out server.pem 2>/dev/null
    printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n' >client.ext
    openssl req -newkey rsa:2048 -nodes -sha256 -subj "/CN=tideline" -keyout client.key -out client.csr 2>/dev/null
    openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -sha256 \
      -extfile client.ext -out client.pem 2>/dev/null
    rm -f ./*.csr ./*.ext
    # Everyone may read the certificates; keys stay 0600.
    chmod 644 ca.pem server.pem client.pem
  ) || tl_die "openssl could not create the test CA and certificates in $dir"
}

# A random secret of printable characters (passwords).
tl_random_secret() {
  openssl rand -hex 24
}

# tl_main "$@": dispatches start|stop|status|wait|env to tl_start (defined by the caller)
# and the shared implementations above. start and stop hold a per-server lock, so a start
# never races a stop or another start (the launched server does not inherit it).
tl_main() {
  tl_run_dir="$tl_run_root/$tl_name"
  tl_pidfile="$tl_run_dir/server.pid"
  tl_logfile="$tl_run_dir/logs/server.log"
  tl_lease_dir="$tl_run_root/$tl_name.leases"
  local cmd="${1:-}" lease=$tl_lease
  tl_keep_data=0
  case "$cmd" in
    start | stop | restart)
      mkdir -p "$tl_run_root"
      exec 9>"$tl_run_root/$tl_name.lock"
      flock 9
      ;;
  esac
  case "$cmd" in
    start)
      local pid
      pid="$(tl_pid)"
      if [ -n "$pid" ]; then
        # Idempotent: a second start (another test run, a manual start) reuses the server.
        tl_wait_ready || exit 1
        if ((lease)); then tl_lease_take "$PPID"; fi
        echo "$tl_name: already running (pid $pid)"
        exit 0
      fi
      rm -rf "$tl_lease_dir"
      tl_start
      if ((lease)); then
        tl_lease_take "$PPID"
      else
        # Started by hand: `stop --lease` (a test run's cleanup) must leave it running.
        touch "$tl_run_dir/started-without-lease"
      fi
      ;;
    stop)
      if ((lease)); then
        tl_lease_drop "$PPID"
        local others
        others="$(tl_lease_live | tr '\n' ' ')"
        if [ -n "$others" ] && [ -n "$(tl_pid)" ]; then
          echo "$tl_name: left running for the other lease holders (pids $others)"
          exit 0
        fi
        if [ -f "$tl_run_dir/started-without-lease" ] && [ -n "$(tl_pid)" ]; then
          echo "$tl_name: left running (started without --lease; a plain stop stops it)"
          exit 0
        fi
      fi
      rm -rf "$tl_lease_dir"
      tl_stop
      ;;
    restart)
      # Stops the running server and starts it again on its data (fault-injection tests: a
      # broker or node restart in the middle of a run). Leases are kept.
      [ -n "$(tl_pid)" ] || tl_die "not running"
      # The secured profile's certificates and secrets are made at each start, for that
      # start's data: it is restarted by stop and start.
      ((tl_secure)) && tl_die "restart does not apply to --secure (stop and start it)"
      tl_stop
      tl_keep_data=1
      tl_start
      ;;
    status)
      local pid
      pid="$(tl_pid)"
      if [ -n "$pid" ]; then
        echo "$tl_name: running (pid $pid, rss $(tl_rss_mib) MiB, $(tl_describe), log $tl_logfile)"
      else
        echo "$tl_name: stopped"
        exit 3
      fi
      ;;
    wait)
      [ -n "$(tl_pid)" ] || tl_die "not running"
      tl_wait_ready || exit 1
      echo "$tl_name: ready"
      ;;
    env) tl_env ;;
    *)
      echo "usage: $0 start|stop [--lease] [--secure] | restart | status|wait|env [--secure]" >&2
      exit 2
      ;;
  esac
}
