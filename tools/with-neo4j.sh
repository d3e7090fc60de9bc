#!/usr/bin/env bash
# Runs a command with a real Neo4j available: the one NEO4J_URI names, or else the
# project's own (tools/neo4j), started first and stopped afterwards. If Neo4j cannot be
# started this fails: nothing that needs Neo4j is ever skipped.
#   tools/with-neo4j.sh .venv/bin/pytest -q
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
started=""
if [ -z "${NEO4J_URI:-}" ]; then
  "$here/tools/neo4j/neo4j.sh" start
  started=yes
  NEO4J_URI=$(cat "${NEO4J_HOME_DIR:-$here/.neo4j}/uri")
  NEO4J_USER=neo4j
  NEO4J_PASSWORD=${NEO4J_PASSWORD:-grassroots-test}
  export NEO4J_URI NEO4J_USER NEO4J_PASSWORD
fi
cleanup() { if [ -n "$started" ]; then "$here/tools/neo4j/neo4j.sh" stop; fi; }
trap cleanup EXIT
"$@"
