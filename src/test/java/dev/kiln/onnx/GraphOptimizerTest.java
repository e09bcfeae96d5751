package dev.kiln.onnx;

import dev.kiln.onnx.ops.OpRegistry;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** The load-time graph rewrites give the unoptimized results and apply only to constant weights. */
class GraphOptimizerTest {
    private static final Generator G = new Generator(7);

    @Test
    void cnnGraphFoldsFusesAndMatches() {
        OnnxGraph g = cnn(false);
        OnnxGraph opt = GraphOptimizer.optimize(g);
        // the Gemm (its weight transposed once) and its Relu: one MatMulBias with the Relu in the GEMM's epilogue
        assertEquals(List.of("Conv+Relu", "MaxPool", "Flatten", "MatMulBias"), opt.nodes().stream().map(OnnxNode::opType).toList());
        OnnxNode gemm = opt.nodes().get(3);
        assertFalse(gemm.attributes().containsKey("transB"), "the constant B is stored transposed");
        assertArrayEquals(new int[]{36, 5}, opt.initializers().get(gemm.inputs().get(1)).tensor().shape());
        assertEquals(7, g.nodes().size(), "the input graph is unchanged");
        assertEquals(List.of("x", "W", "B"), g.nodes().get(0).inputs());
        compare(g, "x", Tensor.randn(G, 3, 2, 6, 6));
        compare(cnn(false), "x", Tensor.randn(G, 1, 2, 6, 6)); // single row: the matrix-vector GEMM
    }

    @Test
    void leavesNonConstantWeightsAlone() {
        OnnxGraph g = cnn(true); // conv weight and Gemm B are graph inputs (with initializer defaults)
        OnnxGraph opt = GraphOptimizer.optimize(g);
        List<String> types = opt.nodes().stream().map(OnnxNode::opType).toList();
        assertEquals(List.of("Conv", "BatchNormalization", "Relu", "MaxPool", "Flatten", "Gemm+Relu"), types);
        assertEquals(1, opt.nodes().get(5).attributes().get("transB").i());
        compare(g, "x", Tensor.randn(G, 2, 2, 6, 6));
    }

    @Test
    void convWithTwoConsumersKeepsItsBatchNorm() {
        OnnxGraph base = cnn(false);
        List<ValueInfo> outs = new ArrayList<>(base.outputs());
        outs.add(info("conv"));
        OnnxGraph g = new OnnxGraph("two", base.nodes(), base.inputs(), outs, List.of(), base.initializers());
        OnnxGraph opt = GraphOptimizer.optimize(g);
        assertTrue(opt.nodes().stream().anyMatch(n -> n.opType().equals("BatchNormalization")));
        assertEquals("Conv", opt.nodes().get(0).opType());
        compare(g, "x", Tensor.randn(G, 2, 2, 6, 6));
    }

    @Test
    void reluAfterAnOpReturningItsInputIsNotAppliedInPlace() {
        // MaxPool 1x1 stride 1 may return a fresh copy or not; either way x must stay unchanged
        Map<String, OnnxAttribute> pool = new LinkedHashMap<>();
        pool.put("kernel_shape", ints("kernel_shape", 1, 1));
        OnnxGraph g = new OnnxGraph("p", List.of(node("MaxPool", List.of("x"), "p", pool), node("Relu", List.of("p"), "y", Map.of())),
                List.of(info("x")), List.of(info("y")), List.of(), Map.of());
        assertEquals("MaxPool+Relu", GraphOptimizer.optimize(g).nodes().get(0).opType());
        Tensor x = Tensor.randn(G, 1, 1, 3, 3);
        float[] before = x.toFloatArray();
        compare(g, "x", x);
        assertArrayEquals(before, x.toFloatArray());
    }

    /**
     * A residual block (Conv, Relu, Conv, Add of the block's input, Relu): the last Conv takes in the
     * Add and the Relu, with the conv on either side of the Add; without the Relu, "ConvAdd"; an Add
     * that broadcasts (a per-channel graph input) runs as the separate ops inside the fused node.
     */
    @Test
    void residualAddAndReluJoinTheConv() {
        for (boolean convFirst : new boolean[]{true, false}) {
            OnnxGraph g = residualBlock(convFirst, true, "x");
            assertEquals(List.of("Conv+Relu", "ConvAdd+Relu"), GraphOptimizer.optimize(g).nodes().stream().map(OnnxNode::opType).toList());
            compare(g, "x", Tensor.randn(G, 2, 4, 5, 5));
            compare(residualBlock(convFirst, true, "x"), "x", Tensor.randn(G, 1, 4, 5, 5));
        }
        OnnxGraph noRelu = residualBlock(true, false, "x");
        assertEquals(List.of("Conv+Relu", "ConvAdd"), GraphOptimizer.optimize(noRelu).nodes().stream().map(OnnxNode::opType).toList());
        compare(noRelu, "x", Tensor.randn(G, 2, 4, 5, 5));
        OnnxGraph broadcast = residualBlock(true, true, "s");   // Add(conv, s) with s [1, 4, 1, 1] a graph input
        assertEquals(List.of("Conv+Relu", "ConvAdd+Relu"), GraphOptimizer.optimize(broadcast).nodes().stream().map(OnnxNode::opType).toList());
        OnnxModel m = new OnnxModel(8, "test", "", Map.of("", 17L), broadcast);
        try (OnnxExecutor plain = new OnnxExecutor(m, OpRegistry.standard(), false);
             OnnxExecutor opt = new OnnxExecutor(m, OpRegistry.standard(), true)) {
            Map<String, Value> feed = Map.of("x", Value.of(Tensor.randn(G, 2, 4, 5, 5)), "s", Value.of(Tensor.randn(G, 1, 4, 1, 1)));
            Map<String, Value> want = plain.run(feed), got = opt.run(feed);
            assertArrayEquals(want.get("y").tensor().toFloatArray(), got.get("y").tensor().toFloatArray());
            want.values().forEach(Values::close);
            got.values().forEach(Values::close);
        }
    }

    /** x [N,4,5,5] -> Conv 3x3 -> Relu -> Conv 1x1 -> Add(., residual) [-> Relu] -> y; residual "x" or the graph input "s". */
    private static OnnxGraph residualBlock(boolean convFirst, boolean relu, String residual) {
        Map<String, Value> init = new LinkedHashMap<>();
        init.put("W1", Value.of(Tensor.randn(G, 4, 4, 3, 3)));
        init.put("B1", Value.of(Tensor.randn(G, 4)));
        init.put("W2", Value.of(Tensor.randn(G, 4, 4, 1, 1)));
        init.put("B2", Value.of(Tensor.randn(G, 4)));
        Map<String, OnnxAttribute> c3 = new LinkedHashMap<>();
        c3.put("kernel_shape", ints("kernel_shape", 3, 3));
        c3.put("pads", ints("pads", 1, 1, 1, 1));
        List<OnnxNode> nodes = new ArrayList<>(List.of(
                node("Conv", List.of("x", "W1", "B1"), "c1", c3),
                node("Relu", List.of("c1"), "r1", Map.of()),
                node("Conv", List.of("r1", "W2", "B2"), "c2", Map.of()),
                node("Add", convFirst ? List.of("c2", residual) : List.of(residual, "c2"), relu ? "sum" : "y", Map.of())));
        if (relu) nodes.add(node("Relu", List.of("sum"), "y", Map.of()));
        List<ValueInfo> ins = residual.equals("x") ? List.of(info("x")) : List.of(info("x"), info(residual));
        return new OnnxGraph("res", nodes, ins, List.of(info("y")), List.of(), init);
    }

    /** MatMul, constant bias Add, Relu: one MatMulBias node; with a bias that is a graph input, the Add+Relu fusion in place. */
    @Test
    void biasAddThenReluIsFused() {
        java.util.function.Supplier<Map<String, Value>> init = () -> {
            Map<String, Value> m = new LinkedHashMap<>();
            m.put("W", Value.of(Tensor.randn(new Generator(3), 8, 6)));
            m.put("b", Value.of(Tensor.randn(new Generator(4), 6)));
            return m;
        };
        List<OnnxNode> ffn = List.of(node("MatMul", List.of("x", "W"), "mm", Map.of()),
                node("Add", List.of("b", "mm"), "add", Map.of()), node("Relu", List.of("add"), "y", Map.of()));
        OnnxGraph g = new OnnxGraph("ffn", ffn, List.of(info("x")), List.of(info("y")), List.of(), init.get());
        assertEquals(List.of("MatMulBias"), GraphOptimizer.optimize(g).nodes().stream().map(OnnxNode::opType).toList());
        compare(g, "x", Tensor.randn(G, 2, 5, 8).transpose(0, 1));
        OnnxGraph asInput = new OnnxGraph("ffn_b_input", ffn, List.of(info("x"), info("b")), List.of(info("y")), List.of(), init.get());
        assertEquals(List.of("MatMul", "Add+Relu"), GraphOptimizer.optimize(asInput).nodes().stream().map(OnnxNode::opType).toList());
    }

    /**
     * Linear layers (MatMul + constant bias Add) with an erf GELU, a Relu and none become MatMulBias
     * nodes that match the unfused graph; a bias Add whose output is also read elsewhere stays.
     */
    @Test
    void linearLayersAreFused() {
        java.util.function.Supplier<Map<String, Value>> constants = () -> {
            Generator r = new Generator(5);
            Map<String, Value> init = new LinkedHashMap<>();
            init.put("W1", Value.of(Tensor.randn(r, 12, 40)));
            init.put("b1", Value.of(Tensor.randn(r, 40)));
            init.put("W2", Value.of(Tensor.randn(r, 40, 9)));
            init.put("b2", Value.of(Tensor.randn(r, 1, 9)));
            init.put("W3", Value.of(Tensor.randn(r, 9, 7)));
            init.put("b3", Value.of(Tensor.randn(r, 7)));
            init.put("s2", Value.of(Tensor.fromArray(new float[]{1.4142135f}, 1)));
            init.put("one", Value.of(Tensor.fromArray(new float[]{1f})));
            init.put("half", Value.of(Tensor.fromArray(new float[]{0.5f})));
            return init;
        };
        List<OnnxNode> mlp = List.of(node("MatMul", List.of("x", "W1"), "m1", Map.of()), node("Add", List.of("m1", "b1"), "h", Map.of()),
                node("Div", List.of("h", "s2"), "t0", Map.of()), node("Erf", List.of("t0"), "t1", Map.of()),
                node("Add", List.of("t1", "one"), "t2", Map.of()), node("Mul", List.of("h", "t2"), "t3", Map.of()),
                node("Mul", List.of("t3", "half"), "g1", Map.of()),
                node("MatMul", List.of("g1", "W2"), "m2", Map.of()), node("Add", List.of("b2", "m2"), "a2", Map.of()),
                node("Relu", List.of("a2"), "r2", Map.of()),
                node("MatMul", List.of("r2", "W3"), "m3", Map.of()), node("Add", List.of("m3", "b3"), "y", Map.of()));
        OnnxGraph g = new OnnxGraph("mlp", mlp, List.of(info("x")), List.of(info("y")), List.of(), constants.get());
        List<OnnxNode> opt = GraphOptimizer.optimize(g).nodes();
        assertEquals(List.of("MatMulBias", "MatMulBias", "MatMulBias"), opt.stream().map(OnnxNode::opType).toList());
        assertEquals(List.of("Gelu", "Relu", ""), opt.stream().map(n -> n.attributes().containsKey("activation")
                ? new String(n.attributes().get("activation").s(), java.nio.charset.StandardCharsets.UTF_8) : "").toList());
        compare(g, "x", Tensor.randn(G, 3, 5, 12));
        OnnxGraph vec = new OnnxGraph("mlp_vector", mlp, List.of(info("x")), List.of(info("y")), List.of(), constants.get());
        compare(vec, "x", Tensor.randn(G, 12));                 // a vector input: NumPy shapes, [1, 9] bias broadcast
        // h (the first layer's pre-activation) is also an output: its Add stays, the MatMul becomes a plain MatMulBias
        OnnxGraph g2 = new OnnxGraph("mlp_h", mlp, List.of(info("x")), List.of(info("y"), info("h")), List.of(), constants.get());
        assertEquals(List.of("MatMulBias", "Gelu", "MatMulBias", "MatMulBias"),
                GraphOptimizer.optimize(g2).nodes().stream().map(OnnxNode::opType).toList());
        compare(g2, "x", Tensor.randn(G, 4, 12));
    }

    /**
     * Linear layers as torch.addmm exports them (Hugging Face GPT-2's Conv1D): Gemm -> Reshape ->
     * GELU (tanh) becomes MatMulBias(GELU) -> Reshape, Gemm -> Relu one MatMulBias(Relu); the
     * outputs match the unfused graph. A Reshape output also read elsewhere keeps the GELU apart.
     */
    @Test
    void gemmThenReshapeThenActivationIsFused() {
        java.util.function.Supplier<Map<String, Value>> constants = () -> {
            Generator r = new Generator(9);
            Map<String, Value> init = new LinkedHashMap<>();
            init.put("W1", Value.of(Tensor.randn(r, 12, 40)));
            init.put("b1", Value.of(Tensor.randn(r, 40)));
            init.put("W2", Value.of(Tensor.randn(r, 40, 9)));
            init.put("b2", Value.of(Tensor.randn(r, 9)));
            init.put("shape", Value.of(Tensor.fromArray(new float[]{3, 5, 40}, 3).to(dev.kiln.tensor.DType.I64)));
            return init;
        };
        Map<String, OnnxAttribute> tanh = Map.of("approximate", OnnxAttribute.ofString("approximate", "tanh"));
        List<OnnxNode> mlp = List.of(node("Gemm", List.of("x", "W1", "b1"), "g1", Map.of()), node("Reshape", List.of("g1", "shape"), "r1", Map.of()),
                node("Gelu", List.of("r1"), "h", tanh), node("Gemm", List.of("x2", "W2", "b2"), "g2", Map.of()), node("Relu", List.of("g2"), "y2", Map.of()));
        List<ValueInfo> outs = List.of(info("h"), info("y2"));
        OnnxGraph g = new OnnxGraph("conv1d", mlp, List.of(info("x"), info("x2")), outs, List.of(), constants.get());
        List<OnnxNode> opt = GraphOptimizer.optimize(g).nodes();
        assertEquals(List.of("MatMulBias", "Reshape", "MatMulBias"), opt.stream().map(OnnxNode::opType).toList());
        assertEquals(List.of("GeluTanh", "", "Relu"), opt.stream().map(n -> n.attributes().containsKey("activation")
                ? new String(n.attributes().get("activation").s(), java.nio.charset.StandardCharsets.UTF_8) : "").toList());
        OnnxModel m = new OnnxModel(8, "test", "", Map.of("", 20L), g);
        try (OnnxExecutor plain = new OnnxExecutor(m, OpRegistry.standard(), false);
             OnnxExecutor fused = new OnnxExecutor(m, OpRegistry.standard(), true)) {
            Map<String, Value> feed = Map.of("x", Value.of(Tensor.randn(G, 15, 12)), "x2", Value.of(Tensor.randn(G, 4, 40)));
            Map<String, Value> want = plain.run(feed), got = fused.run(feed);
            for (String name : List.of("h", "y2")) {
                assertArrayEquals(want.get(name).tensor().shape(), got.get(name).tensor().shape(), name);
                float[] w = want.get(name).tensor().toFloatArray(), r = got.get(name).tensor().toFloatArray();
                for (int i = 0; i < w.length; i++) assertEquals(w[i], r[i], 1e-5 * (1 + Math.abs(w[i])), name + "[" + i + "]");
            }
        }
        // r1 is also a graph output: the Gelu stays a node of its own
        OnnxGraph g2 = new OnnxGraph("conv1d_r1", mlp, List.of(info("x"), info("x2")), List.of(info("h"), info("y2"), info("r1")), List.of(),
                constants.get());
        assertEquals(List.of("Gemm", "Reshape", "Gelu", "MatMulBias"), GraphOptimizer.optimize(g2).nodes().stream().map(OnnxNode::opType).toList());
    }

    /** Both exporter spellings of the erf GELU become one fused node; a wrong constant or an extra use keeps the chain. */
    @Test
    void erfGeluChainsAreFused() {
        java.util.function.Supplier<Map<String, Value>> constants = () -> {   // fresh per graph: compare() closes them
            Map<String, Value> init = new LinkedHashMap<>();
            init.put("s2", Value.of(Tensor.fromArray(new float[]{1.4142135f}, 1)));
            init.put("one", Value.of(Tensor.fromArray(new float[]{1f})));
            init.put("half", Value.of(Tensor.fromArray(new float[]{0.5f})));
            init.put("third", Value.of(Tensor.fromArray(new float[]{0.333f})));
            return init;
        };
        // torch.nn.GELU: Mul(Mul(x, 1 + erf(x / sqrt 2)), 0.5)
        List<OnnxNode> torch = List.of(node("Div", List.of("x", "s2"), "t0", Map.of()), node("Erf", List.of("t0"), "t1", Map.of()),
                node("Add", List.of("t1", "one"), "t2", Map.of()), node("Mul", List.of("x", "t2"), "t3", Map.of()),
                node("Mul", List.of("t3", "half"), "y", Map.of()));
        OnnxGraph g = new OnnxGraph("gelu", torch, List.of(info("x")), List.of(info("y")), List.of(), constants.get());
        assertEquals(List.of("Gelu"), GraphOptimizer.optimize(g).nodes().stream().map(OnnxNode::opType).toList());
        compare(g, "x", Tensor.randn(G, 3, 70).mul(3));
        // Hugging Face BERT: Mul(Mul(x, 0.5), 1 + erf(x / sqrt 2)), operands swapped
        List<OnnxNode> hf = List.of(node("Mul", List.of("half", "x"), "h", Map.of()), node("Div", List.of("x", "s2"), "t0", Map.of()),
                node("Erf", List.of("t0"), "t1", Map.of()), node("Add", List.of("one", "t1"), "t2", Map.of()),
                node("Mul", List.of("t2", "h"), "y", Map.of()));
        OnnxGraph g2 = new OnnxGraph("gelu_hf", hf, List.of(info("x")), List.of(info("y")), List.of(), constants.get());
        assertEquals(List.of("Gelu"), GraphOptimizer.optimize(g2).nodes().stream().map(OnnxNode::opType).toList());
        compare(g2, "x", Tensor.randn(G, 4, 33));
        // 0.333 instead of 0.5: not a GELU, nothing fused
        List<OnnxNode> wrong = List.of(torch.get(0), torch.get(1), torch.get(2), torch.get(3), node("Mul", List.of("t3", "third"), "y", Map.of()));
        OnnxGraph g3 = new OnnxGraph("not_gelu", wrong, List.of(info("x")), List.of(info("y")), List.of(), constants.get());
        assertEquals(5, GraphOptimizer.optimize(g3).nodes().size());
        // erf(x / sqrt 2) also a graph output: the chain must stay
        OnnxGraph g4 = new OnnxGraph("used", torch, List.of(info("x")), List.of(info("y"), info("t1")), List.of(), constants.get());
        assertEquals(5, GraphOptimizer.optimize(g4).nodes().size());
    }

    /**
     * MatMul, Div, Add mask, Softmax, MatMul (the BERT self-attention core, Kt as a permuted view)
     * becomes one Attention node with the same outputs as the unfused ops; Mul scale and no mask too.
     */
    @Test
    void attentionPatternsAreFused() {
        Map<String, Value> init = new LinkedHashMap<>();
        init.put("c", Value.of(Tensor.fromArray(new float[]{8f})));
        init.put("mask", Value.of(Tensor.randn(G, 2, 1, 1, 9)));
        Map<String, OnnxAttribute> last = Map.of("axis", new OnnxAttribute("axis", OnnxAttribute.Type.INT, 0, -1, null, null, null,
                new float[0], new long[0], List.of(), List.of(), List.of(), null));
        Map<String, OnnxAttribute> perm = Map.of("perm", ints("perm", 0, 1, 3, 2));
        List<OnnxNode> bert = List.of(node("Transpose", List.of("x"), "kt", perm), node("MatMul", List.of("x", "kt"), "s", Map.of()),
                node("Div", List.of("s", "c"), "sd", Map.of()), node("Add", List.of("sd", "mask"), "sm", Map.of()),
                node("Softmax", List.of("sm"), "p", last), node("MatMul", List.of("p", "x"), "y", Map.of()));
        OnnxGraph g = new OnnxGraph("attn", bert, List.of(info("x")), List.of(info("y")), List.of(), init);
        assertEquals(List.of("Transpose", "Attention"), GraphOptimizer.optimize(g).nodes().stream().map(OnnxNode::opType).toList());
        compare(g, "x", Tensor.randn(G, 2, 3, 9, 5));
        Map<String, Value> init2 = new LinkedHashMap<>();
        init2.put("c", Value.of(Tensor.fromArray(new float[]{0.125f})));
        List<OnnxNode> mulScale = List.of(node("Transpose", List.of("x"), "kt", perm), node("MatMul", List.of("x", "kt"), "s", Map.of()),
                node("Mul", List.of("c", "s"), "sd", Map.of()), node("Softmax", List.of("sd"), "p", last),
                node("MatMul", List.of("p", "x"), "y", Map.of()));
        OnnxGraph g2 = new OnnxGraph("attn_mul", mulScale, List.of(info("x")), List.of(info("y")), List.of(), init2);
        assertEquals(List.of("Transpose", "Attention"), GraphOptimizer.optimize(g2).nodes().stream().map(OnnxNode::opType).toList());
        compare(g2, "x", Tensor.randn(G, 1, 4, 130, 16));
        // GPT-2: the scale divides by a value computed at run time, the causal mask is a Where with a constant fill
        Map<String, Value> init4 = new LinkedHashMap<>();
        init4.put("fill", Value.of(Tensor.fromArray(new float[]{-10000f})));
        float[] causal = new float[9 * 9];
        for (int i = 0; i < 9; i++) for (int j = 0; j <= i; j++) causal[i * 9 + j] = 1;
        init4.put("causal", Value.of(Tensor.fromArray(causal, 1, 1, 9, 9).to(dev.kiln.tensor.DType.BOOL), ElemType.BOOL));
        init4.put("two", Value.of(Tensor.fromArray(new float[]{2f})));
        List<OnnxNode> gpt2 = List.of(node("Transpose", List.of("x"), "kt", perm), node("MatMul", List.of("x", "kt"), "s", Map.of()),
                node("Mul", List.of("two", "two"), "d", Map.of()),                 // a divisor that is not a constant initializer
                node("Div", List.of("s", "d"), "sd", Map.of()), node("Where", List.of("causal", "sd", "fill"), "sw", Map.of()),
                node("Softmax", List.of("sw"), "p", last), node("MatMul", List.of("p", "x"), "y", Map.of()));
        OnnxGraph g4 = new OnnxGraph("attn_gpt2", gpt2, List.of(info("x")), List.of(info("y")), List.of(), init4);
        assertEquals(List.of("Transpose", "Mul", "Attention"), GraphOptimizer.optimize(g4).nodes().stream().map(OnnxNode::opType).toList());
        compare(g4, "x", Tensor.randn(G, 2, 3, 9, 5));
        // the probabilities are also an output: nothing fused
        Map<String, Value> init3 = new LinkedHashMap<>();
        init3.put("c", Value.of(Tensor.fromArray(new float[]{0.125f})));
        OnnxGraph g3 = new OnnxGraph("attn_probs", mulScale, List.of(info("x")), List.of(info("y"), info("p")), List.of(), init3);
        assertEquals(5, GraphOptimizer.optimize(g3).nodes().size());
    }

    /**
     * --precision bf16: MatMul, Gemm and fused Linear layers with constant weights become bf16
     * MatMulBias nodes; the outputs stay within bf16's rounding of the f32 run (8 significant bits
     * per input, f32 sums); a weight that is a graph input stays f32.
     */
    @Test
    void bf16PrecisionRewritesConstantWeightProducts() {
        java.util.function.Supplier<Map<String, Value>> constants = () -> {
            Generator r = new Generator(8);
            Map<String, Value> init = new LinkedHashMap<>();
            init.put("W1", Value.of(Tensor.randn(r, 12, 40)));
            init.put("b1", Value.of(Tensor.randn(r, 40)));
            init.put("W2", Value.of(Tensor.randn(r, 40, 9)));
            init.put("b2", Value.of(Tensor.randn(r, 9)));
            init.put("W3", Value.of(Tensor.randn(r, 9, 7)));
            init.values().forEach(v -> v.tensor().storage().seal());      // as the ONNX reader leaves initializers
            return init;
        };
        List<OnnxNode> mlp = List.of(node("MatMul", List.of("x", "W1"), "m1", Map.of()), node("Add", List.of("m1", "b1"), "a1", Map.of()),
                node("Relu", List.of("a1"), "r1", Map.of()), node("Gemm", List.of("r1", "W2", "b2"), "g2", Map.of()),
                node("MatMul", List.of("g2", "W3"), "y", Map.of()));
        OnnxGraph g = new OnnxGraph("mlp", mlp, List.of(info("x")), List.of(info("y")), List.of(), constants.get());
        List<OnnxNode> opt = GraphOptimizer.optimize(g, true).nodes();
        assertEquals(List.of("MatMulBias", "MatMulBias", "MatMulBias"), opt.stream().map(OnnxNode::opType).toList());
        for (OnnxNode n : opt) assertEquals("bf16", new String(n.attributes().get("precision").s(), java.nio.charset.StandardCharsets.UTF_8));
        Tensor x = Tensor.randn(G, 33, 12);
        OnnxModel m = new OnnxModel(8, "test", "", Map.of("", 17L), g);
        try (OnnxExecutor f32 = new OnnxExecutor(m, OnnxExecutor.Precision.F32); OnnxExecutor bf16 = new OnnxExecutor(m, OnnxExecutor.Precision.BF16)) {
            float[] want = f32.run(List.of(x)).get(0).toFloatArray(), got = bf16.run(List.of(x)).get(0).toFloatArray();
            double worst = 0, scale = 0, diff = 0;
            for (int i = 0; i < want.length; i++) {
                scale = Math.max(scale, Math.abs(want[i]));
                diff = Math.max(diff, Math.abs(want[i] - got[i]));
            }
            worst = diff / scale;
            assertTrue(worst < 2e-2, "bf16 vs f32: max |diff| / max |f32| = " + worst);
            assertTrue(diff > 0, "bf16 run gave the f32 result exactly: the bf16 path did not run");
        }
        // a weight fed as a graph input is not constant: the node stays as it was
        OnnxGraph asInput = new OnnxGraph("w_input", List.of(node("MatMul", List.of("x", "W3"), "y", Map.of())),
                List.of(info("x"), info("W3")), List.of(info("y")), List.of(), constants.get());
        assertEquals(List.of("MatMul"), GraphOptimizer.optimize(asInput, true).nodes().stream().map(OnnxNode::opType).toList());
    }

    /**
     * LayerNorm written out (ReduceMean, Sub, Pow, ReduceMean, Add eps, Sqrt, Div, Mul, Add) becomes
     * one node with the unfused graph's outputs (to float rounding); with d also a graph output the
     * pattern stays.
     */
    @Test
    void writtenOutLayerNormIsFused() {
        java.util.function.Supplier<Map<String, Value>> constants = () -> {
            Generator r = new Generator(12);
            Map<String, Value> init = new LinkedHashMap<>();
            init.put("gamma", Value.of(Tensor.randn(r, 24)));
            init.put("beta", Value.of(Tensor.randn(r, 24)));
            init.put("two", Value.of(Tensor.fromArray(new float[]{2f})));
            init.put("eps", Value.of(Tensor.fromArray(new float[]{1e-12f})));
            return init;
        };
        Map<String, OnnxAttribute> axes = Map.of("axes", ints("axes", -1));
        List<OnnxNode> ln = List.of(node("ReduceMean", List.of("x"), "m", axes), node("Sub", List.of("x", "m"), "d", Map.of()),
                node("Pow", List.of("d", "two"), "p", Map.of()), node("ReduceMean", List.of("p"), "v", axes),
                node("Add", List.of("v", "eps"), "ve", Map.of()), node("Sqrt", List.of("ve"), "sd", Map.of()),
                node("Div", List.of("d", "sd"), "n", Map.of()), node("Mul", List.of("gamma", "n"), "gn", Map.of()),
                node("Add", List.of("gn", "beta"), "y", Map.of()));
        OnnxGraph g = new OnnxGraph("ln", ln, List.of(info("x")), List.of(info("y")), List.of(), constants.get());
        assertEquals(List.of("LayerNormalization"), GraphOptimizer.optimize(g).nodes().stream().map(OnnxNode::opType).toList());
        compare(g, "x", Tensor.randn(G, 2, 7, 24).mul(3).add(1));
        OnnxGraph g2 = new OnnxGraph("ln_d_out", ln, List.of(info("x")), List.of(info("y"), info("d")), List.of(), constants.get());
        assertEquals(9, GraphOptimizer.optimize(g2).nodes().size());
    }

    /**
     * A small ResNet-style graph: from its 3-channel stem on, the convs, the max pool and the global
     * average pool run in the blocked layout; a reader outside the chain (Sigmoid) and a graph output
     * get the planar tensor through one reorder each; the outputs match the planar graph's.
     */
    @Test
    void convChainsMoveToTheBlockedLayout() {
        assumeTrue(dev.kiln.backend.cpu.ConvBlocked.available(), "the native blocked conv kernel is not loaded here");
        OnnxGraph g = blockedNet();
        // (the fused ConvAdd+Relu takes the Add's place, after the Sigmoid)
        assertEquals(List.of("ConvNchwc", "MaxPoolNchwc", "ConvNchwc", "ToNchw", "Sigmoid", "ConvNchwc", "GlobalAveragePoolNchwc", "Flatten", "ToNchw"),
                GraphOptimizer.optimize(g).nodes().stream().map(OnnxNode::opType).toList());
        compare(blockedNet(), "x", Tensor.randn(G, 2, 3, 12, 12));
        compare(blockedNet(), "x", Tensor.randn(G, 1, 3, 9, 13));
        BlockedLayout.enabled = false;
        try {
            assertFalse(GraphOptimizer.optimize(g).nodes().stream().anyMatch(n -> n.opType().endsWith("Nchwc")));
        } finally {
            BlockedLayout.enabled = true;
        }
    }

    /** x [N,3,H,W] -> stem conv (32, 3x3, stride 2) -> Relu -> MaxPool 3x3/2 -> residual block (1x1, 3x3, Add of the pool, Relu) -> GlobalAveragePool -> Flatten; Sigmoid of the block's middle as a second reader. */
    private static OnnxGraph blockedNet() {
        Map<String, Value> init = new LinkedHashMap<>();
        init.put("W1", Value.of(Tensor.randn(G, 32, 3, 3, 3)));
        init.put("B1", Value.of(Tensor.randn(G, 32)));
        init.put("W2", Value.of(Tensor.randn(G, 32, 32, 1, 1).mul(0.2)));
        init.put("W3", Value.of(Tensor.randn(G, 32, 32, 3, 3).mul(0.1)));
        init.put("B3", Value.of(Tensor.randn(G, 32)));
        Map<String, OnnxAttribute> stem = new LinkedHashMap<>(), c3 = new LinkedHashMap<>(), pool = new LinkedHashMap<>();
        stem.put("pads", ints("pads", 1, 1, 1, 1));
        stem.put("strides", ints("strides", 2, 2));
        c3.put("kernel_shape", ints("kernel_shape", 3, 3));
        c3.put("pads", ints("pads", 1, 1, 1, 1));
        pool.put("kernel_shape", ints("kernel_shape", 3, 3));
        pool.put("strides", ints("strides", 2, 2));
        pool.put("pads", ints("pads", 1, 1, 1, 1));
        List<OnnxNode> nodes = List.of(
                node("Conv", List.of("x", "W1", "B1"), "c1", stem), node("Relu", List.of("c1"), "r1", Map.of()),
                node("MaxPool", List.of("r1"), "p1", pool),
                node("Conv", List.of("p1", "W2"), "c2", Map.of()), node("Relu", List.of("c2"), "r2", Map.of()),
                node("Conv", List.of("r2", "W3", "B3"), "c3", c3), node("Sigmoid", List.of("r2"), "sg", Map.of()),
                node("Add", List.of("c3", "p1"), "s", Map.of()), node("Relu", List.of("s"), "y1", Map.of()),
                node("GlobalAveragePool", List.of("y1"), "gap", Map.of()), node("Flatten", List.of("gap"), "y", Map.of()));
        return new OnnxGraph("blocked", nodes, List.of(info("x")), List.of(info("y"), info("y1"), info("sg")), List.of(), init);
    }

    /**
     * A QDQ model as ORT's quantize_static writes it: per-channel int8 conv weights, an int32 bias
     * and per-tensor uint8 activations, each behind DequantizeLinear. The weights fold into float
     * initializers, each activation's QuantizeLinear -> DequantizeLinear becomes one FakeQuant, the
     * conv then fuses its ReLU (and runs blocked where the native kernel is, taking in the FakeQuant
     * of its output); outputs match the unoptimized graph's reference ops.
     */
    @Test
    void qdqModelFoldsItsWeightsAndFakeQuantizesActivations() {
        java.util.function.Supplier<OnnxGraph> qdq = () -> {
            Generator g = new Generator(9);
            Map<String, Value> init = new LinkedHashMap<>();
            double[] wq = new double[32 * 3 * 3 * 3];
            for (int i = 0; i < wq.length; i++) wq[i] = Math.floorMod(i * 37, 255) - 127;
            init.put("Wq", Value.of(Tensor.fromDoubles(dev.kiln.tensor.DType.I8, wq, 32, 3, 3, 3), ElemType.INT8));
            init.put("Ws", Value.of(Tensor.uniform(g, 0.001, 0.01, dev.kiln.tensor.DType.F32, 32)));
            init.put("Wz", Value.of(Tensor.fromDoubles(dev.kiln.tensor.DType.I8, new double[32], 32), ElemType.INT8));
            double[] bq = new double[32];
            for (int i = 0; i < 32; i++) bq[i] = i * 100 - 1600;
            init.put("Bq", Value.of(Tensor.fromDoubles(dev.kiln.tensor.DType.I32, bq, 32), ElemType.INT32));
            init.put("Bs", Value.of(Tensor.fromArray(new float[]{0.0002f})));
            init.put("xs", Value.of(Tensor.fromArray(new float[]{0.02f})));
            init.put("xz", Value.of(Tensor.fromDoubles(dev.kiln.tensor.DType.I32, new double[]{128}), ElemType.UINT8));
            init.put("rs", Value.of(Tensor.fromArray(new float[]{0.03f})));
            init.put("rz", Value.of(Tensor.fromDoubles(dev.kiln.tensor.DType.I32, new double[]{0}), ElemType.UINT8));
            init.put("Mq", Value.of(Tensor.fromDoubles(dev.kiln.tensor.DType.I8, java.util.stream.IntStream.range(0, 32 * 5).mapToDouble(i -> (i * 13) % 200 - 100).toArray(), 32, 5), ElemType.INT8));
            init.put("Ms", Value.of(Tensor.fromArray(new float[]{0.01f})));
            Map<String, OnnxAttribute> conv = new LinkedHashMap<>(), axis0 = new LinkedHashMap<>();
            conv.put("pads", ints("pads", 1, 1, 1, 1));
            axis0.put("axis", OnnxAttribute.ofInt("axis", 0));
            List<OnnxNode> nodes = List.of(
                    node("QuantizeLinear", List.of("x", "xs", "xz"), "xq", Map.of()), node("DequantizeLinear", List.of("xq", "xs", "xz"), "xd", Map.of()),
                    node("DequantizeLinear", List.of("Wq", "Ws", "Wz"), "W", axis0), node("DequantizeLinear", List.of("Bq", "Bs"), "B", Map.of()),
                    node("Conv", List.of("xd", "W", "B"), "c", conv), node("Relu", List.of("c"), "r", Map.of()),
                    node("QuantizeLinear", List.of("r", "rs", "rz"), "rq", Map.of()), node("DequantizeLinear", List.of("rq", "rs", "rz"), "rd", Map.of()),
                    node("GlobalAveragePool", List.of("rd"), "gap", Map.of()), node("Flatten", List.of("gap"), "f", Map.of()),
                    node("DequantizeLinear", List.of("Mq", "Ms"), "M", Map.of()), node("MatMul", List.of("f", "M"), "y", Map.of()));
            return new OnnxGraph("qdq", nodes, List.of(info("x")), List.of(info("y")), List.of(), init);
        };
        List<String> types = GraphOptimizer.optimize(qdq.get()).nodes().stream().map(OnnxNode::opType).toList();
        // blocked, the conv also takes in the FakeQuant of its output
        assertEquals(dev.kiln.backend.cpu.ConvBlocked.available() ? List.of("FakeQuant", "ConvNchwc", "GlobalAveragePoolNchwc", "Flatten", "MatMul")
                : List.of("FakeQuant", "Conv+Relu", "FakeQuant", "GlobalAveragePool", "Flatten", "MatMul"), types);
        compare(qdq.get(), "x", Tensor.randn(G, 2, 3, 9, 10));
    }

    /** Which fusions fire on the real-architecture exports (torch 1.13, testdata/real-models): per layer one of each. */
    @Test
    void fusionsFireOnRealExports() throws Exception {
        // the small ResNet's stem has 2 output channels (not a multiple of 32), so no chain starts: the planar fusions below
        assertFalse(GraphOptimizer.optimize(OnnxReader.read(java.nio.file.Path.of("testdata/real-models", "resnet50_op17.onnx")).graph())
                .nodes().stream().anyMatch(n -> n.opType().contains("Nchw")));
        BlockedLayout.enabled = false;   // the fusions underneath it
        try {
            fusionsFireOnRealExportsPlanar();
        } finally {
            BlockedLayout.enabled = true;
        }
    }

    private void fusionsFireOnRealExportsPlanar() throws Exception {
        java.util.function.Function<String, Map<String, Integer>> fused = name -> {
            try {
                OnnxGraph g = GraphOptimizer.optimize(OnnxReader.read(java.nio.file.Path.of("testdata/real-models", name)).graph());
                Map<String, Integer> c = new java.util.TreeMap<>();
                for (OnnxNode n : g.nodes()) if (FusedOps.isFused(n)) c.merge(n.opType(), 1, Integer::sum);
                return c;
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        };
        // 2 layers: attention; six Linear layers each (q, k, v, output, and the two of the MLP, the first with its erf GELU)
        assertEquals(Map.of("Attention", 2, "MatMulBias", 12), fused.apply("bert_op17.onnx"));
        // the attention output and FFN output layers take in the skip connection's Add (2 per layer)
        OnnxGraph bert = GraphOptimizer.optimize(OnnxReader.read(java.nio.file.Path.of("testdata/real-models", "bert_op17.onnx")).graph());
        assertEquals(4, bert.nodes().stream().filter(n -> n.opType().equals("MatMulBias") && n.inputs().size() == 4).count());
        assertEquals(Map.of("Attention", 2, "MatMulBias", 12, "LayerNormalization", 5), fused.apply("bert_op13.onnx"));  // opset 13: LayerNorm written out
        // Where-masked attention; the MLP's Gemm (Conv1D) takes in the tanh GELU after its Reshape
        // and the present key/values (both layers' k and v) as one StackNested
        assertEquals(Map.of("Attention", 2, "MatMulBias", 2, "StackNested", 1), fused.apply("gpt2_op17.onnx"));   // no past: no Concat
        assertEquals(Map.of("ConvAdd+Relu", 4, "Conv+Relu", 9), fused.apply("resnet50_op17.onnx"));  // each block's Add and Relu in its last conv
        assertEquals(Map.of("Attention", 2, "MatMulBias", 2, "LayerNormalization", 5, "StackNested", 1), fused.apply("gpt2_op13.onnx"));   // opset 13: LayerNorm written out
        // the decode step: attention over the cache too, and each layer's Concat of past and new keys/values writes into its
        // slot of the stacked present (ConcatSlot)
        assertEquals(Map.of("Attention", 2, "MatMulBias", 2, "LayerNormalization", 5, "StackNested", 1, "ConcatSlot", 4), fused.apply("gpt2_decode_op13.onnx"));
        assertEquals(Map.of("Attention", 2, "MatMulBias", 2, "StackNested", 1, "ConcatSlot", 4), fused.apply("gpt2_decode_op17.onnx"));
    }

    /** The fusions fire on TensorFlow graphs lowered from SavedModels (testdata/savedmodel): Keras' layer norm form, tanh GELU, attention. */
    @Test
    void fusionsFireOnLoweredSavedModels() throws Exception {
        java.util.function.Function<String, Map<String, Integer>> fused = name -> {
            try {
                var sm = dev.kiln.savedmodel.SavedModel.load(java.nio.file.Path.of("testdata/savedmodel", name));
                OnnxModel m = sm.toOnnx(sm.defaultSignature());
                try {
                    OnnxGraph g = GraphOptimizer.optimize(m.graph());
                    Map<String, Integer> c = new java.util.TreeMap<>();
                    for (OnnxNode n : g.nodes()) if (FusedOps.isFused(n) || n.opType().equals("Einsum")) c.merge(n.opType(), 1, Integer::sum);
                    return c;
                } finally {
                    OnnxExecutor.release(m);
                }
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        };
        // two written-out layer norms, attention; q/k/v/output/FFN projections with their bias (the FFN's first
        // an Einsum 'bsd,df->bsf' lowered to MatMul, whose tanh GELU the GEMM epilogue applies)
        assertEquals(Map.of("Attention", 1, "LayerNormalization", 2, "MatMulBias", 6), fused.apply("transformer"));
        // Conv2D + BiasAdd + FusedBatchNormV3 + Relu: one Conv+Relu (the BiasAdd becomes the Conv's bias, then the batch
        // norm folds in); the strided Conv2D keeps its Relu6 (Clip) apart
        assertEquals(Map.of("Conv+Relu", 1, "MatMulBias", 1), fused.apply("cnn"));
    }

    /**
     * A decoder's present key/values as exporters write them (per layer k and v Unsqueezed and
     * concatenated, then the layers the same way) become one StackNested node with the same output;
     * an intermediate that is also a graph output keeps the written-out form.
     */
    @Test
    void stackOfStacksBecomesOneNode() {
        for (boolean exposed : new boolean[]{false, true}) {
            Map<String, Value> init = new LinkedHashMap<>();
            init.put("axis0", Value.of(Tensor.fromArray(new long[]{0}, 1)));
            List<OnnxNode> nodes = new ArrayList<>();
            List<String> layers = new ArrayList<>();
            for (int l = 0; l < 3; l++) {
                List<String> kv = new ArrayList<>();
                for (int j = 0; j < 2; j++) {
                    String c = "c" + l + j;
                    init.put(c, Value.of(Tensor.fromArray(new float[]{l + 0.5f * j + 1}, 1)));
                    nodes.add(node("Mul", List.of("x", c), "w" + l + j, Map.of()));
                    nodes.add(node("Unsqueeze", List.of("w" + l + j, "axis0"), "u" + l + j, Map.of()));
                    kv.add("u" + l + j);
                }
                nodes.add(node("Concat", kv, "s" + l, Map.of("axis", OnnxAttribute.ofInt("axis", 0))));
                nodes.add(node("Unsqueeze", List.of("s" + l, "axis0"), "t" + l, Map.of()));
                layers.add("t" + l);
            }
            nodes.add(node("Concat", layers, "y", Map.of("axis", OnnxAttribute.ofInt("axis", 0))));
            List<ValueInfo> outs = exposed ? List.of(info("y"), info("s1")) : List.of(info("y"));
            OnnxGraph g = new OnnxGraph("present", nodes, List.of(info("x")), outs, List.of(), init);
            List<String> types = GraphOptimizer.optimize(g).nodes().stream().map(OnnxNode::opType).toList();
            assertEquals(!exposed, types.contains("StackNested"), types.toString());
            assertEquals(exposed, types.contains("Concat"), types.toString());
            compare(g, "x", Tensor.randn(G, 1, 4, 5));
        }
    }

    /**
     * Stacked values that Concats make (a decoder's past + new keys per layer) are written straight
     * into their slots of the stack (ConcatSlot), also when another node reads them and when one is
     * stacked twice; two runs in a row give the plain executor's outputs (the slots are the run's own).
     */
    @Test
    void concatsWriteIntoTheirSlotsOfTheStack() {
        for (boolean exposed : new boolean[]{false, true}) concatSlots(exposed);
    }

    /** exposed: w10 is also a graph output (it stays a Concat, with memory of its own). */
    private static void concatSlots(boolean exposed) {
        Map<String, Value> init = new LinkedHashMap<>();
        init.put("axis0", Value.of(Tensor.fromArray(new long[]{0}, 1)));
        List<OnnxNode> nodes = new ArrayList<>();
        List<String> layers = new ArrayList<>(), reads = new ArrayList<>();
        for (int l = 0; l < 3; l++) {
            List<String> kv = new ArrayList<>();
            for (int j = 0; j < 2; j++) {
                String c = "c" + l + j, w = "w" + l + j;
                init.put(c, Value.of(Tensor.fromArray(new float[]{l + 0.5f * j + 1}, 1)));
                nodes.add(node("Mul", List.of("x", c), "m" + l + j, Map.of()));
                // the layer's past (x) and its new entries (m) along axis 1, as a GPT-2 export's Concat(past_k, k)
                nodes.add(node("Concat", List.of("x", "m" + l + j), w, Map.of("axis", OnnxAttribute.ofInt("axis", 1))));
                nodes.add(node("Neg", List.of(w), "read" + l + j, Map.of()));     // attention reads the concatenated cache too
                reads.add("read" + l + j);
                String stacked = l == 2 && j == 1 ? "w20" : w;                     // the last layer stacks its k twice
                nodes.add(node("Unsqueeze", List.of(stacked, "axis0"), "u" + l + j, Map.of()));
                kv.add("u" + l + j);
            }
            nodes.add(node("Concat", kv, "s" + l, Map.of("axis", OnnxAttribute.ofInt("axis", 0))));
            nodes.add(node("Unsqueeze", List.of("s" + l, "axis0"), "t" + l, Map.of()));
            layers.add("t" + l);
        }
        nodes.add(node("Concat", layers, "y", Map.of("axis", OnnxAttribute.ofInt("axis", 0))));
        nodes.add(node("Sum", reads, "r", Map.of()));
        List<ValueInfo> outs = exposed ? List.of(info("y"), info("r"), info("w10")) : List.of(info("y"), info("r"));
        OnnxGraph g = new OnnxGraph("present", nodes, List.of(info("x")), outs, List.of(), init);
        List<String> types = GraphOptimizer.optimize(g).nodes().stream().map(OnnxNode::opType).toList();
        assertEquals(1, types.stream().filter("StackNested"::equals).count(), types.toString());
        // w20 once, w21 is not stacked, w10 as a graph output stays a Concat
        assertEquals(exposed ? 4 : 5, types.stream().filter("ConcatSlot"::equals).count(), types.toString());
        OnnxModel m = new OnnxModel(8, "test", "", Map.of("", 17L), g);
        try (OnnxExecutor plain = new OnnxExecutor(m, OpRegistry.standard(), false);
             OnnxExecutor opt = new OnnxExecutor(m, OpRegistry.standard(), true)) {
            for (int run = 0; run < 2; run++) {
                Map<String, Value> feed = Map.of("x", Value.of(Tensor.randn(G, 2, 3, 4)));
                Map<String, Value> want = plain.run(feed), got = opt.run(feed);
                for (String name : exposed ? List.of("y", "r", "w10") : List.of("y", "r")) {
                    assertArrayEquals(want.get(name).tensor().shape(), got.get(name).tensor().shape(), name);
                    assertArrayEquals(want.get(name).tensor().toFloatArray(), got.get(name).tensor().toFloatArray(), name + ", run " + run);
                }
                want.values().forEach(Values::close);
                got.values().forEach(Values::close);
                feed.values().forEach(Values::close);
            }
        }
    }

    // ------------------------------------------------------------------ helpers

    /** Runs g with and without the optimizer and compares every output (1e-5 relative); closes g's tensors. */
    private static void compare(OnnxGraph g, String input, Tensor x) {
        OnnxModel m = new OnnxModel(8, "test", "", Map.of("", 17L), g);
        try (OnnxExecutor plain = new OnnxExecutor(m, OpRegistry.standard(), false);
             OnnxExecutor opt = new OnnxExecutor(m, OpRegistry.standard(), true)) {
            Map<String, Value> feed = Map.of(input, Value.of(x));
            Map<String, Value> want = plain.run(feed), got = opt.run(feed);
            for (String name : want.keySet()) {
                float[] w = want.get(name).tensor().toFloatArray(), r = got.get(name).tensor().toFloatArray();
                assertEquals(w.length, r.length, name);
                for (int i = 0; i < w.length; i++)
                    assertEquals(w[i], r[i], 1e-5 * (1 + Math.abs(w[i])), name + "[" + i + "]");
            }
            want.values().forEach(Values::close);
            got.values().forEach(Values::close);
        }
    }

    /** x [N,2,6,6] -> Conv(4, 3x3, pad 1) -> BN -> Relu -> MaxPool 2x2 -> Flatten -> Gemm(5, transB) -> Relu. */
    private static OnnxGraph cnn(boolean weightsAsInputs) {
        Map<String, Value> init = new LinkedHashMap<>();
        init.put("W", Value.of(Tensor.randn(G, 4, 2, 3, 3)));
        init.put("B", Value.of(Tensor.randn(G, 4)));
        init.put("scale", Value.of(Tensor.fromArray(new float[]{1.5f, 0.5f, -2f, 1f}, 4)));
        init.put("shift", Value.of(Tensor.fromArray(new float[]{0.1f, -0.3f, 0.7f, 0f}, 4)));
        init.put("mean", Value.of(Tensor.fromArray(new float[]{0.2f, -1f, 0.5f, 3f}, 4)));
        init.put("var", Value.of(Tensor.fromArray(new float[]{0.5f, 2f, 1.2f, 0.01f}, 4)));
        init.put("GW", Value.of(Tensor.randn(G, 5, 36)));
        init.put("GB", Value.of(Tensor.randn(G, 5)));
        Map<String, OnnxAttribute> conv = new LinkedHashMap<>();
        conv.put("kernel_shape", ints("kernel_shape", 3, 3));
        conv.put("pads", ints("pads", 1, 1, 1, 1));
        Map<String, OnnxAttribute> bn = Map.of("epsilon", new OnnxAttribute("epsilon", OnnxAttribute.Type.FLOAT, 1e-3f, 0,
                null, null, null, new float[0], new long[0], List.of(), List.of(), List.of(), null));
        Map<String, OnnxAttribute> pool = new LinkedHashMap<>();
        pool.put("kernel_shape", ints("kernel_shape", 2, 2));
        pool.put("strides", ints("strides", 2, 2));
        Map<String, OnnxAttribute> gemm = Map.of("transB", new OnnxAttribute("transB", OnnxAttribute.Type.INT, 0, 1,
                null, null, null, new float[0], new long[0], List.of(), List.of(), List.of(), null));
        List<OnnxNode> nodes = List.of(
                node("Conv", List.of("x", "W", "B"), "conv", conv),
                node("BatchNormalization", List.of("conv", "scale", "shift", "mean", "var"), "bn", bn),
                node("Relu", List.of("bn"), "r1", Map.of()),
                node("MaxPool", List.of("r1"), "pool", pool),
                node("Flatten", List.of("pool"), "flat", Map.of()),
                node("Gemm", List.of("flat", "GW", "GB"), "gemm", gemm),
                node("Relu", List.of("gemm"), "y", Map.of()));
        List<ValueInfo> inputs = weightsAsInputs ? List.of(info("x"), info("W"), info("GW")) : List.of(info("x"));
        return new OnnxGraph("cnn", nodes, inputs, List.of(info("y")), List.of(), init);
    }

    private static OnnxNode node(String op, List<String> ins, String out, Map<String, OnnxAttribute> attrs) {
        return new OnnxNode(out + "_node", op, "", ins, List.of(out), attrs);
    }

    private static OnnxAttribute ints(String name, long... v) {
        return new OnnxAttribute(name, OnnxAttribute.Type.INTS, 0, 0, null, null, null, new float[0], v, List.of(), List.of(), List.of(), null);
    }

    private static ValueInfo info(String name) {
        return new ValueInfo(name, ValueInfo.Kind.TENSOR, ElemType.FLOAT, null, null);
    }
}
