package dev.kiln.compress.quant;

import dev.kiln.compress.OnnxRuns;

import dev.kiln.io.KilnFormatException;
import dev.kiln.onnx.OnnxModel;
import dev.kiln.onnx.OnnxNode;
import dev.kiln.onnx.OnnxReader;
import dev.kiln.onnx.Value;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * kiln quantize's ONNX writer on the small BERT fixture (the Hugging Face layout, 2 layers): every
 * MatMul with a float weight becomes the quantize_dynamic pattern, the rest of the file is kept
 * byte for byte, Kiln's int8 output stays close to the float output (cosine), and ONNX Runtime
 * runs the written file to the same outputs as Kiln.
 */
class OnnxDynamicQuantizerTest {
    private static final Path BERT = Path.of("testdata/real-models/bert_op17.onnx");

    @TempDir Path dir;

    @Test
    void bertBecomesTheDynamicPatternAndStaysClose() throws Exception {
        for (boolean perChannel : new boolean[]{false, true}) {
            Path out = dir.resolve("bert_int8_" + perChannel + ".onnx");
            var r = OnnxDynamicQuantizer.quantize(BERT, out, new OnnxDynamicQuantizer.Options(Set.of("MatMul", "Gemm"), Set.of(), perChannel));
            OnnxModel f32 = OnnxReader.read(BERT), q = OnnxReader.read(out);
            long matmulsWithWeights = f32.graph().nodes().stream().filter(n -> (n.opType().equals("MatMul") || n.opType().equals("Gemm"))
                    && f32.graph().initializers().containsKey(n.inputs().get(1))).count();
            long gemms = f32.graph().nodes().stream().filter(n -> n.opType().equals("Gemm")).count();
            assertTrue(matmulsWithWeights > 0);
            assertEquals(matmulsWithWeights, r.nodes().size());
            assertEquals(matmulsWithWeights, count(q, "MatMulInteger"));
            assertEquals(matmulsWithWeights, count(q, "DynamicQuantizeLinear"));
            assertEquals(0, q.graph().nodes().stream().filter(n -> (n.opType().equals("MatMul") || n.opType().equals("Gemm"))
                    && q.graph().initializers().containsKey(n.inputs().get(1))).count(), "no float-weight MatMul or Gemm left");
            assertEquals(f32.graph().nodes().size() + 4 * matmulsWithWeights + gemms, q.graph().nodes().size(), "+4 nodes each, +1 per Gemm bias");
            assertEquals(f32.opsets(), q.opsets());
            for (OnnxNode n : f32.graph().nodes()) {             // each float weight replaced by its int8 form
                if (!(n.opType().equals("MatMul") || n.opType().equals("Gemm")) || !f32.graph().initializers().containsKey(n.inputs().get(1)))
                    continue;
                String w = n.inputs().get(1);
                assertTrue(!q.graph().initializers().containsKey(w), w);
                assertEquals(dev.kiln.onnx.ElemType.INT8, ((Value.TensorValue) q.graph().initializers().get(w + "_quantized")).type(), w);
            }

            Map<String, Tensor> in = OnnxRuns.bertInputs();
            try {
                Map<String, float[]> ref = OnnxRuns.kiln(BERT, in), got = OnnxRuns.kiln(out, in);
                for (String name : ref.keySet())
                    assertTrue(cosine(ref.get(name), got.get(name)) >= 0.999, name + " cosine " + cosine(ref.get(name), got.get(name)));
                Map<String, float[]> ort = OnnxRuns.ort(out, in);
                for (String name : got.keySet()) {
                    double d = OnnxRuns.maxDiff(got.get(name), ort.get(name));
                    assertTrue(d <= 1e-5, "ONNX Runtime vs Kiln on the int8 file, " + name + ": max |diff| " + d);
                }
            } finally {
                in.values().forEach(Tensor::close);
            }
        }
    }

    /** Weight-only 4- and 8-bit blocks (MatMulNBits): ORT runs the file to Kiln's outputs; close to float. */
    @Test
    void weightOnlyBlocksRunInOrtAndKiln() throws Exception {
        for (int bits : new int[]{4, 8}) {
            Path out = dir.resolve("bert_w" + bits + ".onnx");
            var r = OnnxDynamicQuantizer.quantize(BERT, out, new OnnxDynamicQuantizer.Options(Set.of("MatMul", "Gemm"), Set.of(), false, bits, 32, 0));
            OnnxModel q = OnnxReader.read(out);
            assertEquals(r.nodes().size(), count(q, "MatMulNBits"));
            assertEquals(1L, q.opsets().get("com.microsoft"));
            Map<String, Tensor> in = OnnxRuns.bertInputs();
            try {
                Map<String, float[]> ref = OnnxRuns.kiln(BERT, in), got = OnnxRuns.kiln(out, in), ort = OnnxRuns.ort(out, in);
                for (String name : ref.keySet()) {
                    double cos = cosine(ref.get(name), got.get(name));
                    assertTrue(cos >= (bits == 4 ? 0.99 : 0.9999), bits + " bits, " + name + " cosine " + cos);
                    double d = OnnxRuns.maxDiff(got.get(name), ort.get(name));
                    assertTrue(d <= 1e-4, "ONNX Runtime vs Kiln, " + bits + " bits, " + name + ": max |diff| " + d);
                }
            } finally {
                in.values().forEach(Tensor::close);
            }
        }
    }

    @Test
    void excludedNodesStayFloatAndBadInputIsOneLine() throws Exception {
        OnnxModel f32 = OnnxReader.read(BERT);
        List<String> names = f32.graph().nodes().stream().filter(n -> n.opType().equals("MatMul")
                && f32.graph().initializers().containsKey(n.inputs().get(1))).map(OnnxNode::name).toList();   // Gemm left out by op type
        Path out = dir.resolve("partial.onnx");
        var r = OnnxDynamicQuantizer.quantize(BERT, out, new OnnxDynamicQuantizer.Options(Set.of("MatMul"), Set.of(names.get(0)), false));
        assertEquals(names.size() - 1, r.nodes().size());
        assertEquals(names.size() - 1, count(OnnxReader.read(out), "MatMulInteger"));

        Path junk = dir.resolve("junk.onnx");
        Files.write(junk, new byte[]{8, 1, 0x3a, 100, 1});
        assertThrows(KilnFormatException.class, () -> OnnxDynamicQuantizer.quantize(junk, dir.resolve("x.onnx"), OnnxDynamicQuantizer.Options.defaults()));
        assertTrue(Files.notExists(dir.resolve("x.onnx")));
    }

    private static long count(OnnxModel m, String op) { return m.graph().nodes().stream().filter(n -> n.opType().equals(op)).count(); }

    private static double cosine(float[] a, float[] b) {
        double dot = 0, na = 0, nb = 0;
        for (int i = 0; i < a.length; i++) {
            dot += (double) a[i] * b[i];
            na += (double) a[i] * a[i];
            nb += (double) b[i] * b[i];
        }
        return dot / Math.sqrt(na * nb);
    }
}
