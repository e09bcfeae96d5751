package dev.kiln.lab;

import dev.kiln.backend.cpu.CpuConfig;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The lab's registry and runner: built-in variants validate, wrong ones are reported failing. */
class LabTest {
    private final LabRunner runner = new LabRunner(7, 1, 2, 0.5);

    @Test
    void everyBuiltInCpuVariantValidatesOnEveryOp() {
        Map<String, LabOp> ops = LabOps.builtIn();
        assertEquals(java.util.List.of("add", "exp", "gelu", "softmax", "sum", "gemm", "gemm-bf16", "gemm-int8", "conv", "conv-int8", "maxpool-int8"), java.util.List.copyOf(ops.keySet()));
        for (LabOp op : ops.values()) {
            assertTrue(op.variants().size() >= 2, op.name() + " has kiln and kiln-scalar");
            for (Variant v : op.variants()) {
                if (!v.device().equals("cpu")) continue;
                Validation val = runner.validate(op, v);
                assertTrue(val.passed(), op.name() + "/" + v.name() + ": " + val.failure());
                assertTrue(val.maxError() >= 0 && val.maxError() < 1e-3, op.name() + "/" + v.name() + " max err " + val.maxError());
            }
        }
        assertNotNull(ops.get("add").variant("add-256bit"));
        for (String op : java.util.List.of("gelu", "softmax", "gemm")) assertNotNull(ops.get(op).variant("kiln-vector-api"), op);
        assertNotNull(ops.get("gemm").variant("kiln-transposed-a"));
        assertNotNull(ops.get("conv").variant("kiln-blocked-vector-api"));
        if (dev.kiln.backend.cpu.ConvBlocked.available()) assertNotNull(ops.get("conv").variant("kiln-blocked"));
    }

    @Test
    void wrongVariantIsReportedAsFailing() {
        LabOp add = LabOps.builtIn().get("add");
        // a + b + 1e-3: off by more than the tolerance everywhere
        add.register(new Variant("off-by-1e-3", "cpu", in -> {
            try (Tensor s = in[0].add(in[1])) { return s.add(1e-3); }
        }));
        Validation val = runner.validate(add, add.variant("off-by-1e-3"));
        assertFalse(val.passed());
        assertEquals(1e-3, val.maxError(), 1e-5);
        assertTrue(val.failure().startsWith("size 1: element 0"), val.failure());
    }

    @Test
    void wrongShapeAndThrowingVariantsFail() {
        LabOp sum = LabOps.builtIn().get("sum");
        sum.register(new Variant("no-reduce", "cpu", in -> in[0].exp()));
        sum.register(new Variant("throws", "cpu", in -> { throw new IllegalStateException("boom"); }));
        Validation shape = runner.validate(sum, sum.variant("no-reduce"));
        assertFalse(shape.passed()); // size 1 passes only if exp(x) == x: it does not
        Validation thrown = runner.validate(sum, sum.variant("throws"));
        assertFalse(thrown.passed());
        assertTrue(thrown.failure().contains("IllegalStateException: boom"), thrown.failure());
    }

    @Test
    void scalarTwinRestoresTheSetting() {
        boolean was = CpuConfig.scalar();
        LabOp exp = LabOps.builtIn().get("exp");
        assertTrue(runner.validate(exp, exp.variant("kiln-scalar")).passed());
        assertEquals(was, CpuConfig.scalar());
    }

    @Test
    void timingGivesAPositiveMedian() {
        LabOp add = LabOps.builtIn().get("add");
        double s = runner.time(add, add.variant("add-256bit"), new int[]{4096});
        assertTrue(s > 0 && s < 1, "seconds " + s);
        assertEquals(12.0 * 4096, add.work(new int[]{4096}));
    }

    @Test
    void sizesParseAndDuplicateNamesAreRejected() {
        Map<String, LabOp> ops = LabOps.builtIn();
        assertEquals("45x65", LabOp.sizeText(ops.get("add").parseSize("45x65")));
        assertEquals("64x64x64", LabOp.sizeText(ops.get("gemm").parseSize("64")));
        assertThrows(IllegalArgumentException.class, () -> ops.get("gemm").parseSize("4x4"));
        assertThrows(IllegalArgumentException.class, () -> ops.get("add").parseSize("abc"));
        assertThrows(IllegalArgumentException.class,
                () -> ops.get("add").register(new Variant("kiln", "cpu", in -> in[0])));
        assertThrows(IllegalArgumentException.class, () -> new Variant("x", "tpu", in -> in[0]));
    }
}
