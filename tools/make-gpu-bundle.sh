#!/usr/bin/env bash
# Builds the self-contained bundle that tools/gpu-check runs on a GPU host with no JDK or Maven
# (see ../shared/ENGINEERING.md section 5): a jlink'd JRE, the engine jar (with the CUDA fatbins when
# nvcc is here), the test classes, the runtime jars, the JavaCPP/cuda linux-x86_64 natives and the
# JUnit console launcher.
#   tools/make-gpu-bundle.sh [OUT_DIR=build-dir]      then: carry OUT_DIR and run tools/gpu-check
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$(realpath -m "${1:-$ROOT/build-dir}")"
JDK=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}
export JAVA_HOME="$JDK" PATH="$JDK/bin:$PATH"
CUDA_PRESETS=13.3-9.25-1.5.14 JAVACPP=1.5.14 JUNIT_CONSOLE=1.14.4
cd "$ROOT"
if command -v nvcc >/dev/null || [ -x /usr/local/cuda/bin/nvcc ]; then native/build-kernels.sh target/kernels; fi
mvn -B -q install -DskipTests
mvn -B -q test-compile
mkdir -p "$OUT/lib"
rm -rf "$OUT/lib"/* "$OUT/test-classes"
if [ ! -x "$OUT/jre/bin/java" ]; then
  jlink --add-modules java.base,jdk.incubator.vector,jdk.unsupported,java.logging,java.management,jdk.management,jdk.zipfs \
    --strip-debug --no-header-files --no-man-pages --compress=zip-6 --output "$OUT/jre"
  # the JDK's libjvm.so keeps its full symbol table (about 5 MB); the dynamic symbols stay
  if command -v strip >/dev/null; then strip --strip-unneeded "$OUT"/jre/lib/server/libjvm.so "$OUT"/jre/lib/*.so; fi
fi
cp target/kiln-0.1.0-SNAPSHOT.jar "$OUT/lib/"
tr ":" "\n" < target/classpath.txt | while read -r j || [ -n "$j" ]; do [ -n "$j" ] && cp "$j" "$OUT/lib/"; done
cp -r target/test-classes "$OUT/test-classes"
m2="${MAVEN_REPO:-$HOME/.m2/repository}"
fetch() { # groupId artifactId version [classifier]
  local path="$m2/${1//.//}/$2/$3/$2-$3${4:+-$4}.jar"
  [ -f "$path" ] || mvn -B -q dependency:get -Dartifact="$1:$2:$3:jar${4:+:$4}" >/dev/null
  cp "$path" "$OUT/lib/"
}
fetch org.bytedeco cuda "$CUDA_PRESETS" linux-x86_64
fetch org.bytedeco javacpp "$JAVACPP" linux-x86_64
fetch org.junit.platform junit-platform-console-standalone "$JUNIT_CONSOLE"
cp tools/gpu-check "$OUT/"
du -sh "$OUT" | awk '{print "bundle: " $2 " " $1}'
# the device tool moves at most 64 MiB per call: this bundle plus the repository's tracked files
size=$(du -sb "$OUT" | cut -f1)
if [ "$size" -gt $((60 * 1048576)) ]; then
  echo "bundle: WARNING $((size / 1048576)) MiB: with the repository it may exceed the device tool's 64 MiB" >&2
fi
