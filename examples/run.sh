#!/usr/bin/env bash
# Builds the examples module against the installed engine artifact (dev.kiln:kiln) and runs every
# example twice: on the class path and on the module path. One line per run; exits 1 if any fails
# (that run's output is printed). Run from anywhere; the examples run in the repository root, where
# their default model paths (testdata/real-models/...) resolve.
# Usage: examples/run.sh [EXAMPLE...]   (default: all of them)
#   MVN_OPTS  extra Maven options, e.g. MVN_OPTS=-o to build offline (default: none)
#   JAVA_HOME a JDK 25 or newer (default: the java on PATH)
set -euo pipefail
cd "$(dirname "$0")/.."
java="${JAVA_HOME:+$JAVA_HOME/bin/}java"
examples=("$@")
[ $# -gt 0 ] || examples=(TrainMlp RunOnnx RunTorchScript Quantize)

# shellcheck disable=SC2086  # MVN_OPTS is a list of options
mvn -B -q -Dstyle.color=never ${MVN_OPTS:-} -f examples/pom.xml package
jars="examples/target/kiln-examples.jar:$(cat examples/target/classpath.txt)"  # engine jar + its runtime deps
logs=examples/target/run-logs
mkdir -p "$logs"

failed=0
run() {  # run NAME MODE java-args...
  local name=$1 mode=$2 log="$logs/$1-$2.log" start rc=0 ms
  shift 2
  start=$(date +%s%N)
  "$java" "$@" >"$log" 2>&1 || rc=$?
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  if [ "$rc" -eq 0 ]; then
    printf 'PASS %-15s %-11s %6d ms  %s\n' "$name" "$mode" "$ms" "$(grep -v '^WARNING' "$log" | tail -n 1 | sed 's/^ *//')"
  else
    printf 'FAIL %-15s %-11s %6d ms  exit %d; output:\n' "$name" "$mode" "$ms" "$rc"
    sed 's/^/    /' "$log"
    failed=1
  fi
}

for x in "${examples[@]}"; do
  run "$x" classpath --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
      -cp "$jars" "dev.kiln.examples.$x"
  run "$x" module-path --enable-native-access=dev.kiln \
      -p "$jars" -m "dev.kiln.examples/dev.kiln.examples.$x"
done
exit "$failed"
