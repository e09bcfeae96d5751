package dev.kiln.cli;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class InfoCommandTest {
    @Test
    void infoReportsJdkCpuVectorAndCuda() {
        CliRun r = CliRun.of("info");
        assertEquals(0, r.code(), r.err());
        assertEquals("", r.err());
        String o = r.out();
        assertTrue(o.contains("java:") && o.contains(Runtime.version().toString()), o);
        assertTrue(o.contains("cpu cores:    " + Runtime.getRuntime().availableProcessors()), o);
        assertTrue(o.matches("(?s).*vector api: +preferred species \\d+-bit \\(\\d+ floats\\).*"), o);
        assertTrue(o.contains("threads="), o);
        assertTrue(o.contains("cuda:         ops run on the CPU only"), o);
        assertTrue(o.contains("cuda runtime:"), o);
    }

    @Test
    void probeTurnsErrorsIntoText() {
        assertEquals("unavailable (UnsatisfiedLinkError: no lib)", InfoCommand.probe(() -> { throw new UnsatisfiedLinkError("no lib"); }));
        assertEquals("fine", InfoCommand.probe(() -> "fine"));
    }
}
