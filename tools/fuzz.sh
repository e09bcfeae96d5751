#!/usr/bin/env bash
# Fuzzes one Kiln reader with Jazzer (coverage-guided) for a while; see docs/SECURITY.md.
#
#   tools/fuzz.sh PickleFuzzTest#unpickle [seconds=600]
#
# Targets: PickleFuzzTest#unpickle, TorchArchiveFuzzTest#zipArchive, TorchArchiveFuzzTest#torchArchive,
#          ScriptParserFuzzTest#parse, OnnxFuzzTest#model, OnnxFuzzTest#tensorProto, NpyFuzzTest#npy,
#          NpyFuzzTest#npz, SafetensorsFuzzTest#read, SavedModelFuzzTest#savedModelPb,
#          SavedModelFuzzTest#checkpointIndex, GgufFuzzTest#gguf
#
# It builds into target/fuzz (never target/classes), relabels the class files from Java 25 to 23
# so Jazzer 0.24.0's bundled ASM can instrument them for coverage (dev.kiln.fuzz.ClassFileVersion),
# then runs the one fuzz test with JAZZER_FUZZ=1. A finding (crash, OOM, stack overflow, timeout,
# unclear error) is written next to the seeds, src/test/resources/dev/kiln/<pkg>/<Class>Inputs/<method>/,
# where plain `mvn test` replays it as a regression test. New coverage is kept in .cifuzz-corpus/.
set -euo pipefail
target=${1:?usage: tools/fuzz.sh Class#method [seconds]}
seconds=${2:-600}
cd "$(dirname "$0")/.."
if [ -d /usr/lib/jvm/temurin-25-jdk-amd64 ]; then export JAVA_HOME=/usr/lib/jvm/temurin-25-jdk-amd64 PATH=/usr/lib/jvm/temurin-25-jdk-amd64/bin:$PATH; fi
mvn -o -q test-compile -Dkiln.build.dir=target/fuzz
java -cp target/fuzz/test-classes dev.kiln.fuzz.ClassFileVersion target/fuzz/classes target/fuzz/test-classes
# surefire:test alone, so nothing is recompiled over the relabelled classes; libFuzzer flags come
# after the annotation's (the later -max_total_time wins; -timeout flags a hang per input)
JAZZER_FUZZ=1 mvn -o surefire:test -Djazzer.hooks=true -Dkiln.build.dir=target/fuzz -Dtest="$target" -Dsurefire.failIfNoSpecifiedTests=false \
  -Djazzer.internal.arg.0=fuzz -Djazzer.internal.arg.1=-max_total_time="$seconds" -Djazzer.internal.arg.2=-timeout=20
