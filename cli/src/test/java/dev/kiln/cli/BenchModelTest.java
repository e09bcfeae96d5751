package dev.kiln.cli;

import dev.kiln.io.Npy;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code kiln bench MODEL} on the small real-architecture fixtures (testdata/real-models). */
class BenchModelTest {
    static final Path DIR = Path.of("testdata/real-models");
    @TempDir Path tmp;

    @Test
    void benchesOnnxWithGeneratedInputsProfileAndJson() throws Exception {
        Path json = tmp.resolve("r/bert.json");
        Files.createDirectories(json.getParent());          // output folders must exist (checked before any work)
        CliRun r = CliRun.of("bench", DIR.resolve("bert_op17.onnx").toString(), "--shape", "input_ids=2x8", "--shape", "attention_mask=2x8",
                "--threads", "1", "--warmup", "2", "--iters", "3", "--profile", "--json", json.toString());
        assertEquals(Main.OK, r.code(), r.err());
        assertTrue(r.out().contains("inputs: input_ids int64 2x8, attention_mask int64 2x8"), r.out());
        assertTrue(r.out().matches("(?s).*\\nkiln +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+\\n.*"), r.out());
        assertTrue(r.out().contains("peak RSS (VmHWM)"), r.out());
        assertTrue(r.out().contains("MatMul") && r.out().contains("Gather") && r.out().contains("share"), r.out()); // the per-op table
        String j = Files.readString(json);
        assertTrue(j.contains("\"p50_ms\"") && j.contains("\"first10_mean_ms\"") && j.contains("\"input_ids\": {\"dtype\": \"int64\", \"shape\": [2, 8]}"), j);
        assertEquals(3, j.split("\"timed_ms\": \\[")[1].split("]")[0].split(",").length, j);
    }

    /** --profile-shapes: one row per op type and input shapes (and strides where the node has them). */
    /**
     * --precision bf16: the constant-weight matrix products run in bf16 (the header says so, the
     * profile shows MatMulBias nodes); the value "bf16" is not taken for the bf16 suite; a bad value
     * or a TorchScript file is a one-line error.
     */
    @Test
    void bf16PrecisionOption() {
        String bert = DIR.resolve("bert_op17.onnx").toString();
        CliRun r = CliRun.of("bench", bert, "--shape", "input_ids=2x8", "--shape", "attention_mask=2x8", "--precision", "bf16",
                "--warmup", "1", "--iters", "2", "--profile");
        assertEquals(Main.OK, r.code(), r.err());
        assertTrue(r.out().contains("constant-weight matrix products in bf16 ("), r.out());
        assertTrue(r.out().contains("\nMatMulBias "), r.out());
        CliRun bad = CliRun.of("bench", bert, "--shape", "input_ids=2x8", "--shape", "attention_mask=2x8", "--precision", "f16");
        assertEquals(Main.BAD_INPUT, bad.code(), bad.out() + bad.err());
        assertTrue(bad.err().contains("--precision takes f32 or bf16, got 'f16'"), bad.err());
        CliRun pt = CliRun.of("bench", DIR.resolve("gpt2_script.pt").toString(), "--shape", "input_ids=1x5", "--precision", "bf16");
        assertEquals(Main.BAD_INPUT, pt.code(), pt.out() + pt.err());
        assertTrue(pt.err().contains("--precision bf16 needs an .onnx model"), pt.err());
    }

    @Test
    void profileShapesSplitsRowsByInputShape() {
        CliRun r = CliRun.of("bench", DIR.resolve("resnet50_op17.onnx").toString(), "--input", DIR.resolve("resnet50_in0.npy").toString(),
                "--threads", "1", "--warmup", "1", "--iters", "1", "--profile-shapes");
        assertEquals(Main.OK, r.code(), r.err());
        assertTrue(r.out().matches("(?s).*\nConv\\+Relu [0-9x]+ [0-9x]+ [0-9]+ s2x2 .*"), r.out());   // the stem conv: input, weight, bias, strides
        assertTrue(r.out().matches("(?s).*\nMaxPool [0-9x]+ s2x2 .*"), r.out());
    }

    /** kiln quantize on an ONNX file: dynamic int8 and weight-only 4-bit files written, sizes and the float comparison printed. */
    @Test
    void quantizesOnnxFiles() {
        String bert = DIR.resolve("bert_op17.onnx").toString();
        Path q8 = tmp.resolve("b8.onnx"), q4 = tmp.resolve("b4.onnx");
        CliRun r = CliRun.of("quantize", bert, "--out", q8.toString(), "--per-channel", "--shape", "input_ids=2x8", "--shape", "attention_mask=2x8");
        assertEquals(Main.OK, r.code(), r.err());
        assertTrue(r.out().contains("nodes quantized to int8 (dynamic, per-column weight scales)") && r.out().contains("size: "), r.out());
        assertTrue(r.out().matches("(?s).*\nlast_hidden_state +[0-9.e+-]+ +[0-9.e+-]+ +(0\\.99[0-9]+|1\\.0+)\n.*"), r.out());
        CliRun w = CliRun.of("quantize", bert, "--out", q4.toString(), "--weight-only", "4", "--block-size", "16");
        assertEquals(Main.OK, w.code(), w.err());
        assertTrue(w.out().contains("with 4-bit weights (MatMulNBits, blocks of 16 along K"), w.out());
        CliRun b = CliRun.of("bench", q4.toString(), "--shape", "input_ids=2x8", "--shape", "attention_mask=2x8", "--warmup", "1", "--iters", "1", "--profile");
        assertEquals(Main.OK, b.code(), b.err());
        assertTrue(b.out().contains("\nMatMulNBits "), b.out());
        CliRun bad = CliRun.of("quantize", bert, "--out", tmp.resolve("x.onnx").toString(), "--weight-only", "3");
        assertEquals(2, bad.code(), bad.out());
        assertTrue(bad.err().contains("weight-only quantization takes 4 or 8 bits, got 3"), bad.err());
    }

    @Test
    void benchesTorchScriptFromNpyFilesAndTheModelSubcommand() {
        CliRun r = CliRun.of("bench", "model", DIR.resolve("gpt2_decode_trace.pt").toString(), "--input", DIR.resolve("gpt2_decode_in0.npy").toString(),
                "--input", DIR.resolve("gpt2_decode_in1.npy").toString(), "--warmup", "1", "--iters", "2", "--profile");
        assertEquals(Main.OK, r.code(), r.err());
        assertTrue(r.out().contains("(TorchScript), inputs: input_ids int64 2x1, past float32 2x2x2x2x7x8"), r.out());
        // the per-op table of the interpreter's builtin calls: addmm (Conv1D), matmul, softmax, embedding
        assertTrue(r.out().contains("\naddmm ") && r.out().contains("\nsoftmax ") && r.out().contains("\nembedding "), r.out());
        // token ids generated below the largest nn.Embedding's rows
        CliRun g = CliRun.of("bench", DIR.resolve("gpt2_script.pt").toString(), "--shape", "input_ids=1x5", "--warmup", "1", "--iters", "1");
        assertEquals(Main.OK, g.code(), g.err());
    }

    @Test
    void badInputIsOneLineExitTwo() throws Exception {
        String bert = DIR.resolve("bert_op17.onnx").toString();
        expectBad("has no value: give --input attention_mask=FILE.npy or --shape attention_mask=", "bench", bert, "--shape", "input_ids=2x8");
        expectBad("has shape [2, 8, 3], the model wants [batch, sequence]", "bench", bert, "--shape", "input_ids=2x8", "--shape", "attention_mask=2x8x3");
        expectBad("no input named 'nope'", "bench", bert, "--shape", "nope=2");
        Path ids = tmp.resolve("ids.npy");
        Npy.write(ids, Tensor.fromArray(new long[]{1, 2, 40, 3}, 1, 4));
        expectBad("id 40 at position 2 is outside [0, 32) (Gather on an initializer of 32 rows)", "bench", bert, "--input", "input_ids=" + ids,
                "--shape", "attention_mask=1x4");
        expectBad("id 40 at position 2 is outside [0, 32) (the largest nn.Embedding (32 rows))", "bench", DIR.resolve("bert_script.pt").toString(),
                "--input", ids.toString(), "--shape", "1x4");
        // ids beyond the table that --max-id let through are caught by the Gather itself, never read
        expectBad("Gather '/embeddings/word_embeddings/Gather' (opset 17): index", "bench", bert, "--shape", "input_ids=2x8", "--shape", "attention_mask=2x8",
                "--max-id", "100000", "--iters", "1");
        // a shape the TorchScript program rejects: the file and the line
        expectBad("bert_trace.pt: code/__torch__.py", "bench", DIR.resolve("bert_trace.pt").toString(), "--shape", "2x8x5", "--shape", "2x8");
        expectBad("is neither a benchmark suite nor a model file", "bench", tmp.resolve("missing.onnx").toString());
        expectBad("--compare ort needs an .onnx model", "bench", DIR.resolve("bert_trace.pt").toString(), "--compare", "ort");
        expectBad("--iters must be >= 1", "bench", bert, "--iters", "0");
    }

    private static void expectBad(String message, String... args) {
        CliRun r = CliRun.of(args);
        assertEquals(Main.BAD_INPUT, r.code(), r.out() + r.err());
        assertEquals(1, r.errLines().size(), r.err());
        assertTrue(r.err().contains(message), r.err());
    }
}
