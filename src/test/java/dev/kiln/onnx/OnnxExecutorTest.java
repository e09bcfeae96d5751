package dev.kiln.onnx;

import dev.kiln.onnx.conformance.ConformanceReport;
import dev.kiln.onnx.conformance.NodeTestRunner;
import dev.kiln.onnx.ops.OpRegistry;
import dev.kiln.tensor.Storage;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static dev.kiln.onnx.ProtoBytes.*;
import static org.junit.jupiter.api.Assertions.*;

class OnnxExecutorTest {
    static final Path MODELS = Path.of("src/test/resources/onnx/models");

    /** y = relu(x + W + b) * x, xid = Identity(x); W and b are initializers, b also a graph input. */
    static OnnxModel smallModel() throws IOException {
        ProtoBytes g = msg()
                .message(1, node("Add", "add1", new String[]{"x", "W"}, new String[]{"a"}))
                .message(1, node("Add", "add2", new String[]{"a", "b"}, new String[]{"c"}))
                .message(1, node("Relu", "relu", new String[]{"c"}, new String[]{"r"}))
                .message(1, node("Mul", "mul", new String[]{"r", "x"}, new String[]{"y"}))
                .message(1, node("Identity", "id", new String[]{"x"}, new String[]{"xid"}))
                .string(2, "small")
                .message(5, tensor("W", 1, 3).bytes(9, le(12).putFloat(1).putFloat(2).putFloat(3).array()))
                .message(5, tensor("b", 1, 3).bytes(9, new byte[12]))
                .message(11, valueInfo("x", 1, "batch", 3L))
                .message(11, valueInfo("b", 1, 3L))
                .message(12, valueInfo("y", 1, "batch", 3L))
                .message(12, valueInfo("xid", 1, "batch", 3L));
        return OnnxReader.read(model(g, 13), "small.onnx", null);
    }

    private static Map<String, Value> in(String name, Tensor t) {
        Map<String, Value> m = new LinkedHashMap<>();
        m.put(name, Value.of(t));
        return m;
    }

    @Test
    void runsAMultiNodeModelAndClosesIntermediates() throws IOException {
        try (OnnxExecutor ex = new OnnxExecutor(smallModel(), TestOps.registry());
             Tensor x = Tensor.fromArray(new float[]{1, -5, 2, -1, 0, 1}, 2, 3)) {
            assertEquals(List.of("x"), ex.feedInputs().stream().map(ValueInfo::name).toList());
            long live = Storage.liveCountIgnoringCleaner();
            Map<String, Value> out = ex.run(in("x", x));
            assertEquals(List.of("y", "xid"), List.copyOf(out.keySet()));
            // relu(x + W) * x
            assertArrayEquals(new float[]{2, -0f, 10, -0f, 0, 4}, out.get("y").tensor().toFloatArray());
            assertArrayEquals(x.toFloatArray(), out.get("xid").tensor().toFloatArray());
            assertNotSame(x, out.get("xid").tensor(), "a borrowed input is handed out as an alias");
            assertEquals(live + 1, Storage.liveCountIgnoringCleaner(), "only y's storage is new; a, c, r were closed");
            out.values().forEach(Values::close);
            assertFalse(x.isClosed(), "closing an output alias leaves the input open");
            assertEquals(live, Storage.liveCountIgnoringCleaner());
            // an input named like an initializer overrides it
            try (Tensor b = Tensor.full(10, dev.kiln.tensor.DType.F32, 3)) {
                Map<String, Value> feeds = in("x", x);
                feeds.put("b", Value.of(b));
                Map<String, Value> o2 = ex.run(feeds);
                assertEquals(12f * 1, o2.get("y").tensor().toFloatArray()[0]);
                o2.values().forEach(Values::close);
            }
        }
    }

    @Test
    void runsOnTensorsInFeedOrder() throws IOException {
        try (OnnxExecutor ex = new OnnxExecutor(smallModel(), TestOps.registry());
             Tensor x = Tensor.fromArray(new float[]{1, -5, 2, -1, 0, 1}, 2, 3)) {
            List<Tensor> out = ex.run(List.of(x));
            assertEquals(2, out.size());
            assertArrayEquals(new float[]{2, -0f, 10, -0f, 0, 4}, out.get(0).toFloatArray());
            assertArrayEquals(x.toFloatArray(), out.get(1).toFloatArray());
            out.forEach(Tensor::close);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ex.run(List.of(x, x)));
            assertTrue(e.getMessage().contains("takes 1 inputs [x], got 2"), e.getMessage());
        }
    }

    @Test
    void inputsAreCheckedAgainstTheirDeclarations() throws IOException {
        try (OnnxExecutor ex = new OnnxExecutor(smallModel(), TestOps.registry());
             Tensor ok = Tensor.zeros(5, 3); Tensor wrongDim = Tensor.zeros(2, 4); Tensor wrongRank = Tensor.zeros(3);
             Tensor wrongType = Tensor.zeros(dev.kiln.tensor.DType.F64, 2, 3)) {
            ex.run(in("x", ok)).values().forEach(Values::close); // symbolic batch accepts 5
            assertMessage(() -> ex.run(Map.of()), "missing model input 'x' (FLOAT [batch, 3])");
            assertMessage(() -> ex.run(in("x", wrongDim)), "input 'x' must have size 3 at axis 1 [batch, 3], got shape [2, 4]");
            assertMessage(() -> ex.run(in("x", wrongRank)), "input 'x' must have rank 2");
            assertMessage(() -> ex.run(in("x", wrongType)), "input 'x' must be FLOAT, got DOUBLE");
            assertMessage(() -> ex.run(in("z", ok)), "model has no input 'z'");
        }
    }

    @Test
    void unsupportedOpsAreReportedAtLoad() throws IOException {
        OnnxModel m = smallModel();
        OnnxException e = assertThrows(OnnxException.class, () -> new OnnxExecutor(m, OpRegistry.empty()));
        assertTrue(e.getMessage().startsWith("4 unsupported ONNX ops: Add 'add1' (opset 13); Relu 'relu' (opset 13)"), e.getMessage());
        OpRegistry onlyAdd = OpRegistry.empty();
        onlyAdd.register("Add", c -> List.of());
        onlyAdd.register("Relu", c -> List.of());
        onlyAdd.register("Mul", c -> List.of());
        OnnxException one = assertThrows(OnnxException.class, () -> new OnnxExecutor(m, onlyAdd));
        assertEquals("unsupported ONNX op Identity 'id' (opset 13)", one.getMessage());
    }

    @Test
    void nodesOutOfTopologicalOrderAreRefusedAtLoad() throws IOException {
        ProtoBytes g = msg()
                .message(1, node("Relu", "late", new String[]{"a"}, new String[]{"y"}))
                .message(1, node("Relu", "early", new String[]{"x"}, new String[]{"a"}))
                .message(11, valueInfo("x", 1, 2L)).message(12, valueInfo("y", 1, 2L));
        OnnxModel m = OnnxReader.read(model(g, 13), "order.onnx", null);
        OnnxException e = assertThrows(OnnxException.class, () -> new OnnxExecutor(m, TestOps.registry()));
        assertTrue(e.getMessage().contains("node 0 Relu 'late': input 'a' is not a graph input"), e.getMessage());
    }

    @Test
    void opErrorsNameTheNodeAndFreeWhatTheRunMade() throws IOException {
        ProtoBytes g = msg()
                .message(1, node("Relu", "r", new String[]{"x"}, new String[]{"a"}))
                .message(1, node("Add", "add1", new String[]{"a", "W"}, new String[]{"y"}))
                .message(5, tensor("W", 1, 3).bytes(9, new byte[12]))
                .message(11, valueInfo("x", 1, "n")).message(12, valueInfo("y", 1, "n"));
        try (OnnxExecutor ex = new OnnxExecutor(OnnxReader.read(model(g, 13), "bad.onnx", null), TestOps.registry());
             Tensor x = Tensor.zeros(4)) {
            long live = Storage.liveCountIgnoringCleaner();
            assertMessage(() -> ex.run(in("x", x)), "Add 'add1' (opset 13): ");
            assertEquals(live, Storage.liveCountIgnoringCleaner(), "the Relu output is closed when a later node fails");
        }
    }

    @Test
    void readsEveryAttributeKind() throws IOException {
        ProtoBytes sub = msg().message(1, node("Identity", "", new String[]{"x"}, new String[]{"o"}))
                .message(12, valueInfo("o", 1));
        ProtoBytes n = node("Foo", "f", new String[]{"x", ""}, new String[]{"y"})
                .message(5, msg().string(1, "i").varint(20, 2).varint(3, -7))
                .message(5, msg().string(1, "f").varint(20, 1).fixed32(2, Float.floatToIntBits(0.5f)))
                .message(5, msg().string(1, "s").varint(20, 3).string(4, "hello"))
                .message(5, msg().string(1, "ints").varint(20, 7).packed(8, 1, 2, 3))
                .message(5, msg().string(1, "floats").varint(20, 6).fixed32(7, Float.floatToIntBits(1f)).fixed32(7, Float.floatToIntBits(2f)))
                .message(5, msg().string(1, "strings").varint(20, 8).string(9, "a").string(9, "b"))
                .message(5, msg().string(1, "t").varint(20, 4).message(5, tensor("", 7, 2).packed(7, 4, 5)))
                .message(5, msg().string(1, "g").varint(20, 5).message(6, sub))
                .message(5, msg().string(1, "ref").varint(20, 2).string(21, "outer"))
                .message(5, msg().string(1, "untyped").varint(3, 9));
        ProtoBytes g = msg().message(1, n).message(11, valueInfo("x", 1)).message(12, valueInfo("y", 1));
        OnnxModel m = OnnxReader.read(model(g, 17), "attrs.onnx", null);
        assertEquals(17, m.opset());
        assertEquals("kiln-test", m.producerName());
        OnnxNode node = m.graph().nodes().getFirst();
        assertEquals(List.of("x", ""), node.inputs());
        var a = node.attributes();
        assertEquals(-7, a.get("i").i());
        assertEquals(0.5f, a.get("f").f());
        assertEquals("hello", a.get("s").string());
        assertArrayEquals(new long[]{1, 2, 3}, a.get("ints").ints());
        assertArrayEquals(new float[]{1, 2}, a.get("floats").floats());
        assertEquals(2, a.get("strings").strings().size());
        assertArrayEquals(new long[]{4, 5}, a.get("t").t().tensor().toLongArray());
        assertEquals("Identity", a.get("g").g().nodes().getFirst().opType());
        assertEquals("outer", a.get("ref").refAttrName());
        assertEquals(OnnxAttribute.Type.INT, a.get("untyped").type());
        assertEquals(9, a.get("untyped").i());
    }

    @Test
    void controlFlowAndSequenceModelsPass() throws IOException {
        // node tests copied from the ONNX backend data (If, Loop, Scan, SequenceMap, optionals, sequences)
        ConformanceReport r = new NodeTestRunner(TestOps.registry(), 10_000).run(MODELS, null);
        for (ConformanceReport.Case c : r.cases()) assertTrue(c.passed(), c.test() + ": " + c.reason());
        assertEquals(11, r.cases().size());
        assertEquals("Loop", r.find("test_loop11").op());
    }

    @Test
    void runnerRecordsFailuresWithoutStopping() throws IOException {
        ConformanceReport r = new NodeTestRunner(OpRegistry.empty(), 10_000).run(MODELS, java.util.regex.Pattern.compile("relu|if$"));
        assertEquals(2, r.cases().size());
        assertEquals(0, r.passed());
        assertEquals("unsupported ONNX op Relu (opset 9)", r.find("test_single_relu_model").reason().replaceAll("'[^']*' ", ""));
        assertTrue(r.toJson().contains("\"test\": \"test_if\""), r.toJson());
        assertEquals(List.of("If", "Relu"), r.failingOps());
    }

    @Test
    void infoDescribesTheModel() throws IOException {
        String text = OnnxInfo.describe(smallModel());
        assertTrue(text.contains("x: FLOAT [batch, 3]"), text);
        assertTrue(text.contains("nodes: 5 (4 op types)"), text);
        assertTrue(text.contains("initializers: 2, 6 parameters, 24 bytes"), text);
        assertTrue(text.contains("ops: Kiln runs all 4 op types"), text);
        OpRegistry some = OpRegistry.empty();
        for (String op : new String[]{"Add", "Relu", "Mul"}) some.register(op, c -> List.of());
        String partial = OnnxInfo.describe(smallModel(), some);
        assertTrue(partial.contains("ops not supported by Kiln (1 of 4): Identity"), partial);
    }

    /**
     * Repeated runs leave no memory behind, without the GC's help: live storages after the 2nd and the
     * 6th run of a GPT-2 decode graph are the same. (A Reshape reading its shape input through a
     * contiguous() view it never closed kept 24 small shape tensors per run alive until a GC.)
     */
    @Test
    void repeatedRunsReleaseEverything() throws Exception {
        try (OnnxExecutor ex = new OnnxExecutor(OnnxReader.read(java.nio.file.Path.of("testdata/decoder/gpt2_tiny.onnx")))) {
            int[] live = new int[6];
            for (int r = 0; r < 6; r++) {
                java.util.List<Tensor> in = new java.util.ArrayList<>();
                in.add(Tensor.fromArray(new long[] {5}, 1, 1));
                in.add(Tensor.ones(dev.kiln.tensor.DType.I64, 1, 6));
                for (int i = 0; i < 4; i++) in.add(Tensor.zeros(1, 4, 5, 16));
                ex.run(in).forEach(Tensor::close);
                in.forEach(Tensor::close);
                live[r] = dev.kiln.tensor.Storage.liveCount();
            }
            assertEquals(live[1], live[5], "live storages after run 2 and run 6: " + java.util.Arrays.toString(live));
        }
    }

    private static void assertMessage(org.junit.jupiter.api.function.Executable e, String part) {
        OnnxException ex = assertThrows(OnnxException.class, e);
        assertTrue(ex.getMessage().contains(part), ex.getMessage());
    }
}
