#!/usr/bin/env bash
# Runs the test suite on both stores. Uses the Neo4j named by NEO4J_URI when set;
# otherwise starts the project's own (tools/neo4j) and stops it afterwards. If Neo4j
# cannot be had, this fails: the Neo4j half is never skipped.
set -euo pipefail
pytest=${1:-.venv/bin/pytest}
here=$(cd "$(dirname "$0")/.." && pwd)
started=""
if [ -z "${NEO4J_URI:-}" ]; then
  "$here/tools/neo4j/neo4j.sh" start
  started=yes
  NEO4J_URI=$(cat "$here/.neo4j/uri")
  NEO4J_USER=neo4j
  NEO4J_PASSWORD=${NEO4J_PASSWORD:-grassroots-test}
  export NEO4J_URI NEO4J_USER NEO4J_PASSWORD
fi
cleanup() { if [ -n "$started" ]; then "$here/tools/neo4j/neo4j.sh" stop; fi; }
trap cleanup EXIT
export GRASSROOTS_REQUIRE_NEO4J=1
"$pytest" -q -p no:cacheprovider "${@:2}"
