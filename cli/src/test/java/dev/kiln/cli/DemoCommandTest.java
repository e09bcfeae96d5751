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
        assertTrue(o.contains("kernel times: median of up to"), "says how the kernels were timed:\n" + o);
        // it ends by saying what to try next and where the docs are
        String next = o.substring(o.indexOf("checks passed"));
        for (String s : new String[]{"Try next:", "./kiln bench gemm", "./kiln bench MODEL.onnx --compare ort", "./kiln lab", "docs/"})
            assertTrue(next.contains(s), "the closing lines lack " + s + ":\n" + next);
    }
}
