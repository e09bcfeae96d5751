#!/usr/bin/env bash
# Builds the self-contained bundle that tools/gpu-check runs on a GPU host with no JDK or Maven
# (../shared/ENGINEERING.md section 5), small enough for the device tool, which moves the
# repository's working tree AND the carried bundle, 64 MiB in all:
#   OUT/jre.tar.gz     jlink'd JRE (java.base, jdk.incubator.vector, jdk.unsupported, java.logging),
#                      libjvm stripped, modules uncompressed inside, gzip'd whole (gpu-check unpacks it)
#   OUT/lib/           the engine jar (with the CUDA fatbins when nvcc is here), its runtime jars,
#                      JavaCPP's cuda classes and linux-x86_64 JNI glue cut down to what Kiln loads
#                      (cudart, cublas/cublasLt, nvrtc, nccl; cuSPARSE is called through FFM), and
#                      the JUnit console launcher
#   OUT/gpu-tests.jar  the @Tag("gpu") test classes and the test classes they use (no fixtures: the
#                      GPU tests read only files of the tracked tree)
#   OUT/gpu-classes.txt  those test classes, one per line (tools/gpu-check runs one JVM per class);
#                      OUT/gpu-timing-classes.txt the ones with @Tag("timing") tests
#   OUT/gpu-check      a copy of tools/gpu-check
# It then checks the bundle (no class missing; the stripped JRE starts the JUnit console launcher and
# runs a CPU-only test class and `kiln info`), measures bundle + working tree and FAILS when the sum
# exceeds KILN_BUNDLE_LIMIT_MIB (default 56).
#
#   tools/make-gpu-bundle.sh [OUT_DIR=build-dir]        then: carry OUT_DIR and run tools/gpu-check
# Env: JAVA_HOME (JDK 25), KILN_MVN_OPTS (e.g. "-o -Dmaven.repo.local=..."; -o works once the project
#      has been built: every jar comes from the local Maven cache), KILN_BUNDLE_SKIP_BUILD=1 (reuse
#      target/ as built), KILN_BUNDLE_LIMIT_MIB.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$(realpath -m "${1:-$ROOT/build-dir}")"
JDK=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}
export JAVA_HOME="$JDK" PATH="$JDK/bin:$PATH"
LIMIT_MIB=${KILN_BUNDLE_LIMIT_MIB:-56}
MODULES=java.base,jdk.incubator.vector,jdk.unsupported,java.logging
# JNI glue libraries of org.bytedeco:cuda that Kiln loads, and the Java packages that bind them
JNI_KEEP='libjni(cudart|cublas|nvrtc|nccl)\.so|^META-INF/maven/'
CLASSES_KEEP='^META-INF/maven/|org/bytedeco/cuda/(cudart|cublas|nvrtc|nccl|presets)/|org/bytedeco/cuda/global/(cudart|cublas|nvrtc|nccl)[.$]'
die() { echo "make-gpu-bundle: $*" >&2; exit 1; }
cd "$ROOT"
case "$OUT" in "$ROOT"|"$ROOT/"|/) die "refusing to use $OUT as the output folder";; esac

# ---- build (the build resolves the natives jars and the console launcher: target/gpu-bundle-deps) ----
if [ -z "${KILN_BUNDLE_SKIP_BUILD:-}" ]; then
  if [ -x "${NVCC:-/usr/local/cuda/bin/nvcc}" ] || command -v nvcc >/dev/null; then
    native/build-kernels.sh target/kernels >/dev/null || die "CUDA kernels failed to compile (native/build-kernels.sh)"
  fi
  # shellcheck disable=SC2086
  mvn -B -q ${KILN_MVN_OPTS:-} install -DskipTests || die "mvn install failed"
  # shellcheck disable=SC2086
  mvn -B -q ${KILN_MVN_OPTS:-} -f cli/pom.xml package -DskipTests || die "mvn package of cli/ failed"
fi
DEPS="$ROOT/target/gpu-bundle-deps"
for f in target/kiln-0.1.0-SNAPSHOT.jar target/classpath.txt target/test-classes "$DEPS" \
         cli/target/kiln-cli-0.1.0-SNAPSHOT.jar cli/target/classpath.txt; do
  [ -e "$f" ] || die "$f missing: build first (mvn install -DskipTests) or unset KILN_BUNDLE_SKIP_BUILD"
done
jar_of() { compgen -G "$DEPS/$1" | head -1 || true; }
CUDA_NATIVE=$(jar_of 'cuda-*-linux-x86_64.jar'); JCPP_NATIVE=$(jar_of 'javacpp-*-linux-x86_64.jar')
CONSOLE=$(jar_of 'junit-platform-console-standalone-*.jar')
[ -n "$CUDA_NATIVE" ] && [ -n "$JCPP_NATIVE" ] && [ -n "$CONSOLE" ] || die "$DEPS lacks the natives or console jars (rebuild)"

rm -rf "$OUT"
mkdir -p "$OUT/lib"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# ---- JRE: jlink once per JDK and module list (cached in target/), shipped gzip'd ----
jre_key=$(printf '%s %s' "$("$JDK/bin/java" -version 2>&1 | head -2 | tr '\n' ' ')" "$MODULES" | sha256sum | cut -c1-12)
JRE_CACHE="target/gpu-jre-$jre_key"
if [ ! -x "$JRE_CACHE/bin/java" ]; then
  rm -rf target/gpu-jre-*
  jlink --add-modules "$MODULES" --strip-debug --no-header-files --no-man-pages --compress=zip-0 \
    --output "$JRE_CACHE" 2>&1 | grep -v 'Using incubator modules' || true
  [ -x "$JRE_CACHE/bin/java" ] || die "jlink failed"
  # the JDK's shared libraries keep their full symbol tables (libjvm: about 5 MB); dynamic symbols stay
  if command -v strip >/dev/null; then strip --strip-unneeded "$JRE_CACHE"/lib/server/libjvm.so "$JRE_CACHE"/lib/*.so; fi
  tar -C "$JRE_CACHE" -cf - . | gzip -9 > "$JRE_CACHE.tar.gz"
fi
cp "$JRE_CACHE.tar.gz" "$OUT/jre.tar.gz"

# ---- jars ----
cp target/kiln-0.1.0-SNAPSHOT.jar "$OUT/lib/"
tr ':' '\n' < target/classpath.txt | while read -r j || [ -n "$j" ]; do
  [ -n "$j" ] || continue
  case "$(basename "$j")" in
    cuda-*.jar) ;;                                  # replaced by the cut-down copy below
    *) cp "$j" "$OUT/lib/" ;;
  esac
done
# the CLI (for `kiln info` on the GPU host) and its own dependencies (picocli, progressbar, jline)
cp cli/target/kiln-cli-0.1.0-SNAPSHOT.jar "$OUT/lib/"
tr ':' '\n' < cli/target/classpath.txt | while read -r j || [ -n "$j" ]; do
  case "$(basename "$j")" in
    ""|kiln-0.1.0-SNAPSHOT.jar|cuda-*.jar|javacpp-*.jar) ;;     # the engine and its jars: above
    *) cp -n "$j" "$OUT/lib/" ;;
  esac
done
# repack: keep only the entries whose path matches the pattern (jar writes a fresh manifest)
repack() { # jar regex out
  local dir="$WORK/repack-$(basename "$3" .jar)"
  mkdir -p "$dir" && (cd "$dir" && jar xf "$1")
  (cd "$dir" && find . -type f | sed 's|^\./||' | grep -Ev "$2" | xargs -r rm -f)
  find "$dir" -type d -empty -delete
  [ -d "$dir" ] && [ -n "$(find "$dir" -type f | head -1)" ] || die "repacking $(basename "$1") kept nothing (pattern $2)"
  rm -f "$3"
  jar --create --file "$3" -C "$dir" .
}
cuda_classes=$(tr ':' '\n' < target/classpath.txt | grep '/cuda-[^/]*\.jar$' | head -1)
[ -n "$cuda_classes" ] || die "org.bytedeco:cuda is not on the runtime class path"
repack "$cuda_classes" "$CLASSES_KEEP" "$OUT/lib/$(basename "$cuda_classes")"
repack "$CUDA_NATIVE" "$JNI_KEEP" "$OUT/lib/$(basename "$CUDA_NATIVE")"
kept=$(jar tf "$OUT/lib/$(basename "$CUDA_NATIVE")")
for lib in cudart cublas nvrtc nccl; do
  [[ "$kept" == *"libjni$lib.so"* ]] || die "libjni$lib.so missing from $CUDA_NATIVE"
done
cp "$JCPP_NATIVE" "$CONSOLE" "$OUT/lib/"

# ---- GPU test classes and the test classes they reach ----
grep -rlE '^\s*@Tag\("gpu"\)' src/test/java | sed -e 's|^src/test/java/||' -e 's|\.java$||' -e 's|/|.|g' | sort > "$OUT/gpu-classes.txt"
[ -s "$OUT/gpu-classes.txt" ] || die "no @Tag(\"gpu\") test classes under src/test/java"
# classes with @Tag("timing") tests: gpu-check runs those tests in a second JVM without CUDA_LAUNCH_BLOCKING
grep -rlE '@Tag\("timing"\)' src/test/java | sed -e 's|^src/test/java/||' -e 's|\.java$||' -e 's|/|.|g' | sort \
  | comm -12 - "$OUT/gpu-classes.txt" > "$OUT/gpu-timing-classes.txt" || true
RUN_CP="target/kiln-0.1.0-SNAPSHOT.jar:$(cat target/classpath.txt):$CONSOLE"
# class -> test class edges among target/test-classes (jdeps -verbose:class), then the closure
jdeps --multi-release 25 -verbose:class -filter:none -cp "$RUN_CP" target/test-classes 2>/dev/null \
  | awk '$2 == "->" && $4 ~ /test-classes/ {print $1, $3}' | sort -u > "$WORK/edges"
cp "$OUT/gpu-classes.txt" "$WORK/need"
while :; do
  awk 'NR == FNR {need[$1] = 1; next} {o = $1; sub(/\$.*/, "", o); if (o in need) print $2}' "$WORK/need" "$WORK/edges" \
    | sed 's/\$.*//' | cat - "$WORK/need" | sort -u > "$WORK/need2"
  cmp -s "$WORK/need" "$WORK/need2" && break
  mv "$WORK/need2" "$WORK/need"
done
mkdir -p "$WORK/tests"
while read -r c; do
  p=${c//.//}
  (cd target/test-classes && compgen -G "$p.class" >/dev/null && ls "$p".class "$p"\$*.class 2>/dev/null) || true
done < "$WORK/need" > "$WORK/test-files"
(cd target/test-classes && jar --create --file "$OUT/gpu-tests.jar" $(cat "$WORK/test-files"))
cp tools/gpu-check "$OUT/gpu-check"

# ---- checks: nothing missing, the stripped JRE runs the launcher ----
BUNDLE_CP="$OUT/gpu-tests.jar:$(ls "$OUT"/lib/*.jar | grep -v junit-platform-console | tr '\n' ':')"
# (the engine jar is analysed as plain classes: as a named module jdeps would want its modules)
mkdir -p "$WORK/kiln-classes" && (cd "$WORK/kiln-classes" && jar xf "$OUT/lib/kiln-0.1.0-SNAPSHOT.jar" && rm -f module-info.class)
jdeps --multi-release 25 -verbose:class -cp "$BUNDLE_CP:$OUT/lib/$(basename "$CONSOLE")" \
    "$OUT/gpu-tests.jar" "$WORK/kiln-classes" "$OUT/lib/$(basename "$cuda_classes")" > "$WORK/jdeps.log" 2>&1 \
  || { tail -5 "$WORK/jdeps.log" >&2; die "jdeps failed on the bundle"; }
missing=$(awk '$2 == "->" && /not found/ && ($3 ~ /^(dev\.kiln|org\.bytedeco|org\.junit)/) {print $1 " -> " $3}' "$WORK/jdeps.log" | sort -u)
[ -z "$missing" ] || die "classes missing from the bundle:
$missing"
mkdir -p "$WORK/jre" && tar -C "$WORK/jre" -xzf "$OUT/jre.tar.gz"
J=("$WORK/jre/bin/java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED)
if ! "${J[@]}" -jar "$OUT/lib/$(basename "$CONSOLE")" execute --class-path "$BUNDLE_CP" \
      --select-class dev.kiln.backend.cuda.CudaInt8GemmTest --exclude-tag gpu --details=summary \
      --disable-banner --disable-ansi-colors > "$WORK/selfcheck.log" 2>&1; then
  cat "$WORK/selfcheck.log" >&2; die "the bundle's JRE could not run a CPU-only test class"
fi
ran=$(awk '/tests successful/ {print $2}' "$WORK/selfcheck.log")
[ "${ran:-0}" -gt 0 ] || { cat "$WORK/selfcheck.log" >&2; die "the self-check ran no tests"; }
"${J[@]}" -cp "$BUNDLE_CP" dev.kiln.cli.Main info > "$WORK/info.log" 2>&1 \
  || { cat "$WORK/info.log" >&2; die "kiln info failed on the bundle's JRE"; }
echo "make-gpu-bundle: self-check: stripped JRE ran CudaInt8GemmTest (CPU part, $ran tests) and kiln info"

# ---- sizes: what the device tool moves = working tree (tracked + untracked, not ignored) + bundle ----
bytes() { xargs -0 -r stat -c %s 2>/dev/null | awk '{s += $1} END {print s + 0}'; }
tree=$( { git ls-files -z --cached --others --exclude-standard | (while IFS= read -r -d '' f; do [ -f "$f" ] && printf '%s\0' "$f"; done) ; } | bytes)
bundle=$(find "$OUT" -type f -print0 | bytes)
total=$((tree + bundle)); limit=$((LIMIT_MIB * 1048576))
mib() { awk -v b="$1" 'BEGIN {printf "%.1f MiB", b / 1048576}'; }
printf 'make-gpu-bundle: bundle %s (%s), working tree %s, total %s of %d MiB allowed\n' \
  "$(mib "$bundle")" "$OUT" "$(mib "$tree")" "$(mib "$total")" "$LIMIT_MIB"
(cd "$OUT" && find . -type f -printf '%s %p\n' | sort -rn | head -12 | awk '{printf "  %8.2f MiB  %s\n", $1 / 1048576, $2}')
if [ "$total" -gt "$limit" ]; then
  die "FAILED: bundle + working tree = $(mib "$total") > $LIMIT_MIB MiB (the device tool moves at most 64 MiB)"
fi
