#!/usr/bin/env bash
# kafka.sh — run a real Apache Kafka 4.x broker (KRaft, combined broker+controller)
# on 127.0.0.1, built from Apache Kafka's published Maven artifacts. No Docker, no
# tarball: Maven resolves the broker's runtime classpath into a cache directory.
#
#   scripts/kafka.sh start [--brokers 1|3]   start (idempotent), print the bootstrap list last on stdout
#   scripts/kafka.sh stop                    stop the broker(s) and delete their data
#   scripts/kafka.sh status                  say whether it runs, and where (exit 1 if not running)
#   scripts/kafka.sh bootstrap               print only the bootstrap list (exit 1 if not running)
#   scripts/kafka.sh kill-node N             SIGKILL node N, keeping its data (fault tests)
#   scripts/kafka.sh start-node N            start node N again on its data, wait until it is unfenced
#
# See scripts/README.md for the environment variables and the 3-broker topology.
set -euo pipefail

readonly PROG=kafka.sh
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly REPO_ROOT

KAFKA_VERSION=${KAFKA_VERSION:-4.4.0}
KAFKA_PORT=${KAFKA_PORT:-19092}
CACHE_ROOT=${SURGE_CACHE_DIR:-$REPO_ROOT/.cache}
STATE_DIR=${SURGE_KAFKA_STATE:-/tmp/surge-kafka}
KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-} # default: KAFKA_PORT + 100 (set in check_env)
KAFKA_HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}
KAFKA_START_TIMEOUT=${KAFKA_START_TIMEOUT:-120}
KAFKA_STOP_TIMEOUT=${KAFKA_STOP_TIMEOUT:-20}
# Version of maven-dependency-plugin used to copy the classpath (pinned: the
# default bound by old Maven releases is years older).
readonly MDEP_VERSION=3.8.1
readonly READY_CLASS=SurgeKafkaReady

CACHE_DIR=$CACHE_ROOT/kafka-$KAFKA_VERSION
LIB_DIR=$CACHE_DIR/libs
TOOLS_DIR=$CACHE_DIR/tools
M2_REPO=$CACHE_ROOT/m2

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
  cat >&2 <<EOF
usage: scripts/kafka.sh start [--brokers 1|3] | stop | status | bootstrap | kill-node N | start-node N

  start      start Apache Kafka $KAFKA_VERSION (KRaft) on 127.0.0.1; idempotent.
             Prints the bootstrap list as the last line of stdout.
  stop       stop the broker(s) (SIGTERM, SIGKILL after ${KAFKA_STOP_TIMEOUT}s), delete their data
  status     print running/not running and the bootstrap list; exit 1 if not running
  bootstrap  print only the bootstrap list; exit 1 if not running
  kill-node N
             SIGKILL node N of the running cluster (a crash: no controlled
             shutdown); its data stays, status says degraded. Idempotent.
  start-node N
             start node N again with its data and config; wait up to
             ${KAFKA_START_TIMEOUT}s until the cluster lists it as an unfenced broker.
             Idempotent.

env: KAFKA_VERSION KAFKA_PORT SURGE_CACHE_DIR SURGE_KAFKA_STATE (see scripts/README.md)
EOF
}

valid_port() { [[ $1 =~ ^[0-9]+$ ]] && (($1 > 0 && $1 < 65536)); }

check_env() {
  [[ $KAFKA_VERSION =~ ^4\.[0-9]+\.[0-9]+$ ]] ||
    die "KAFKA_VERSION=$KAFKA_VERSION: only Apache Kafka 4.x releases (e.g. 4.4.0) are supported"
  valid_port "$KAFKA_PORT" || die "KAFKA_PORT=$KAFKA_PORT is not a port number"
  KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 100))}
  valid_port "$KAFKA_CONTROLLER_PORT" || die "KAFKA_CONTROLLER_PORT=$KAFKA_CONTROLLER_PORT is not a port number"
  [[ $KAFKA_START_TIMEOUT =~ ^[0-9]+$ ]] || die "KAFKA_START_TIMEOUT must be a number of seconds"
  [[ $KAFKA_STOP_TIMEOUT =~ ^[0-9]+$ ]] || die "KAFKA_STOP_TIMEOUT must be a number of seconds"
}

# ---------------------------------------------------------------------------
# State: $STATE_DIR/{brokers,bootstrap,version} and one node-<id>/ per broker
# holding server.properties, log4j2.properties, kafka.pid, kafka.log, data/, tmp/.
# ---------------------------------------------------------------------------

node_dir() { printf '%s/node-%s' "$STATE_DIR" "$1"; }

# node_alive ID: true if node ID's recorded pid is a live Kafka process of ours.
node_alive() {
  local dir pid
  dir=$(node_dir "$1")
  [[ -f $dir/kafka.pid ]] || return 1
  pid=$(<"$dir/kafka.pid")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [[ -r /proc/$pid/cmdline ]] || return 1
  # Guard against pid reuse: the command line must be our broker's.
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$dir/server.properties"
}

# recorded_nodes: ids of the nodes started by the last start that was not stopped.
recorded_nodes() {
  local f d
  for f in "$STATE_DIR"/node-*/kafka.pid; do
    if [[ -f $f ]]; then
      d=${f%/kafka.pid}
      printf '%s\n' "${d##*/node-}"
    fi
  done
  return 0
}

# running_state: prints "all", "none" or "partial" for the recorded nodes.
running_state() {
  local id alive=0 total=0
  for id in $(recorded_nodes); do
    total=$((total + 1))
    if node_alive "$id"; then alive=$((alive + 1)); fi
  done
  if ((total > 0 && alive == total)); then
    echo all
  elif ((alive == 0)); then
    echo none
  else
    echo partial
  fi
}

recorded_bootstrap() {
  if [[ -f $STATE_DIR/bootstrap ]]; then cat "$STATE_DIR/bootstrap"; fi
}

# take_lock: serialise start/stop against concurrent invocations (held until exit).
take_lock() {
  mkdir -p "$STATE_DIR"
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$STATE_DIR/.lock"
    flock -w 600 9 || die "another kafka.sh start/stop holds $STATE_DIR/.lock"
  fi
}

# ---------------------------------------------------------------------------
# Classpath: resolved once per version with Maven into $CACHE_DIR/libs.
# ---------------------------------------------------------------------------

write_pom() { # write_pom FILE GROUP:ARTIFACT:VERSION...
  local file=$1 g a v coord
  shift
  {
    cat <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<!-- generated by scripts/kafka.sh: the runtime classpath of an Apache Kafka broker -->
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.surge</groupId>
  <artifactId>kafka-broker-classpath</artifactId>
  <version>$KAFKA_VERSION</version>
  <packaging>pom</packaging>
  <dependencies>
EOF
    for coord in "$@"; do
      IFS=: read -r g a v <<<"$coord"
      printf '    <dependency><groupId>%s</groupId><artifactId>%s</artifactId><version>%s</version></dependency>\n' "$g" "$a" "$v"
    done
    printf '  </dependencies>\n</project>\n'
  } >"$file"
}

# mvn_copy POM OUTDIR [extra args]: copy the POM's runtime dependencies into OUTDIR,
# echoing one progress line per downloaded jar.
mvn_copy() {
  local pom=$1 out=$2 mvnlog=$CACHE_DIR/maven.log
  shift 2
  local n=0 line name size
  {
    mvn -B -Dstyle.color=never -Dmaven.repo.local="$M2_REPO" -f "$pom" \
      "org.apache.maven.plugins:maven-dependency-plugin:$MDEP_VERSION:copy-dependencies" \
      -DoutputDirectory="$out" -DincludeScope=runtime "$@" 2>&1 || echo "@@MVN-FAILED@@"
  } | tee -a "$mvnlog" | while IFS= read -r line; do
    case $line in
      *"Downloaded from "*.jar" ("*)
        n=$((n + 1))
        name=${line#*Downloaded from *: }
        size=${name#* (}
        name=${name%% (*}
        log "  [$n] downloaded ${name##*/} (${size%% at *})"
        ;;
      *"@@MVN-FAILED@@"*) exit 1 ;; # ends the pipeline's subshell
    esac
  done || {
    log "Maven failed (full log: $mvnlog):"
    sed 's/\x1b\[[0-9;]*m//g' "$mvnlog" | grep -E '^\[ERROR\] .*[^ ]' | grep -v 'Re-run Maven\|To see the full\|For more information\|\[Help 1\] http' |
      head -n 10 >&2 || tail -n 20 "$mvnlog" >&2
    return 1
  }
}

ensure_classpath() {
  [[ -f $CACHE_DIR/.complete ]] && return 0
  command -v mvn >/dev/null 2>&1 || die "mvn (Apache Maven) is required to fetch Kafka's jars"
  command -v javac >/dev/null 2>&1 || die "javac (a JDK 17+) is required"
  mkdir -p "$CACHE_DIR" "$M2_REPO"
  # Another kafka.sh (with another state dir) may be filling the same cache.
  if command -v flock >/dev/null 2>&1; then
    exec 8>"$CACHE_DIR/.lock"
    flock -w 1800 8 || die "timed out waiting for $CACHE_DIR/.lock"
    if [[ -f $CACHE_DIR/.complete ]]; then
      exec 8>&-
      return 0
    fi
  fi
  : >"$CACHE_DIR/maven.log"
  local started=$SECONDS staging=$CACHE_DIR/libs.partial
  rm -rf "$staging" "$LIB_DIR" "$TOOLS_DIR"
  log "resolving Apache Kafka $KAFKA_VERSION from Maven Central into $CACHE_DIR"
  log "(first run only: downloads ~100 jars, can take a few minutes; Maven log: $CACHE_DIR/maven.log)"

  # 1. the broker: kafka_2.13 pulls kafka-server, -metadata, -raft, -storage,
  #    -group-coordinator, ... and log4j-api/log4j-core (Kafka 4 logs via log4j2).
  write_pom "$CACHE_DIR/pom.xml" "org.apache.kafka:kafka_2.13:$KAFKA_VERSION"
  mvn_copy "$CACHE_DIR/pom.xml" "$staging" || die "could not resolve org.apache.kafka:kafka_2.13:$KAFKA_VERSION"

  # 2. the slf4j -> log4j2 binding matching the resolved slf4j-api and log4j-api
  #    (the distribution tarball ships it; the kafka_2.13 POM does not declare it).
  local log4j_ver slf4j_ver binding extra=()
  log4j_ver=$(find "$staging" -maxdepth 1 -name 'log4j-api-*.jar' -printf '%f\n' | sed -E 's/^log4j-api-(.*)\.jar$/\1/' | head -n 1)
  slf4j_ver=$(find "$staging" -maxdepth 1 -name 'slf4j-api-*.jar' -printf '%f\n' | sed -E 's/^slf4j-api-(.*)\.jar$/\1/' | head -n 1)
  [[ -n $log4j_ver ]] || log4j_ver=2.24.3
  case $slf4j_ver in
    1.*) binding=log4j-slf4j-impl ;;
    *) binding=log4j-slf4j2-impl ;;
  esac
  extra+=("org.apache.logging.log4j:$binding:$log4j_ver")
  [[ -n $(find "$staging" -maxdepth 1 -name 'log4j-api-*.jar') ]] || extra+=("org.apache.logging.log4j:log4j-api:$log4j_ver")
  [[ -n $(find "$staging" -maxdepth 1 -name 'log4j-core-*.jar') ]] || extra+=("org.apache.logging.log4j:log4j-core:$log4j_ver")
  log "adding logging backend: ${extra[*]}"
  write_pom "$CACHE_DIR/pom-logging.xml" "${extra[@]}"
  mvn_copy "$CACHE_DIR/pom-logging.xml" "$staging" -DexcludeTransitive=true ||
    die "could not resolve the log4j2 binding (${extra[*]})"

  local jar
  for jar in kafka_2.13 kafka-server kafka-metadata kafka-raft kafka-storage kafka-clients log4j-core; do
    [[ -n $(find "$staging" -maxdepth 1 -name "$jar-*.jar") ]] || die "resolved classpath lacks $jar (see $CACHE_DIR/maven.log)"
  done

  # 3. a tiny readiness probe (Admin.describeCluster), compiled once.
  mkdir -p "$TOOLS_DIR"
  write_ready_probe "$TOOLS_DIR/$READY_CLASS.java"
  javac -nowarn -d "$TOOLS_DIR" -cp "$staging/*" "$TOOLS_DIR/$READY_CLASS.java" >&2 ||
    die "could not compile the readiness probe"

  mv "$staging" "$LIB_DIR"
  touch "$CACHE_DIR/.complete"
  if { true >&8; } 2>/dev/null; then exec 8>&-; fi # release the cache lock
  log "classpath ready: $(find "$LIB_DIR" -name '*.jar' | wc -l) jars in $LIB_DIR ($((SECONDS - started))s)"
}

write_ready_probe() {
  cat >"$1" <<'EOF'
import java.util.Collection;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.common.Node;

/** Waits until the cluster reports the expected number of live (unfenced) brokers.
 *  args: bootstrap expectedBrokers timeoutSeconds pid[,pid...] [nodeId]
 *  With nodeId, that node must also be among them (start-node passes only
 *  that node's address as bootstrap, so the node itself must answer, which a
 *  broker does only once the controller has unfenced it).
 *  exit 0 ready, 2 timeout, 3 a broker process died. */
public class SurgeKafkaReady {
  public static void main(String[] args) throws Exception {
    String bootstrap = args[0];
    int want = Integer.parseInt(args[1]);
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(Long.parseLong(args[2]));
    String[] pids = args[3].split(",");
    int node = args.length > 4 ? Integer.parseInt(args[4]) : -1;
    Properties p = new Properties();
    p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "3000");
    p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "5000");
    p.put(AdminClientConfig.RECONNECT_BACKOFF_MAX_MS_CONFIG, "500");
    p.put(AdminClientConfig.CLIENT_ID_CONFIG, "surge-kafka-ready");
    String last = "no answer yet";
    Admin admin = Admin.create(p);
    try {
      while (true) {
        for (String pid : pids) {
          boolean alive = ProcessHandle.of(Long.parseLong(pid)).map(ProcessHandle::isAlive).orElse(false);
          if (!alive) {
            System.err.println("broker process " + pid + " exited");
            System.exit(3);
          }
        }
        try {
          Collection<Node> nodes = admin.describeCluster().nodes().get(5, TimeUnit.SECONDS);
          boolean hasNode = node < 0 || nodes.stream().anyMatch(n -> n.id() == node);
          if (nodes.size() >= want && hasNode) {
            System.exit(0);
          }
          last = nodes.size() + " of " + want + " brokers registered"
              + (hasNode ? "" : ", node " + node + " not among them");
        } catch (Exception e) {
          last = String.valueOf(e.getCause() != null ? e.getCause() : e);
        }
        if (System.nanoTime() > deadline) {
          System.err.println("timed out: " + last);
          System.exit(2);
        }
        Thread.sleep(300);
      }
    } finally {
      admin.close(java.time.Duration.ofSeconds(1));
    }
  }
}
EOF
}

# ensure_probe: recompile the readiness probe when the script's source of it
# differs from the cached one (a cache filled by an older kafka.sh has a probe
# without the node argument start-node needs). The class is swapped in by rename.
ensure_probe() {
  local tmp
  mkdir -p "$TOOLS_DIR"
  if command -v flock >/dev/null 2>&1; then
    exec 7>"$CACHE_DIR/.probe.lock"
    flock -w 300 7 || die "timed out waiting for $CACHE_DIR/.probe.lock"
  fi
  tmp=$(mktemp -d "$CACHE_DIR/probe.XXXXXX")
  write_ready_probe "$tmp/$READY_CLASS.java"
  if [[ -f $TOOLS_DIR/$READY_CLASS.class ]] && cmp -s "$tmp/$READY_CLASS.java" "$TOOLS_DIR/$READY_CLASS.java"; then
    rm -rf "$tmp"
  else
    log "compiling the readiness probe into $TOOLS_DIR"
    if ! javac -nowarn -d "$tmp" -cp "$LIB_DIR/*" "$tmp/$READY_CLASS.java" >&2; then
      rm -rf "$tmp"
      die "could not compile the readiness probe"
    fi
    mv -f "$tmp/$READY_CLASS.class" "$TOOLS_DIR/$READY_CLASS.class"
    mv -f "$tmp/$READY_CLASS.java" "$TOOLS_DIR/$READY_CLASS.java"
    rm -rf "$tmp"
  fi
  if { true >&7; } 2>/dev/null; then exec 7>&-; fi
  return 0
}

# run_probe BOOTSTRAP WANT PIDS [NODE]: the readiness probe (see write_ready_probe).
run_probe() {
  java -XX:TieredStopAtLevel=1 -XX:-UsePerfData -Xmx128m "-Djava.io.tmpdir=$STATE_DIR" \
    -Dlog4j2.level=OFF -Dlog4j2.statusLoggerLevel=OFF \
    -cp "$TOOLS_DIR:$LIB_DIR/*" "$READY_CLASS" "$1" "$2" "$KAFKA_START_TIMEOUT" "$3" ${4:+"$4"} 9>&-
}

# ---------------------------------------------------------------------------
# start / stop
# ---------------------------------------------------------------------------

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

random_cluster_id() {
  # A Kafka Uuid: 16 random bytes, URL-safe base64 without padding (22 chars);
  # like Kafka's Uuid.randomUuid(), never one starting with '-' (it reads as an option).
  local id=-
  while [[ $id == -* ]]; do
    id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
  done
  printf '%s' "$id"
}

write_node_config() { # write_node_config ID BROKERS VOTERS
  local id=$1 brokers=$2 voters=$3 dir port cport rf isr
  dir=$(node_dir "$id")
  port=$((KAFKA_PORT + id - 1))
  cport=$((KAFKA_CONTROLLER_PORT + id - 1))
  if ((brokers >= 3)); then rf=3 isr=2; else rf=1 isr=1; fi
  mkdir -p "$dir/data" "$dir/tmp"
  cat >"$dir/server.properties" <<EOF
# generated by scripts/kafka.sh — node $id of $brokers (KRaft combined broker+controller)
process.roles=broker,controller
node.id=$id
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
log.dirs=$dir/data

num.partitions=3
default.replication.factor=$rf
min.insync.replicas=$isr
auto.create.topics.enable=false
group.initial.rebalance.delay.ms=0

offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$isr
transaction.state.log.num.partitions=10
share.coordinator.state.topic.replication.factor=$rf
share.coordinator.state.topic.min.isr=$isr

# Transactions v2 (Kafka 4): the first produce of a transaction waits until
# the previous transaction's markers are written, retrying every this many
# ms (default 20, which then floors every transaction of a busy stage).
add.partitions.to.txn.retry.backoff.ms=2

# a small test broker on a 2-core machine
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
log.retention.hours=24
EOF
  cat >"$dir/log4j2.properties" <<'EOF'
# generated by scripts/kafka.sh: everything to stdout, which start redirects to kafka.log
status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.target = SYSTEM_OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.out.ref = OUT
logger.request.name = kafka.request.logger
logger.request.level = warn
logger.statechange.name = state.change.logger
logger.statechange.level = warn
logger.netclient.name = org.apache.kafka.clients.NetworkClient
logger.netclient.level = warn
EOF
}

# set_java_opts NODE_DIR: fills NODE_JVM_OPTS for a JVM whose files all stay in NODE_DIR.
set_java_opts() {
  local dir=$1 heap
  read -r -a heap <<<"$KAFKA_HEAP_OPTS"
  NODE_JVM_OPTS=("${heap[@]}"
    -XX:+ExitOnOutOfMemoryError
    -XX:-UsePerfData "-XX:ErrorFile=$dir/hs_err_%p.log"
    -Djava.awt.headless=true "-Djava.io.tmpdir=$dir/tmp"
    "-Dlog4j2.configurationFile=$dir/log4j2.properties" "-Dkafka.logs.dir=$dir")
}

# launch_node ID: start node ID's JVM detached from this shell's session (so it
# outlives it and its terminal), its output appended to kafka.log; the wrapper
# records the JVM's own pid in kafka.pid (by rename) before exec'ing it.
launch_node() {
  local dir launcher=(nohup)
  dir=$(node_dir "$1")
  if command -v setsid >/dev/null 2>&1; then launcher=(setsid); fi
  set_java_opts "$dir"
  # shellcheck disable=SC2016  # expanded by the inner bash
  "${launcher[@]}" bash -c 'echo $$ >"$0.tmp" && mv "$0.tmp" "$0" && exec "$@"' "$dir/kafka.pid" \
    java "${NODE_JVM_OPTS[@]}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -cp "$LIB_DIR/*" kafka.Kafka "$dir/server.properties" \
    </dev/null >>"$dir/kafka.log" 2>&1 7>&- 8>&- 9>&- & # the broker must not inherit the locks
}

show_node_logs() {
  local id dir
  for id in $(recorded_nodes); do
    dir=$(node_dir "$id")
    [[ -f $dir/kafka.log ]] || continue
    log "---- last lines of $dir/kafka.log ----"
    tail -n 40 "$dir/kafka.log" >&2 || true
  done
}

kill_nodes() { # kill_nodes: SIGTERM all recorded nodes, SIGKILL stragglers after the bound
  local id pid pids=() waited=0
  for id in $(recorded_nodes); do
    if node_alive "$id"; then
      pid=$(<"$(node_dir "$id")/kafka.pid")
      pids+=("$pid")
      kill -TERM "$pid" 2>/dev/null || true
    fi
  done
  ((${#pids[@]} > 0)) || return 0
  log "stopping ${#pids[@]} broker process(es): ${pids[*]}"
  local left
  while ((waited < KAFKA_STOP_TIMEOUT * 10)); do
    left=0
    for id in $(recorded_nodes); do
      if node_alive "$id"; then left=$((left + 1)); fi
    done
    if ((left == 0)); then return 0; fi
    sleep 0.1
    waited=$((waited + 1))
  done
  log "still running after ${KAFKA_STOP_TIMEOUT}s: sending SIGKILL"
  for id in $(recorded_nodes); do
    if node_alive "$id"; then kill -KILL "$(<"$(node_dir "$id")/kafka.pid")" 2>/dev/null || true; fi
  done
  sleep 0.5
}

clean_state() {
  local id dir
  for id in $(recorded_nodes); do
    dir=$(node_dir "$id")
    rm -rf "$dir/data" "$dir/tmp"
    rm -f "$dir/kafka.pid"
  done
  rm -f "$STATE_DIR/bootstrap" "$STATE_DIR/brokers" "$STATE_DIR/version"
}

cmd_start() {
  local brokers=1
  while (($# > 0)); do
    case $1 in
      --brokers) (($# >= 2)) || die "--brokers needs a value"; brokers=$2; shift 2 ;;
      --brokers=*) brokers=${1#--brokers=}; shift ;;
      -h | --help) usage; exit 0 ;;
      *) usage; die "unknown start option: $1" ;;
    esac
  done
  [[ $brokers == 1 || $brokers == 3 ]] || die "--brokers must be 1 or 3 (got $brokers)"
  command -v java >/dev/null 2>&1 || die "java (17+) is required"

  take_lock
  case $(running_state) in
    all)
      if [[ ! -f $STATE_DIR/bootstrap ]]; then
        log "a previous start did not complete; stopping its brokers and starting afresh"
        kill_nodes
        clean_state
        rm -rf "$STATE_DIR"/node-*
        ensure_classpath
        ensure_probe
        start_nodes "$brokers"
        return
      fi
      local have
      have=$(cat "$STATE_DIR/brokers" 2>/dev/null || echo '?')
      if [[ $have != "$brokers" ]]; then
        die "already running with $have broker(s) at $(recorded_bootstrap); run 'scripts/kafka.sh stop' first"
      fi
      log "already running ($brokers broker(s), Kafka $(cat "$STATE_DIR/version" 2>/dev/null || echo '?'))"
      recorded_bootstrap
      return 0
      ;;
    partial)
      log "some recorded brokers are running and some are not:"
      cmd_status >&2 || true
      die "inconsistent state in $STATE_DIR; run 'scripts/kafka.sh start-node N' for the stopped node(s), or 'scripts/kafka.sh stop' first"
      ;;
    none)
      if [[ -n $(recorded_nodes) ]]; then
        log "cleaning up a previous run that is no longer running"
        clean_state
      fi
      rm -rf "$STATE_DIR"/node-* # old logs and configs
      ;;
  esac

  ensure_classpath
  ensure_probe
  start_nodes "$brokers"
}

start_nodes() { # start_nodes BROKERS: format, launch and wait for BROKERS fresh nodes
  local brokers=$1 id port cport bootstrap="" voters="" pid_list=""
  for ((id = 1; id <= brokers; id++)); do
    port=$((KAFKA_PORT + id - 1))
    cport=$((KAFKA_CONTROLLER_PORT + id - 1))
    if ! valid_port "$port" || ! valid_port "$cport"; then die "port out of range for node $id"; fi
    port_busy "$port" && die "127.0.0.1:$port is already in use (set KAFKA_PORT to move the broker)"
    port_busy "$cport" && die "127.0.0.1:$cport is already in use (set KAFKA_CONTROLLER_PORT to move the controller)"
    bootstrap+=${bootstrap:+,}127.0.0.1:$port
    voters+=${voters:+,}$id@127.0.0.1:$cport
  done

  local started=$SECONDS cluster_id
  cluster_id=$(random_cluster_id)
  log "starting Apache Kafka $KAFKA_VERSION: $brokers node(s), KRaft combined mode, cluster id $cluster_id"
  # Format all log dirs (in parallel: each is a JVM start).
  local fmt_pids=() dir
  for ((id = 1; id <= brokers; id++)); do
    write_node_config "$id" "$brokers" "$voters"
    dir=$(node_dir "$id")
    set_java_opts "$dir"
    # a short-lived tool: C1 + serial GC start faster and leave the cores to the others
    java "${NODE_JVM_OPTS[@]}" -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -cp "$LIB_DIR/*" kafka.tools.StorageTool format \
      --cluster-id "$cluster_id" --config "$dir/server.properties" --ignore-formatted \
      >"$dir/format.log" 2>&1 9>&- &
    fmt_pids+=($!)
  done
  local i
  for i in "${!fmt_pids[@]}"; do
    if ! wait "${fmt_pids[$i]}"; then
      dir=$(node_dir $((i + 1)))
      cat "$dir/format.log" >&2
      die "formatting $dir/data failed"
    fi
  done

  local pid
  for ((id = 1; id <= brokers; id++)); do
    : >"$(node_dir "$id")/kafka.log"
    launch_node "$id"
  done
  for ((id = 1; id <= brokers; id++)); do
    dir=$(node_dir "$id")
    for ((i = 0; i < 100; i++)); do
      if [[ -f $dir/kafka.pid ]]; then break; fi
      sleep 0.05
    done
    [[ -f $dir/kafka.pid ]] || die "node $id did not start (see $dir/kafka.log)"
    pid=$(<"$dir/kafka.pid")
    pid_list+=${pid_list:+,}$pid
  done
  echo "$brokers" >"$STATE_DIR/brokers"
  echo "$KAFKA_VERSION" >"$STATE_DIR/version"

  # Ctrl-C / SIGTERM while waiting: do not leave half-started brokers behind.
  trap 'log "interrupted: stopping the brokers"; kill_nodes; clean_state; exit 130' INT TERM
  log "waiting up to ${KAFKA_START_TIMEOUT}s for $brokers broker(s) to register at $bootstrap (pids $pid_list)"
  local rc=0
  run_probe "$bootstrap" "$brokers" "$pid_list" || rc=$?
  if ((rc != 0)); then
    show_node_logs
    log "start failed; stopping what was started"
    kill_nodes
    clean_state
    die "Kafka did not become ready (probe exit $rc)"
  fi
  trap - INT TERM
  echo "$bootstrap" >"$STATE_DIR/bootstrap"
  log "Kafka $KAFKA_VERSION ready in $((SECONDS - started))s; logs: $STATE_DIR/node-*/kafka.log"
  echo "$bootstrap"
}

cmd_stop() {
  (($# == 0)) || die "stop takes no arguments"
  if [[ ! -d $STATE_DIR ]] || [[ -z $(recorded_nodes) ]]; then
    log "not running"
    return 0
  fi
  take_lock
  if [[ $(running_state) == none ]]; then
    log "not running; removing stale state"
  fi
  kill_nodes
  clean_state
  log "stopped; removed the brokers' data under $STATE_DIR"
}

# node_arg CMD ARGS...: the node id argument of kill-node/start-node, checked
# against the running cluster's nodes.
node_arg() {
  local cmd=$1 nodes
  shift
  (($# == 1)) || die "usage: scripts/kafka.sh $cmd N (N: a node id of the running cluster)"
  if [[ ! -f $STATE_DIR/bootstrap ]] || [[ -z $(recorded_nodes) ]]; then
    die "$cmd: no cluster is running under $STATE_DIR (start one with 'scripts/kafka.sh start --brokers 3')"
  fi
  nodes=$(recorded_nodes | sort -n | tr '\n' ' ')
  if ! [[ $1 =~ ^[0-9]+$ ]] || [[ ! -f $(node_dir "$1")/kafka.pid ]]; then
    die "$cmd: '$1' is not a node of the running cluster (its nodes: ${nodes% })"
  fi
}

# node_port ID: the client port node ID was configured with.
node_port() {
  sed -n 's|^advertised.listeners=PLAINTEXT://127.0.0.1:\([0-9]*\)$|\1|p' "$(node_dir "$1")/server.properties"
}

# kill-node N: SIGKILL node N (no controlled shutdown, like a crash); its data
# dir, config, log and pid file stay, so status says degraded and start-node N
# brings it back. Already dead: says so, exit 0.
cmd_kill_node() {
  node_arg kill-node "$@"
  local id=$1 dir pid i
  take_lock
  dir=$(node_dir "$id")
  if ! node_alive "$id"; then
    log "node $id is not running (already killed); nothing to do"
    return 0
  fi
  pid=$(<"$dir/kafka.pid")
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    node_alive "$id" || break
    sleep 0.1
  done
  node_alive "$id" && die "node $id (pid $pid) still runs 10 s after SIGKILL"
  printf '[%s] ---- node killed with SIGKILL by kafka.sh kill-node ----\n' "$(date '+%F %T,%3N')" >>"$dir/kafka.log"
  log "killed node $id (pid $pid, 127.0.0.1:$(node_port "$id")) with SIGKILL; its data stays for 'start-node $id'"
}

# start-node N: start node N again with its existing data and config and wait
# until it answers and the cluster lists it as a live (unfenced) broker.
# Already running: says so, exit 0.
cmd_start_node() {
  node_arg start-node "$@"
  local id=$1 dir old pid port i started=$SECONDS alive=1 other
  command -v java >/dev/null 2>&1 || die "java (17+) is required"
  take_lock
  dir=$(node_dir "$id")
  if node_alive "$id"; then
    log "node $id is already running (pid $(<"$dir/kafka.pid"))"
    return 0
  fi
  [[ -f $CACHE_DIR/.complete ]] || die "the Kafka classpath in $CACHE_DIR is gone; stop and start the cluster again"
  ensure_probe
  port=$(node_port "$id")
  [[ -n $port ]] || die "cannot read node $id's port from $dir/server.properties"
  port_busy "$port" && die "127.0.0.1:$port (node $id's port) is in use by another process"
  for other in $(recorded_nodes); do
    if [[ $other != "$id" ]] && node_alive "$other"; then alive=$((alive + 1)); fi
  done
  old=$(<"$dir/kafka.pid")
  printf '[%s] ---- node restarted by kafka.sh start-node ----\n' "$(date '+%F %T,%3N')" >>"$dir/kafka.log"
  launch_node "$id"
  for ((i = 0; i < 100; i++)); do
    if [[ $(<"$dir/kafka.pid") != "$old" ]]; then break; fi
    sleep 0.05
  done
  pid=$(<"$dir/kafka.pid")
  [[ $pid != "$old" ]] || die "node $id did not start (see $dir/kafka.log)"
  log "node $id started (pid $pid); waiting up to ${KAFKA_START_TIMEOUT}s until it is registered and unfenced ($alive live broker(s) expected)"
  local rc=0
  run_probe "127.0.0.1:$port" "$alive" "$pid" "$id" || rc=$?
  if ((rc != 0)); then
    log "---- last lines of $dir/kafka.log ----"
    tail -n 40 "$dir/kafka.log" >&2 || true
    if node_alive "$id"; then kill -KILL "$pid" 2>/dev/null || true; fi
    die "node $id did not become ready (probe exit $rc); killed it again, status stays degraded"
  fi
  log "node $id is back in $((SECONDS - started))s (127.0.0.1:$port)"
}

cmd_status() {
  local state id n
  if [[ ! -d $STATE_DIR ]] || [[ -z $(recorded_nodes) ]] || [[ ! -f $STATE_DIR/bootstrap ]]; then
    echo "not running"
    return 1
  fi
  state=$(running_state)
  n=$(cat "$STATE_DIR/brokers" 2>/dev/null || echo '?')
  case $state in
    all)
      echo "running: Apache Kafka $(cat "$STATE_DIR/version" 2>/dev/null || echo '?'), $n broker(s), bootstrap $(recorded_bootstrap)"
      for id in $(recorded_nodes); do
        echo "  node $id: pid $(<"$(node_dir "$id")/kafka.pid"), log $(node_dir "$id")/kafka.log"
      done
      return 0
      ;;
    partial)
      echo "degraded: only some of $n broker(s) are running (bootstrap $(recorded_bootstrap))"
      for id in $(recorded_nodes); do
        if node_alive "$id"; then echo "  node $id: running"; else echo "  node $id: NOT running (log $(node_dir "$id")/kafka.log)"; fi
      done
      return 1
      ;;
    *)
      echo "not running (stale state in $STATE_DIR; 'scripts/kafka.sh stop' cleans it, 'start-node N' restarts a killed node on its data)"
      return 1
      ;;
  esac
}

cmd_bootstrap() {
  local state
  state=$(running_state)
  if [[ -f $STATE_DIR/bootstrap ]] && [[ $state == all ]]; then
    recorded_bootstrap
    return 0
  fi
  if [[ $state == partial ]]; then
    log "not running: only some brokers are up (see 'scripts/kafka.sh status')"
  else
    log "not running"
  fi
  return 1
}

main() {
  (($# > 0)) || { usage; exit 2; }
  local cmd=$1
  shift
  case $cmd in
    -h | --help | help) usage; exit 0 ;;
  esac
  check_env
  case $cmd in
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    status) cmd_status "$@" ;;
    bootstrap) cmd_bootstrap "$@" ;;
    kill-node) cmd_kill_node "$@" ;;
    start-node) cmd_start_node "$@" ;;
    *) usage; die "unknown command: $cmd" ;;
  esac
}

main "$@"
