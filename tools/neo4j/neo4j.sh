#!/usr/bin/env bash
# Runs a real Neo4j 5.26 Community server without Docker: its jars come from Maven
# Central (pom.xml beside this file) and it runs on the machine's Java 17.
#
#   tools/neo4j/neo4j.sh start   fetch (cached in ~/.m2), start on a free loopback port,
#                                wait until Bolt answers, write the URI to .neo4j/uri
#   tools/neo4j/neo4j.sh stop    stop it (SIGTERM), keep nothing running
#
# NEO4J_HOME_DIR overrides where the server lives (default: .neo4j in the repo).
# NEO4J_HEAP and NEO4J_PAGECACHE size it (default 1g and 128m, enough for the tests;
# `make bench` asks for more: a city's graph, written in transactions of 200k rows).
# Auth is on, as on any real server: user neo4j, password from NEO4J_PASSWORD (default
# grassroots-test), set on the first start through the driver (tools/neo4j/password.py).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
home=${NEO4J_HOME_DIR:-$repo/.neo4j}
password=${NEO4J_PASSWORD:-grassroots-test}
python=${PYTHON:-$repo/.venv/bin/python}
lib=${NEO4J_LIB_DIR:-$repo/.neo4j/lib}  # shared by every server home
mkdir -p "$home"

fetch() {
  if [ ! -f "$lib/.complete" ]; then
    echo "neo4j: fetching Neo4j 5.26 jars from Maven Central (first run only)..." >&2
    rm -rf "$lib"
    mvn -B -q -f "$here/pom.xml" dependency:copy-dependencies \
      -DoutputDirectory="$lib" -DincludeScope=runtime >&2
    touch "$lib/.complete"
  fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

start() {
  if [ -f "$home/pid" ] && kill -0 "$(cat "$home/pid")" 2>/dev/null; then
    echo "neo4j: already running at $(cat "$home/uri")" >&2
    return 0
  fi
  fetch
  # A restarted server keeps its port, so clients holding its URI reconnect to it.
  if [ -f "$home/port" ] && ! (exec 3<>"/dev/tcp/127.0.0.1/$(cat "$home/port")") 2>/dev/null; then
    port=$(cat "$home/port")
  else
    port=$(free_port)
    echo "$port" > "$home/port"
  fi
  mkdir -p "$home/conf" "$home/data" "$home/logs" "$home/run" "$home/plugins" "$home/import"
  cat > "$home/conf/neo4j.conf" <<CONF
server.directories.data=$home/data
server.directories.logs=$home/logs
server.directories.run=$home/run
server.directories.plugins=$home/plugins
server.directories.import=$home/import
server.default_listen_address=127.0.0.1
server.bolt.enabled=true
server.bolt.listen_address=127.0.0.1:$port
server.bolt.advertised_address=127.0.0.1:$port
server.bolt.tls_level=DISABLED
server.http.enabled=false
server.https.enabled=false
dbms.security.auth_enabled=true
# A short lock wait turns a blocked write into a transient error that the driver retries.
db.lock.acquisition.timeout=2s
server.memory.pagecache.size=${NEO4J_PAGECACHE:-128m}
server.memory.heap.max_size=${NEO4J_HEAP:-1g}
dbms.usage_report.enabled=false
db.tx_log.rotation.retention_policy=1 files
CONF
  # The --add-opens flags are the ones Neo4j's own launcher passes on Java 17.
  nohup java -Xmx"${NEO4J_HEAP:-1g}" -XX:+UseG1GC \
    --add-opens=java.base/java.nio=ALL-UNNAMED \
    --add-opens=java.base/java.io=ALL-UNNAMED \
    --add-opens=java.base/sun.nio.ch=ALL-UNNAMED \
    --add-opens=java.base/java.lang=ALL-UNNAMED \
    --add-opens=java.base/java.util=ALL-UNNAMED \
    --add-opens=java.base/java.util.concurrent=ALL-UNNAMED \
    --add-opens=java.base/java.lang.invoke=ALL-UNNAMED \
    --add-exports=java.base/sun.nio.ch=ALL-UNNAMED \
    --add-exports=jdk.unsupported/sun.misc=ALL-UNNAMED \
    -Dfile.encoding=UTF-8 \
    -cp "$lib/*" org.neo4j.server.CommunityEntryPoint \
    --home-dir="$home" --config-dir="$home/conf" \
    > "$home/logs/console.log" 2>&1 &
  echo $! > "$home/pid"
  echo "bolt://127.0.0.1:$port" > "$home/uri"
  for _ in $(seq 1 120); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      NEO4J_PASSWORD="$password" "$python" "$here/password.py" "bolt://127.0.0.1:$port" >&2
      echo "neo4j: running at $(cat "$home/uri") (pid $(cat "$home/pid"))" >&2
      return 0
    fi
    if ! kill -0 "$(cat "$home/pid")" 2>/dev/null; then
      echo "neo4j: the server exited while starting; last lines of $home/logs/console.log:" >&2
      tail -n 30 "$home/logs/console.log" >&2
      exit 1
    fi
    sleep 1
  done
  echo "neo4j: Bolt did not answer within 120 s; see $home/logs/console.log" >&2
  exit 1
}

stop() {
  if [ -f "$home/pid" ]; then
    pid=$(cat "$home/pid")
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid"
      for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
      kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    fi
    rm -f "$home/pid" "$home/uri"
    echo "neo4j: stopped" >&2
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
