package dev.kiln.compress.prune;

import dev.kiln.compress.OnnxRuns;

import dev.kiln.io.KilnFormatException;
import dev.kiln.onnx.OnnxModel;
import dev.kiln.onnx.OnnxReader;
import dev.kiln.onnx.Value;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * kiln prune on ONNX transformer files (the small BERT fixtures, Hugging Face layout, 2 layers of
 * 2 heads x 8 and 32 FFN neurons, opset 13 and 17; and the small GPT-2, whose FFNs only are
 * recognized): heads and neurons are removed physically; the
 * pruned file computes what the dense file computes with the dropped heads' output rows and the
 * dropped neurons' W2 rows zeroed (maskOnly, checked in Kiln); ONNX Runtime runs the pruned file to
 * Kiln's outputs; bad requests fail in one line before anything is written.
 */
class OnnxStructuredPrunerTest {
    @TempDir Path dir;

    private static final List<Path> BERTS = List.of(Path.of("testdata/real-models/bert_op17.onnx"), Path.of("testdata/real-models/bert_op13.onnx"));

    @Test
    void bertHeadsAndNeuronsAreRemovedAndTheFunctionIsTheMaskedOne() throws Exception {
        for (Path bert : BERTS) {
            Path pruned = dir.resolve("pruned.onnx"), masked = dir.resolve("masked.onnx");
            var r = OnnxStructuredPruner.prune(bert, pruned, new OnnxStructuredPruner.Options(0.5, 0.5, false));
            var m = OnnxStructuredPruner.prune(bert, masked, new OnnxStructuredPruner.Options(0.5, 0.5, true));
            assertEquals(2, r.attentionLayers(), bert + ": " + r.notes());
            assertEquals(2, r.headsBefore());
            assertEquals(1, r.headsAfter());
            assertEquals(2, r.ffnLayers());
            assertEquals(32, r.ffnBefore());
            assertEquals(16, r.ffnAfter());
            assertTrue(r.bytesOut() < r.bytesIn(), "smaller file: " + r.bytesOut() + " vs " + r.bytesIn());
            assertEquals(r.bytesIn(), Files.size(bert));
            assertTrue(m.bytesOut() >= r.bytesIn() - 64, "masking keeps every shape");

            OnnxModel dense = OnnxReader.read(bert), small = OnnxReader.read(pruned);
            assertEquals(dense.graph().nodes().size(), small.graph().nodes().size(), "same graph, smaller weights");
            long denseParams = params(dense), smallParams = params(small);
            // per layer: Q, K, V lose 16 x 8 weights and 8 biases each, the output projection 8 x 16; the FFN 16 x 16 + 16 + 16 x 16
            assertEquals(denseParams - 2 * (3 * (16 * 8 + 8) + 8 * 16) - 2 * (16 * 16 + 16 + 16 * 16), smallParams);

            Map<String, Tensor> in = OnnxRuns.bertInputs();
            Map<String, float[]> a = OnnxRuns.kiln(pruned, in), b = OnnxRuns.kiln(masked, in), d = OnnxRuns.kiln(bert, in);
            for (String k : a.keySet()) {
                assertEquals(0, OnnxRuns.maxDiff(a.get(k), b.get(k)), 2e-5, bert + " " + k + ": pruned vs masked");
                assertTrue(OnnxRuns.maxDiff(a.get(k), d.get(k)) > 1e-4, "pruning changed the output (it is not a no-op)");
            }
            Map<String, float[]> ort = OnnxRuns.ort(pruned, in);
            for (String k : a.keySet()) assertEquals(0, OnnxRuns.maxDiff(a.get(k), ort.get(k)), 2e-5, bert + " " + k + ": Kiln vs ONNX Runtime on the pruned file");
        }
    }

    /** GPT-2 as its Conv1D exports: Gemm + Reshape FFNs are pruned (their width constants rewritten); its fused q/k/v heads are left alone and said so. */
    @Test
    void gpt2FfnNeuronsAreRemovedAndItsHeadsLeftAlone() throws Exception {
        Path gpt2 = Path.of("testdata/real-models/gpt2_op17.onnx"), pruned = dir.resolve("g.onnx"), masked = dir.resolve("gm.onnx");
        var r = OnnxStructuredPruner.prune(gpt2, pruned, new OnnxStructuredPruner.Options(0.5, 0.5, false));
        OnnxStructuredPruner.prune(gpt2, masked, new OnnxStructuredPruner.Options(0.5, 0.5, true));
        assertEquals(2, r.ffnLayers());
        assertEquals(64, r.ffnBefore());
        assertEquals(32, r.ffnAfter());
        assertEquals(0, r.attentionLayers());
        assertTrue(r.notes().stream().anyMatch(n -> n.contains("Softmax") && n.contains("left alone")), r.notes().toString());
        Map<String, Tensor> in = Map.of("input_ids", Tensor.fromArray(new long[]{3, 17, 5, 29, 11, 2, 30, 8}, 1, 8));
        Map<String, float[]> a = OnnxRuns.kiln(pruned, in), b = OnnxRuns.kiln(masked, in), d = OnnxRuns.kiln(gpt2, in);
        for (String k : a.keySet()) assertEquals(0, OnnxRuns.maxDiff(a.get(k), b.get(k)), 2e-5, "gpt2 " + k + ": pruned vs masked");
        assertTrue(OnnxRuns.maxDiff(a.get("logits"), d.get("logits")) > 1e-5, "pruning changed the logits");
        Map<String, float[]> ort = OnnxRuns.ort(pruned, in);
        for (String k : a.keySet()) assertEquals(0, OnnxRuns.maxDiff(a.get(k), ort.get(k)), 2e-5, "gpt2 " + k + ": Kiln vs ONNX Runtime on the pruned file");
    }

    @Test
    void nothingPrunedKeepsTheFunction() throws Exception {
        Path out = dir.resolve("same.onnx");
        var r = OnnxStructuredPruner.prune(BERTS.get(0), out, new OnnxStructuredPruner.Options(0, 0, false));
        assertEquals(r.headsBefore(), r.headsAfter());
        assertEquals(r.ffnBefore(), r.ffnAfter());
        Map<String, Tensor> in = OnnxRuns.bertInputs();
        Map<String, float[]> a = OnnxRuns.kiln(out, in), d = OnnxRuns.kiln(BERTS.get(0), in);
        for (String k : a.keySet()) assertArrayEquals(d.get(k), a.get(k), 1e-6f);
    }

    @Test
    void badRequestsAreOneLineAndWriteNothing() throws Exception {
        assertThrows(IllegalArgumentException.class, () -> new OnnxStructuredPruner.Options(1.0, 0, false));
        assertThrows(IllegalArgumentException.class, () -> new OnnxStructuredPruner.Options(0, -0.1, false));
        Path out = dir.resolve("x.onnx");
        var e = assertThrows(KilnFormatException.class, () -> OnnxStructuredPruner.prune(Path.of("testdata/real-models/resnet50_op17.onnx"), out,
                new OnnxStructuredPruner.Options(0.5, 0.5, false)));
        assertTrue(e.getMessage().contains("no attention block or FFN"), e.getMessage());
        Path junk = dir.resolve("junk.onnx");
        Files.write(junk, new byte[]{8, 1, 0x3a, 100, 1});
        assertThrows(KilnFormatException.class, () -> OnnxStructuredPruner.prune(junk, out, new OnnxStructuredPruner.Options(0.5, 0.5, false)));
        assertTrue(Files.notExists(out));
    }

    private static long params(OnnxModel m) {
        long n = 0;
        for (Value v : m.graph().initializers().values()) if (v instanceof Value.TensorValue tv && tv.tensor().dtype() == dev.kiln.tensor.DType.F32) n += tv.tensor().numel();
        return n;
    }
}
