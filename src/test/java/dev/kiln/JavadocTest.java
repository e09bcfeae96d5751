package dev.kiln;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.spi.ToolProvider;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The engine's API documentation builds: javadoc with doclint (HTML, syntax, references; not
 * "missing comment") over every source file passes, as {@code mvn -Prelease install} needs for the
 * javadoc jar. A {@code <} in a comment that is not inside {@code {@code ...}} fails here.
 */
class JavadocTest {
    @Test
    void javadocBuildsWithoutErrors() throws IOException {
        Path out = Files.createTempDirectory("kiln-javadoc");
        List<String> args = new ArrayList<>(List.of("-quiet", "-d", out.toString(), "--add-modules", "jdk.incubator.vector",
                "-Xdoclint:all,-missing", "-cp", System.getProperty("java.class.path")));
        try (Stream<Path> files = Files.walk(Path.of("src/main/java"))) {
            files.filter(p -> p.toString().endsWith(".java") && !p.getFileName().toString().equals("module-info.java"))
                    .forEach(p -> args.add(p.toString()));
        }
        ToolProvider javadoc = ToolProvider.findFirst("javadoc").orElseThrow();
        StringWriter log = new StringWriter();
        int rc;
        try (PrintWriter w = new PrintWriter(log)) {
            rc = javadoc.run(w, w, args.toArray(String[]::new));
        } finally {
            try (Stream<Path> s = Files.walk(out)) {
                s.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
        String text = log.toString();
        assertEquals(0, rc, "javadoc failed:\n" + text.substring(0, Math.min(text.length(), 4000)));
    }
}
