package dev.kiln.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * tools/gpu-check survives what a first GPU run can do, checked here without a GPU on stand-in test
 * classes (compiled into a throw-away bundle, run by this JDK): one that passes, one that fails an
 * assertion, one that crashes the JVM (SIGSEGV: an hs_err log), one whose @BeforeAll assumption
 * aborts it (no device: "skipped", not "ok"), one that hangs (killed by timeout), and one with a
 * timing test. Each runs in its own JVM; the summary table always prints, last,
 * with every class's status; crash logs are folded into one file; the log folder stays at <= 8
 * files; timing tests run in a second JVM without CUDA_LAUNCH_BLOCKING, correctness tests with it.
 * Needs bash and the JUnit console launcher that the build copies to target/gpu-bundle-deps.
 */
class GpuCheckScriptTest {
    private static final String PKG = "gpucheckfake";

    private static String fake(String name, String body) {
        return "package " + PKG + ";\n"
                + "import org.junit.jupiter.api.*;\n"
                + "@Tag(\"gpu\") public class " + name + " {\n" + body + "\n}\n";
    }

    @Test
    void survivesFailuresCrashesAndHangsAndAlwaysPrintsTheSummary(@TempDir Path dir) throws Exception {
        Path deps = Path.of("target/gpu-bundle-deps");
        Path console;
        try (Stream<Path> s = Files.exists(deps) ? Files.list(deps) : Stream.empty()) {
            console = s.filter(p -> p.getFileName().toString().startsWith("junit-platform-console-standalone")).findFirst().orElse(null);
        }
        Assumptions.assumeTrue(console != null && Files.exists(Path.of("target/classpath.txt")),
                "no JUnit console launcher in " + deps + " or no target/classpath.txt (both made by mvn package)");
        Assumptions.assumeTrue(new File("/bin/bash").canExecute(), "no bash");

        Path bundle = dir.resolve("bundle"), classes = bundle.resolve("test-classes"), src = dir.resolve("src").resolve(PKG);
        Files.createDirectories(bundle.resolve("lib"));
        Files.createDirectories(src);
        Files.copy(console, bundle.resolve("lib").resolve(console.getFileName()));
        Map<String, String> fakes = Map.of(
                "Passes", "@Test void ok() { System.out.println(\"launch blocking=\" + System.getenv(\"CUDA_LAUNCH_BLOCKING\")"
                        + " + \" sync=\" + System.getProperty(\"kiln.cuda.syncLaunch\")); }",
                "Fails", "@Test void ok() {} @Test void bad() { Assertions.assertEquals(1, 2, \"kernel result\"); }",
                "Crashes", "@Test void segv() throws Exception { var f = sun.misc.Unsafe.class.getDeclaredField(\"theUnsafe\");"
                        + " f.setAccessible(true); ((sun.misc.Unsafe) f.get(null)).putLong(0L, 42L); }",
                "Skips", "@BeforeAll static void needsCuda() { Assumptions.assumeTrue(false, \"no CUDA device\"); } @Test void t() {}",
                "Hangs", "@Test void forever() throws Exception { System.out.println(\"hanging\"); Thread.sleep(600_000); }",
                "Timed", "@Test void correct() { System.out.println(\"correct blocking=\" + System.getenv(\"CUDA_LAUNCH_BLOCKING\")); }"
                        + " @Test @Tag(\"timing\") void timing() { System.out.println(\"timing blocking=\" + System.getenv(\"CUDA_LAUNCH_BLOCKING\")); }");
        List<String> files = new ArrayList<>();
        for (var e : fakes.entrySet()) {
            Path f = src.resolve(e.getKey() + ".java");
            Files.writeString(f, fake(e.getKey(), e.getValue()));
            files.add(f.toString());
        }
        Path javac = Path.of(System.getProperty("java.home"), "bin", "javac");
        Assumptions.assumeTrue(Files.isExecutable(javac), "no javac next to this JVM");
        List<String> args = new ArrayList<>(List.of(javac.toString(), "-d", classes.toString(), "-cp", console.toString(), "-nowarn", "-proc:none"));
        args.addAll(files);
        Process jc = new ProcessBuilder(args).redirectErrorStream(true).start();
        String jlog = new String(jc.getInputStream().readAllBytes());
        assertTrue(jc.waitFor(120, TimeUnit.SECONDS) && jc.exitValue() == 0, "compiling the stand-in classes:\n" + jlog);
        Files.writeString(bundle.resolve("gpu-timing-classes.txt"), PKG + ".Timed\n");

        Path out = dir.resolve("logs");
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        ProcessBuilder pb = new ProcessBuilder("bash", "tools/gpu-check").redirectErrorStream(true);
        pb.environment().putAll(Map.of(
                "BUNDLE", bundle.toString(), "OUT", out.toString(), "KILN_JAVA", java,
                "KILN_GPU_CLASSES", String.join(" ", PKG + ".Passes", PKG + ".Fails", PKG + ".Crashes", PKG + ".Skips", PKG + ".Hangs", PKG + ".Timed"),
                "KILN_GPU_TEST_TIMEOUT", "25", "KILN_GPU_INT8_TIMEOUT", "30", "KILN_INT8_N", "64",
                // the engine and its runtime jars, no JUnit (the console launcher brings its own)
                "KILN_GPU_CLASSPATH", Path.of("target/classes").toAbsolutePath() + File.pathSeparator
                        + Files.readString(Path.of("target/classpath.txt")).strip()));
        pb.environment().remove("CUDA_LAUNCH_BLOCKING");
        Process p = pb.start();
        String log = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(300, TimeUnit.SECONDS), "gpu-check did not finish");
        assertEquals(1, p.exitValue(), log);

        String summary = log.substring(log.lastIndexOf("== kiln gpu-check"));
        System.out.println("GpuCheckScriptTest: gpu-check on stand-in classes printed:\n" + summary);
        assertTrue(summary.lines().anyMatch(l -> l.matches("gpucheckfake\\.Passes\\s+correct\\s+ok\\s+1\\s+1\\s+0\\s+0\\s+\\d+")), summary);
        assertTrue(summary.lines().anyMatch(l -> l.matches("gpucheckfake\\.Fails\\s+correct\\s+FAILED\\s+2\\s+1\\s+1\\s+0\\s+\\d+")), summary);
        assertTrue(summary.lines().anyMatch(l -> l.matches("gpucheckfake\\.Crashes\\s+correct\\s+CRASHED\\s+-\\s+-\\s+-\\s+-\\s+\\d+")), summary);
        assertTrue(summary.lines().anyMatch(l -> l.matches("gpucheckfake\\.Skips\\s+correct\\s+skipped\\s+1\\s+0\\s+0\\s+1\\s+\\d+")),
                "a class whose tests all skipped is not a pass: " + summary);
        assertTrue(summary.lines().anyMatch(l -> l.matches("gpucheckfake\\.Hangs\\s+correct\\s+TIMEOUT\\s+.*")), summary);
        assertTrue(summary.lines().anyMatch(l -> l.matches("gpucheckfake\\.Timed\\s+correct\\s+ok\\s+1\\s+1\\s+0\\s+0\\s+\\d+")), summary);
        assertTrue(summary.lines().anyMatch(l -> l.matches("gpucheckfake\\.Timed\\s+timing\\s+ok\\s+1\\s+1\\s+0\\s+0\\s+\\d+")), summary);
        assertTrue(summary.lines().anyMatch(l -> l.matches("int8 gemm\\s+skipped .*")), summary);
        assertTrue(summary.lines().anyMatch(l -> l.matches("crashes\\s+JVM crash logs in crashes.log")), summary);
        assertTrue(summary.strip().lines().reduce((a, b) -> b).orElse("").matches("exit\\s+1"), summary);

        List<String> kept;
        try (Stream<Path> s = Files.list(out)) {
            kept = s.map(f -> f.getFileName().toString()).sorted().toList();
        }
        assertTrue(kept.size() <= 8, "more than 8 files come back: " + kept);
        assertTrue(kept.stream().noneMatch(f -> f.startsWith("hs_err")), "crash logs left loose: " + kept);
        String crashes = Files.readString(out.resolve("crashes.log"));
        assertTrue(crashes.contains("gpucheckfake.Crashes") && crashes.contains("SIGSEGV"), crashes.lines().limit(5).toList().toString());
        String tests = Files.readString(out.resolve("tests.log"));
        assertTrue(tests.contains("launch blocking=1 sync=true"), "correctness JVMs run with CUDA_LAUNCH_BLOCKING=1 and syncLaunch");
        assertTrue(tests.contains("timing blocking=null"), "timing JVMs run without CUDA_LAUNCH_BLOCKING");
        assertTrue(tests.contains("hanging") && tests.contains("kernel result"), "output of every JVM is in tests.log");
        assertEquals(summary.strip(), Files.readString(out.resolve("summary.txt")).strip());
    }
}
