package dev.kiln.cli;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The {@code kiln} launcher works when reached through a chain of symlinks on PATH (e.g.
 * ~/bin/kiln -> ../opt/kiln -> checkout/kiln): it finds its checkout, not the link's folder.
 * Runs only when the launcher is built and up to date (as under {@code ./kiln test}), so the test
 * never starts a build of its own.
 */
class LauncherSymlinkTest {
    @TempDir Path tmp;

    @Test
    void launcherRunsThroughARelativeSymlinkChainOnPath() throws Exception {
        Path root = Path.of("").toAbsolutePath();
        Path launcher = root.resolve("kiln");
        Assumptions.assumeTrue(Files.isExecutable(launcher) && upToDate(root), "kiln launcher not built or out of date; run ./kiln test");
        Path bin = Files.createDirectories(tmp.resolve("home/bin")), opt = Files.createDirectories(tmp.resolve("opt"));
        Files.createSymbolicLink(opt.resolve("kiln"), launcher);
        Files.createSymbolicLink(bin.resolve("kiln"), Path.of("../../opt/kiln"));
        ProcessBuilder pb = new ProcessBuilder("bash", "-c", "kiln --version").directory(tmp.toFile()).redirectErrorStream(true);
        pb.environment().put("PATH", bin + ":" + System.getenv("PATH"));
        pb.environment().put("JAVA_HOME", System.getProperty("java.home"));
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), out);
        assertEquals(0, p.exitValue(), out);
        assertTrue(out.contains("kiln 0.1.0"), out);
    }

    /** The launcher's own needs_build test: the stamp and class paths exist and no source is newer. */
    private static boolean upToDate(Path root) throws IOException {
        Path stamp = root.resolve("target/.kiln-built");
        if (!Files.exists(stamp) || !Files.exists(root.resolve("target/classpath.txt")) || !Files.exists(root.resolve("bench/target/classpath.txt")))
            return false;
        FileTime built = Files.getLastModifiedTime(stamp);
        for (String s : List.of("pom.xml", "src/main", "native/cpu", "bench/pom.xml", "bench/src")) {
            Path p = root.resolve(s);
            if (!Files.exists(p)) continue;
            try (Stream<Path> files = Files.walk(p)) {
                if (files.filter(Files::isRegularFile).anyMatch(f -> newer(f, built))) return false;
            }
        }
        return true;
    }

    private static boolean newer(Path f, FileTime t) {
        try {
            return Files.getLastModifiedTime(f).compareTo(t) > 0;
        } catch (IOException e) {
            return true;
        }
    }
}
