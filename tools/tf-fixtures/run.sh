#!/usr/bin/env bash
# Build kiln-tf-fixtures and run one of its main classes on JDK 25 with TensorFlow Java 1.1.0.
#   tools/tf-fixtures/run.sh [MainClass] ARGS...
# MainClass defaults to GenerateFixtures; short names resolve in dev.kiln.tffixtures
# (GenerateFixtures, TfBench, SavedModelSummary).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export JAVA_HOME="${JAVA_HOME_25:-/usr/lib/jvm/temurin-25-jdk-amd64}"
export PATH="$JAVA_HOME/bin:$PATH"
main=dev.kiln.tffixtures.GenerateFixtures
case "${1:-}" in
  GenerateFixtures|TfBench|SavedModelSummary) main="dev.kiln.tffixtures.$1"; shift ;;
  dev.kiln.tffixtures.*) main="$1"; shift ;;
esac
# (no cd: relative paths in ARGS stay relative to the caller's directory)
mvn -q -f "$here/pom.xml" package -DskipTests
cpfile="$here/target/classpath.txt"
if [[ ! -s "$cpfile" || "$here/pom.xml" -nt "$cpfile" ]]; then
  mvn -q -f "$here/pom.xml" dependency:build-classpath -Dmdep.outputFile="$cpfile" >/dev/null
fi
exec java -cp "$here/target/classes:$(cat "$cpfile")" --enable-native-access=ALL-UNNAMED "$main" "$@"
