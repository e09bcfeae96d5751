package dev.kiln.cli;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** End to end: {@code kiln demo --quick}. */
class DemoCommandTest {
    @Test
    void quickDemoPrintsCheckedTable() {
        CliRun r = CliRun.of("demo", "--quick");
        assertEquals(0, r.code(), r.out() + r.err());
        String o = r.out();
        for (String s : new String[]{"stage", "mlp forward", "gemm", "elementwise", "reduction", "GFLOP/s", "GB/s"})
            assertTrue(o.contains(s), "table lacks " + s + ":\n" + o);
        assertTrue(o.matches("(?s).*all \\d+ checks passed.*"), o);
        assertTrue(!o.contains("FAILED"), o);
    }
}
