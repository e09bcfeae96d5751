package dev.kiln.cli;

import org.junit.jupiter.api.Test;
import picocli.CommandLine;
import picocli.CommandLine.Model.OptionSpec;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.nio.file.NoSuchFileException;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The command line's contract: subcommands, help everywhere, exit codes, one-line errors. */
class MainTest {

    @Test
    void helpListsSubcommands() {
        CliRun r = CliRun.of("--help");
        assertEquals(0, r.code());
        for (String sub : new String[]{"info", "demo", "bench", "help", "--verbose", "Exit codes"})
            assertTrue(r.out().contains(sub), "help lacks " + sub + ":\n" + r.out());
        CliRun b = CliRun.of("bench", "--help");
        assertEquals(0, b.code());
        for (String sub : new String[]{"gemm", "elementwise", "jmh"})
            assertTrue(b.out().contains(sub), "bench help lacks " + sub + ":\n" + b.out());
    }

    @Test
    void noSubcommandPrintsUsage() {
        CliRun r = CliRun.of();
        assertEquals(0, r.code());
        assertTrue(r.out().startsWith("Usage: kiln"), r.out());
    }

    @Test
    void everyCommandHasHelpOption() {
        checkHelp(new Main().commandLine());
    }

    private static void checkHelp(CommandLine cl) {
        assertTrue(cl.getCommandSpec().options().stream().anyMatch(OptionSpec::usageHelp),
                cl.getCommandSpec().qualifiedName() + " has no --help");
        for (CommandLine sub : cl.getSubcommands().values()) checkHelp(sub);
    }

    @Test
    void subcommandHelpWorks() {
        for (String[] args : new String[][]{{"demo", "-h"}, {"info", "--help"}, {"bench", "elementwise", "-h"}, {"bench", "gemm", "-h"}, {"help", "bench"}}) {
            CliRun r = CliRun.of(args);
            assertEquals(0, r.code(), String.join(" ", args));
            assertTrue(r.out().startsWith("Usage: kiln"), String.join(" ", args) + ": " + r.out());
        }
    }

    @Test
    void badOptionIsOneLineExit2() {
        for (String[] args : new String[][]{{"--bogus"}, {"nosuchcommand"}, {"bench", "elementwise", "--size", "abc"}, {"demo", "--seed"}}) {
            CliRun r = CliRun.of(args);
            assertEquals(2, r.code(), String.join(" ", args));
            assertEquals(1, r.errLines().size(), "expected one line, got:\n" + r.err());
            assertTrue(r.err().startsWith("kiln: "), r.err());
            assertFalse(r.err().contains("\tat "), r.err());
        }
        assertTrue(CliRun.of("--bogus").err().contains("'--bogus'"));
    }

    @Test
    void badInputFromCommandIsExit2() {
        CliRun r = CliRun.of("bench", "elementwise", "--size", "0");
        assertEquals(2, r.code());
        assertEquals(1, r.errLines().size(), r.err());
        assertTrue(r.err().contains("--size must be >= 1"), r.err());
    }

    @Test
    void verbosePrintsStackTrace() {
        CliRun r = CliRun.of("--verbose", "bench", "elementwise", "--size", "0");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("\tat dev.kiln.cli.BenchElementwise"), r.err());
        CliRun late = CliRun.of("bench", "elementwise", "--size", "0", "--verbose"); // inherited option
        assertTrue(late.err().contains("\tat "), late.err());
    }

    @Test
    void missingJmhRunnerIsFailureExit1() {
        // the engine's tests run without the bench module on the classpath
        CliRun r = CliRun.of("bench", "jmh", "Nothing");
        assertEquals(1, r.code());
        assertEquals(1, r.errLines().size(), r.err());
        assertTrue(r.err().contains("JMH benchmarks are not on the classpath"), r.err());
    }

    @Test
    void exitCodesByExceptionType() {
        assertEquals(2, Main.exitCode(new IllegalArgumentException("x")));
        assertEquals(2, Main.exitCode(new NoSuchFileException("/no/such")));
        assertEquals(2, Main.exitCode(new UncheckedIOException(new java.io.IOException("bad header"))));
        assertEquals(2, Main.exitCode(new OutOfMemoryError("too big")));
        assertEquals(1, Main.exitCode(new IllegalStateException("x")));
        assertEquals(1, Main.exitCode(new UnsupportedOperationException("x")));
        assertEquals(1, Main.exitCode(new NullPointerException()));
    }

    @Test
    void messagesAreOneLine() {
        assertEquals("no such file: /no/such", Main.message(new NoSuchFileException("/no/such")));
        assertEquals("bad header in x.npy", Main.message(new UncheckedIOException(new java.io.IOException("bad header in x.npy"))));
        assertEquals("matmul: shapes [2, 3] and [4, 5]; do not match", Main.message(new IllegalArgumentException("matmul: shapes [2, 3] and [4, 5]\n  do not match")));
        assertEquals("out of memory: cannot allocate 8 bytes", Main.message(new OutOfMemoryError("kiln: cannot allocate 8 bytes")));
        assertEquals("NullPointerException", Main.message(new NullPointerException()));
        assertTrue(Main.message(new NoClassDefFoundError("jdk/incubator/vector/FloatVector")).contains("--add-modules jdk.incubator.vector"));
        StringWriter sw = new StringWriter();
        int code = new Main().report(new PrintWriter(sw), new IllegalStateException("boom"));
        assertEquals(1, code);
        assertEquals("kiln: IllegalStateException: boom (rerun with --verbose for the stack trace)", sw.toString().strip());
    }
}
