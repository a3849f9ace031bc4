#!/usr/bin/env bash
# Start/stop a REAL local Apache Kafka broker (single-node KRaft) and a REAL Apicurio Registry
# (Confluent-compatible API) on 127.0.0.1, without Docker. Jars come from Maven Central via
# ./pom.xml (mvn package -> target/kafka-libs, target/apicurio).
#
#   services.sh up      start both (idempotent), print KAFKA_BOOTSTRAP= / SCHEMA_REGISTRY_URL=
#   services.sh down    stop both, wipe the Kafka data dir and services.env
#   services.sh status  print whether each service is up (exit 0 only if both are)
#
# Env: VALOR_LOCAL_DIR (default <repo>/.local), KAFKA_PORT (39092), KAFKA_CONTROLLER_PORT (39093),
#      REGISTRY_PORT (38081), REGISTRY_MANAGEMENT_PORT (38082), KAFKA_HEAP_OPTS, REGISTRY_HEAP_OPTS,
#      KAFKA_JAVA, APICURIO_JAVA, KAFKA_READY_TIMEOUT (90), REGISTRY_READY_TIMEOUT (120),
#      REGISTRY_COMPATIBILITY (BACKWARD).
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)

HOST=127.0.0.1
KAFKA_PORT=${KAFKA_PORT:-39092}
KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-39093}
REGISTRY_PORT=${REGISTRY_PORT:-38081}
# Apicurio's Quarkus management interface (health, metrics) is build-time enabled and would
# otherwise listen on 0.0.0.0:9000; pin it to loopback on its own port.
REGISTRY_MANAGEMENT_PORT=${REGISTRY_MANAGEMENT_PORT:-38082}
KAFKA_HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xms256m -Xmx1g}
REGISTRY_HEAP_OPTS=${REGISTRY_HEAP_OPTS:--Xms128m -Xmx512m}
KAFKA_READY_TIMEOUT=${KAFKA_READY_TIMEOUT:-90}
REGISTRY_READY_TIMEOUT=${REGISTRY_READY_TIMEOUT:-120}
REGISTRY_COMPATIBILITY=${REGISTRY_COMPATIBILITY:-BACKWARD}

TARGET=$SCRIPT_DIR/target
KAFKA_LIBS=$TARGET/kafka-libs
APICURIO_DIR=$TARGET/apicurio
BUILD_STAMP=$TARGET/.services-package.stamp

VALOR_LOCAL_DIR=${VALOR_LOCAL_DIR:-$REPO_ROOT/.local}
mkdir -p "$VALOR_LOCAL_DIR"
VALOR_LOCAL_DIR=$(cd "$VALOR_LOCAL_DIR" && pwd)
KAFKA_CONF_DIR=$VALOR_LOCAL_DIR/kafka        # server.properties + cluster.id (survive `down`)
KAFKA_DATA_DIR=$VALOR_LOCAL_DIR/kafka-data   # log.dirs (wiped by `down`)
LOG_DIR=$VALOR_LOCAL_DIR/logs
RUN_DIR=$VALOR_LOCAL_DIR/run
ENV_FILE=$VALOR_LOCAL_DIR/services.env
KAFKA_PID=$RUN_DIR/kafka.pid
REGISTRY_PID=$RUN_DIR/registry.pid
REGISTRY_CONFIGURED=$RUN_DIR/registry.configured

KAFKA_BOOTSTRAP=$HOST:$KAFKA_PORT
REGISTRY_BASE=http://$HOST:$REGISTRY_PORT
SCHEMA_REGISTRY_URL=$REGISTRY_BASE/apis/ccompat/v7

log() { printf '[services] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------- helpers

# Seconds since epoch with sub-second precision where available (for the timing messages).
now() { date +%s.%N 2>/dev/null | sed 's/\.N$//' || date +%s; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# pid_alive <pidfile> <cmdline-marker>: the pid is running AND is really our JVM (pid reuse guard).
pid_alive() {
  local pid
  [[ -s $1 ]] || return 1
  pid=$(<"$1")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  ps -o args= -p "$pid" 2>/dev/null | grep -qF -- "$2"
}

port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

# Raw Kafka Metadata v4 request (header v1, topics=null => all, allow_auto_topic_creation=false)
# over bash /dev/tcp. Healthy iff the reply carries our correlation id and >= 1 registered broker.
# Kafka 3.x and 4.x both serve Metadata v4, so no JVM is needed for the health check.
kafka_metadata_ok() {
  local out
  local -a to=()
  command -v timeout >/dev/null && to=(timeout 5)
  out=$(${to[@]+"${to[@]}"} bash -c '
    exec 3<>"/dev/tcp/$0/$1" || exit 1
    printf "\x00\x00\x00\x14\x00\x03\x00\x04\x00\x00\x00\x01\x00\x05probe\xff\xff\xff\xff\x00" >&3
    head -c 16 <&3 | od -An -tu1 -v
  ' "$HOST" "$KAFKA_PORT" 2>/dev/null) || return 1
  # shellcheck disable=SC2086
  set -- $out
  (( $# == 16 )) || return 1
  # bytes 5..8 correlation id, 9..12 throttle_time_ms, 13..16 broker count
  local corr=$(( ($5 << 24) | ($6 << 16) | ($7 << 8) | $8 ))
  local brokers=$(( (${13} << 24) | (${14} << 16) | (${15} << 8) | ${16} ))
  (( corr == 1 && brokers >= 1 && brokers < 100000 ))
}

registry_subjects_ok() {
  [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$SCHEMA_REGISTRY_URL/subjects" 2>/dev/null) == 200 ]]
}

kafka_healthy() { pid_alive "$KAFKA_PID" kafka.Kafka && kafka_metadata_ok; }
registry_healthy() { pid_alive "$REGISTRY_PID" quarkus-run.jar && registry_subjects_ok; }

# java_feature <java>: prints the feature release (8, 17, 21, 25, ...) or fails. Reads the JDK's
# `release` file when there is one (no JVM start), else asks the JVM itself.
java_feature() {
  local bin v="" home
  bin=$(readlink -f "$1" 2>/dev/null || printf '%s' "$1")
  home=$(dirname "$(dirname "$bin")")
  if [[ -f $home/release ]]; then
    v=$(sed -n 's/^JAVA_VERSION="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$home/release" | head -n1)
  fi
  if [[ -z $v ]]; then
    v=$("$1" -XshowSettings:properties -version 2>&1 | awk -F'= *' '/java\.specification\.version/ { print $2; exit }')
  fi
  [[ -n $v ]] || return 1
  [[ $v == 1.* ]] && v=${v#1.}
  v=${v%%[.+-]*}
  [[ $v =~ ^[0-9]+$ ]] || return 1
  printf '%s\n' "$v"
}

# Java release needed by Apicurio: derived from the class-file major version of its own classes
# (3.3.x is compiled for Java 21, i.e. major 65), so a future upgrade is detected rather than guessed.
apicurio_required_java() {
  local jar cls bytes major
  jar=$(ls "$APICURIO_DIR"/app/apicurio-registry-app-*.jar 2>/dev/null | head -n1 || true)
  if [[ -n $jar ]] && command -v unzip >/dev/null; then
    cls=$(unzip -Z1 "$jar" 2>/dev/null | grep -m1 '^io/apicurio/registry/.*\.class$' || true)
    if [[ -n $cls ]]; then
      bytes=$(unzip -p "$jar" "$cls" 2>/dev/null | head -c 8 | od -An -tu1 -v || true)
      major=$(awk '{ print $8 }' <<<"$bytes")
      if [[ $major =~ ^[0-9]+$ ]] && (( major > 44 )); then
        echo $(( major - 44 ))
        return
      fi
    fi
  fi
  echo 21
}

# pick_java <min-feature> [preferred...]: first candidate whose release is >= min.
# The default `java` comes first, so a newer JDK is only used when actually required.
pick_java() {
  local min=$1 c f
  shift
  local -a cands=("$@")
  [[ -n ${JAVA_HOME:-} ]] && cands+=("$JAVA_HOME/bin/java")
  command -v java >/dev/null && cands+=("$(command -v java)")
  local d
  for d in /usr/lib/jvm/*/bin/java /Library/Java/JavaVirtualMachines/*/Contents/Home/bin/java; do
    [[ -x $d ]] && cands+=("$d")
  done
  for c in "${cands[@]}"; do
    [[ -n $c && -x $c ]] || continue
    f=$(java_feature "$c" 2>/dev/null) || continue
    if (( f >= min )); then
      printf '%s\n' "$c"
      return 0
    fi
  done
  return 1
}

# Only run Maven when the artifacts are missing or pom.xml changed since the last package
# (our stamp, or the Makefile's target/.resolved, whichever exists).
ensure_built() {
  local ref fresh=0
  if compgen -G "$KAFKA_LIBS/kafka_2.13-*.jar" >/dev/null && [[ -f $APICURIO_DIR/quarkus-run.jar ]]; then
    local -a refs=()
    for ref in "$BUILD_STAMP" "$TARGET/.resolved"; do [[ -e $ref ]] && refs+=("$ref"); done
    (( ${#refs[@]} )) || refs=("$KAFKA_LIBS")
    for ref in "${refs[@]}"; do [[ $SCRIPT_DIR/pom.xml -nt $ref ]] || fresh=1; done
  fi
  (( fresh )) && return 0
  command -v mvn >/dev/null || die "mvn not found (needed once to fetch Kafka/Apicurio from Maven Central)"
  log "resolving Kafka + Apicurio via Maven (docker/local/pom.xml)..."
  # Stale jars from an older version would end up on the classpath, and the dependency plugin
  # skips unpacking while its markers exist, so start from a clean slate.
  rm -rf "$KAFKA_LIBS" "$APICURIO_DIR" "$TARGET/dependency-maven-plugin-markers"
  (cd "$SCRIPT_DIR" && mvn -B -q package >&2) || die "mvn package failed"
  touch "$BUILD_STAMP"
}

rotate_log() { [[ -f $1 ]] && mv -f "$1" "$1.prev"; return 0; }

# launch <pidfile> <stdout-log> <cwd> cmd...: detached (own session) so that the services outlive
# the calling shell/test runner; `down` is the only thing that stops them.
launch() {
  local pidfile=$1 out=$2 cwd=$3
  shift 3
  local -a pre=(nohup)
  command -v setsid >/dev/null && pre=(setsid nohup)
  # 9>&- : do not leak the flock fd into the daemon (it would hold the lock for its lifetime).
  (cd "$cwd" && exec "${pre[@]}" "$@" >"$out" 2>&1 </dev/null 9>&-) &
  echo $! >"$pidfile"
}

# stop_pid <pidfile> <marker> <name>: SIGTERM, wait up to 20 s, then SIGKILL.
stop_pid() {
  local pidfile=$1 marker=$2 name=$3 pid i
  if pid_alive "$pidfile" "$marker"; then
    pid=$(<"$pidfile")
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "$name did not exit within 20 s, sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
  fi
  rm -f "$pidfile"
}

fail_with_log() { # <name> <logfile...>
  local name=$1 f
  shift
  log "$name failed to become ready; log tail:"
  for f in "$@"; do
    [[ -f $f ]] || continue
    printf -- '----- %s -----\n' "$f" >&2
    tail -n 60 "$f" >&2
  done
}

# ---------------------------------------------------------------- Kafka

write_kafka_config() {
  mkdir -p "$KAFKA_CONF_DIR" "$KAFKA_DATA_DIR" "$LOG_DIR/kafka"
  cat >"$KAFKA_CONF_DIR/server.properties" <<EOF
# Generated by docker/local/services.sh -- single-node KRaft broker for local tests.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$KAFKA_PORT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$KAFKA_DATA_DIR

num.partitions=1
default.replication.factor=1
min.insync.replicas=1
auto.create.topics.enable=false
group.initial.rebalance.delay.ms=0

# Single node: internal topics must use RF 1. A single partition each makes the first consumer
# group / first transaction fast (no 50-partition internal topic to create on first use).
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1

# Keep test data for the life of the broker (down wipes it anyway).
log.retention.hours=876000
# transactional.id.expiration.ms intentionally left at its default (7 days).

# Small thread pools: this is a test broker, keep it light.
num.network.threads=2
num.io.threads=4
EOF
}

kafka_cluster_id() {
  local f=$KAFKA_CONF_DIR/cluster.id id
  if [[ -s $f ]]; then
    cat "$f"
    return
  fi
  id=$("$KAFKA_JAVA" -XX:TieredStopAtLevel=1 -cp "$KAFKA_LIBS/*" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n1 | tr -d '[:space:]')
  [[ -n $id ]] || die "kafka.tools.StorageTool random-uuid produced no id"
  printf '%s\n' "$id" >"$f"
  printf '%s\n' "$id"
}

start_kafka() {
  if port_open "$KAFKA_PORT" || port_open "$KAFKA_CONTROLLER_PORT"; then
    die "port $KAFKA_PORT or $KAFKA_CONTROLLER_PORT is already in use by a process not managed by this script"
  fi
  write_kafka_config
  local cid
  cid=$(kafka_cluster_id)
  "$KAFKA_JAVA" -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Dlog4j.configuration="file:$SCRIPT_DIR/log4j.properties" \
    -Dkafka.logs.dir="$LOG_DIR/kafka" -cp "$KAFKA_LIBS/*" \
    kafka.tools.StorageTool format -t "$cid" -c "$KAFKA_CONF_DIR/server.properties" --ignore-formatted \
    >"$LOG_DIR/kafka/format.log" 2>&1 \
    || { cat "$LOG_DIR/kafka/format.log" >&2; die "kafka storage format failed"; }
  rotate_log "$LOG_DIR/kafka/server.log"
  rotate_log "$LOG_DIR/kafka/stdout.log"
  # shellcheck disable=SC2086
  launch "$KAFKA_PID" "$LOG_DIR/kafka/stdout.log" "$VALOR_LOCAL_DIR" \
    "$KAFKA_JAVA" $KAFKA_HEAP_OPTS -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
    -Dlog4j.configuration="file:$SCRIPT_DIR/log4j.properties" -Dkafka.logs.dir="$LOG_DIR/kafka" \
    -cp "$KAFKA_LIBS/*" kafka.Kafka "$KAFKA_CONF_DIR/server.properties"
  log "kafka starting (pid $(<"$KAFKA_PID"), cluster id $cid, $KAFKA_JAVA)"
}

wait_kafka() {
  local start=$1 deadline=$(( $(date +%s) + KAFKA_READY_TIMEOUT ))
  local logs=("$LOG_DIR/kafka/server.log" "$LOG_DIR/kafka/stdout.log")
  while :; do
    if ! pid_alive "$KAFKA_PID" kafka.Kafka; then
      fail_with_log kafka "${logs[@]}"
      rm -f "$KAFKA_PID"
      die "kafka process exited during startup"
    fi
    if port_open "$KAFKA_PORT" \
       && grep -q 'Kafka Server started' "$LOG_DIR/kafka/server.log" 2>/dev/null \
       && kafka_metadata_ok; then
      log "kafka ready at $KAFKA_BOOTSTRAP after $(elapsed "$start") s"
      return 0
    fi
    if (( $(date +%s) >= deadline )); then
      fail_with_log kafka "${logs[@]}"
      stop_pid "$KAFKA_PID" kafka.Kafka kafka
      die "kafka not ready after ${KAFKA_READY_TIMEOUT} s"
    fi
    sleep 0.25
  done
}

# ---------------------------------------------------------------- Apicurio

start_registry() {
  if port_open "$REGISTRY_PORT" || port_open "$REGISTRY_MANAGEMENT_PORT"; then
    die "port $REGISTRY_PORT or $REGISTRY_MANAGEMENT_PORT is already in use by a process not managed by this script"
  fi
  mkdir -p "$LOG_DIR" "$RUN_DIR/registry"
  rotate_log "$LOG_DIR/registry.log"
  # Storage: 3.x defaults to apicurio.storage.kind=sql + H2 in-memory (jdbc:h2:mem:...), so
  # every start is empty -- nothing to configure. The global COMPATIBILITY rule is NONE unless
  # configured: set it as the startup default here and again explicitly (configure_registry).
  # Deletion is off by default in 3.x; enable it so tests can DELETE subjects/versions via ccompat.
  # shellcheck disable=SC2086
  launch "$REGISTRY_PID" "$LOG_DIR/registry.log" "$RUN_DIR/registry" \
    "$APICURIO_JAVA" $REGISTRY_HEAP_OPTS -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true \
    -Dquarkus.http.port="$REGISTRY_PORT" -Dquarkus.http.host="$HOST" \
    -Dquarkus.management.port="$REGISTRY_MANAGEMENT_PORT" -Dquarkus.management.host="$HOST" \
    -Dapicurio.rules.global.compatibility="$REGISTRY_COMPATIBILITY" \
    -Dapicurio.rest.deletion.artifact.enabled=true \
    -Dapicurio.rest.deletion.artifact-version.enabled=true \
    -Dapicurio.rest.deletion.group.enabled=true \
    -jar "$APICURIO_DIR/quarkus-run.jar"
  log "apicurio starting (pid $(<"$REGISTRY_PID"), $APICURIO_JAVA)"
}

wait_registry() {
  local start=$1 deadline=$(( $(date +%s) + REGISTRY_READY_TIMEOUT ))
  while :; do
    if ! pid_alive "$REGISTRY_PID" quarkus-run.jar; then
      fail_with_log apicurio "$LOG_DIR/registry.log"
      rm -f "$REGISTRY_PID"
      die "apicurio process exited during startup"
    fi
    if registry_subjects_ok; then
      log "apicurio ready at $SCHEMA_REGISTRY_URL after $(elapsed "$start") s"
      return 0
    fi
    if (( $(date +%s) >= deadline )); then
      fail_with_log apicurio "$LOG_DIR/registry.log"
      stop_pid "$REGISTRY_PID" quarkus-run.jar apicurio
      die "apicurio not ready after ${REGISTRY_READY_TIMEOUT} s"
    fi
    sleep 0.5
  done
}

# Set the global compatibility explicitly (Apicurio answers GET /config/{subject} with the global
# default, so pinning it avoids depending on whatever the server's implicit default is).
configure_registry() {
  local ct='application/vnd.schemaregistry.v1+json' got
  curl -fsS --max-time 10 -X PUT -H "Content-Type: $ct" -H "Accept: $ct" \
    --data "{\"compatibility\":\"$REGISTRY_COMPATIBILITY\"}" "$SCHEMA_REGISTRY_URL/config" >/dev/null \
    || die "PUT $SCHEMA_REGISTRY_URL/config failed"
  got=$(curl -fsS --max-time 10 -H "Accept: $ct" "$SCHEMA_REGISTRY_URL/config") \
    || die "GET $SCHEMA_REGISTRY_URL/config failed"
  [[ $got == *"\"$REGISTRY_COMPATIBILITY\""* ]] \
    || die "global compatibility not applied: GET /config returned $got"
  log "apicurio global compatibility = $REGISTRY_COMPATIBILITY"
  # Remember which registry process got configured (in-memory storage: a restart loses it).
  printf '%s %s\n' "$(<"$REGISTRY_PID")" "$REGISTRY_COMPATIBILITY" >"$REGISTRY_CONFIGURED"
}

registry_configured() {
  [[ -s $REGISTRY_CONFIGURED && $(<"$REGISTRY_CONFIGURED") == "$(<"$REGISTRY_PID") $REGISTRY_COMPATIBILITY" ]]
}

# ---------------------------------------------------------------- commands

print_addresses() {
  mkdir -p "$(dirname "$ENV_FILE")"
  printf 'KAFKA_BOOTSTRAP=%s\nSCHEMA_REGISTRY_URL=%s\n' "$KAFKA_BOOTSTRAP" "$SCHEMA_REGISTRY_URL" >"$ENV_FILE.tmp"
  mv -f "$ENV_FILE.tmp" "$ENV_FILE"
  printf 'KAFKA_BOOTSTRAP=%s\n' "$KAFKA_BOOTSTRAP"
  printf 'SCHEMA_REGISTRY_URL=%s\n' "$SCHEMA_REGISTRY_URL"
}

take_lock() {
  mkdir -p "$RUN_DIR"
  if command -v flock >/dev/null; then
    exec 9>"$RUN_DIR/services.lock"
    flock -w 300 9 || die "could not acquire $RUN_DIR/services.lock"
  fi
}

cmd_up() {
  local t0 kafka_new=0 registry_new=0
  t0=$(now)
  ensure_built
  take_lock
  mkdir -p "$LOG_DIR" "$RUN_DIR"

  local kafka_ok=0 registry_ok=0
  kafka_healthy && kafka_ok=1
  registry_healthy && registry_ok=1
  if (( kafka_ok && registry_ok )); then
    registry_configured || configure_registry
    print_addresses
    return 0
  fi

  KAFKA_JAVA=${KAFKA_JAVA:-$(pick_java 11)} || die "no Java >= 11 found for Kafka"
  local need
  need=$(apicurio_required_java)
  APICURIO_JAVA=${APICURIO_JAVA:-$(pick_java "$need")} \
    || die "Apicurio needs Java >= $need; none found (set APICURIO_JAVA or JAVA_HOME)"

  # Start the slow one (Apicurio/Quarkus) first, then Kafka, then wait for both: they boot in parallel.
  if (( ! registry_ok )); then
    if pid_alive "$REGISTRY_PID" quarkus-run.jar; then
      log "apicurio process exists but is not answering yet; waiting for it"
    else
      start_registry
    fi
    registry_new=1
  fi
  if (( ! kafka_ok )); then
    if pid_alive "$KAFKA_PID" kafka.Kafka; then
      log "kafka process exists but is not answering yet; waiting for it"
    else
      start_kafka
    fi
    kafka_new=1
  fi
  (( kafka_new )) && wait_kafka "$t0"
  (( registry_new )) && wait_registry "$t0"
  registry_configured || configure_registry
  log "up in $(elapsed "$t0") s"
  print_addresses
}

cmd_down() {
  take_lock
  stop_pid "$KAFKA_PID" kafka.Kafka kafka &
  stop_pid "$REGISTRY_PID" quarkus-run.jar apicurio &
  wait
  rm -rf "$KAFKA_DATA_DIR"
  rm -f "$ENV_FILE" "$REGISTRY_CONFIGURED"
  log "down"
}

cmd_status() {
  local rc=0
  if kafka_healthy; then
    echo "kafka: up (pid $(<"$KAFKA_PID")) $KAFKA_BOOTSTRAP"
  elif pid_alive "$KAFKA_PID" kafka.Kafka; then
    echo "kafka: starting/unhealthy (pid $(<"$KAFKA_PID")) $KAFKA_BOOTSTRAP"; rc=1
  else
    echo "kafka: down"; rc=1
  fi
  if registry_healthy; then
    echo "schema-registry: up (pid $(<"$REGISTRY_PID")) $SCHEMA_REGISTRY_URL"
  elif pid_alive "$REGISTRY_PID" quarkus-run.jar; then
    echo "schema-registry: starting/unhealthy (pid $(<"$REGISTRY_PID")) $SCHEMA_REGISTRY_URL"; rc=1
  else
    echo "schema-registry: down"; rc=1
  fi
  return "$rc"
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
