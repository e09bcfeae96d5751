package dev.kiln.compress;

import dev.kiln.autograd.GradMode;
import dev.kiln.compress.fuse.Epilogue;
import dev.kiln.compress.quant.Observer;
import dev.kiln.compress.quant.QParams;
import dev.kiln.compress.quant.Quantize;
import dev.kiln.compress.quant.QuantizedLinear;
import dev.kiln.io.Safetensors;
import dev.kiln.io.SafetensorsFile;
import dev.kiln.nn.Module;
import dev.kiln.nn.Sequential;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Tensor;
import dev.kiln.train.Models;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Quantized models (static PTQ and dynamic; MLP and CNN) round-trip through {@link ModelCheckpoint}
 * with bit-identical outputs, their int8 weights stored as I8, and bad quantized metadata refused.
 */
class QuantizedCheckpointTest {
    @TempDir Path dir;

    private static float[] run(Module m, Tensor x) {
        try (Scope s = Scope.open(); GradMode.Guard g = GradMode.noGrad()) {
            return m.forward(x).toFloatArray();
        }
    }

    private static List<Tensor> calibration(int n) {
        Generator g = new Generator(3);
        List<Tensor> out = new ArrayList<>();
        for (int i = 0; i < n; i++) out.add(Tensor.randn(g, 8, 1, 28, 28));
        return out;
    }

    /** Quantizes a fresh model, saves, reloads, compares outputs exactly; returns the file. */
    private Path roundTrip(String name, Sequential fp32, Function<Sequential, Sequential> quantize) {
        Path file = dir.resolve(name + ".safetensors");
        try (fp32; Sequential q = quantize.apply(fp32); Tensor x = Tensor.randn(new Generator(5), 4, 1, 28, 28)) {
            ModelCheckpoint.save(file, q, Map.of("quantization", name));
            try (ModelCheckpoint.Loaded l = ModelCheckpoint.load(file)) {
                l.model().eval();
                assertEquals(Architecture.describe(q), Architecture.describe(l.model()));
                assertArrayEquals(run(q, x), run(l.model(), x), name + ": reloaded outputs differ");
            }
        }
        return file;
    }

    private static Function<Sequential, Sequential> staticPtq() {
        return m -> {
            List<Tensor> calib = calibration(2);
            try {
                return Quantize.staticPtq(m, calib, Observer.Kind.MINMAX);
            } finally {
                calib.forEach(Tensor::close);
            }
        };
    }

    @Test void staticMlpRoundTripsAsInt8AndIsSmaller() throws Exception {
        Path q = roundTrip("static-mlp", Models.mlp(new Generator(1)), staticPtq());
        Path f = dir.resolve("fp32.safetensors");
        try (Sequential m = Models.mlp(new Generator(1))) { ModelCheckpoint.save(f, m, Map.of()); }
        try (SafetensorsFile file = Safetensors.map(q)) {
            Map<String, Tensor> t = file.tensors();
            assertEquals(DType.I8, t.get("model.1.weight_int8").dtype());
            assertArrayEquals(new int[]{256, 784}, t.get("model.1.weight_int8").shape());
            assertEquals(DType.F32, t.get("model.1.weight_scale").dtype());
            assertEquals(DType.F32, t.get("model.1.bias").dtype());
        }
        double ratio = Files.size(f) / (double) Files.size(q);
        assertTrue(ratio >= 3.5, "fp32/int8 file size ratio " + ratio);
        String arch = ModelCheckpoint.metadata(q).get(ModelCheckpoint.ARCHITECTURE_KEY);
        assertTrue(arch.contains("quantized_linear in=784 out=256 bias=true act=relu input_scale="), arch);
    }

    @Test void dynamicMlpRoundTrips() {
        Path q = roundTrip("dynamic-mlp", Models.mlp(new Generator(2)), Quantize::dynamic);
        assertTrue(ModelCheckpoint.metadata(q).get(ModelCheckpoint.ARCHITECTURE_KEY).contains("input=dynamic"));
    }

    @Test void staticCnnRoundTrips() {
        Path q = roundTrip("static-cnn", Models.cnn(new Generator(3)), staticPtq());
        assertTrue(ModelCheckpoint.metadata(q).get(ModelCheckpoint.ARCHITECTURE_KEY)
                .startsWith("quantized_conv2d in=1 out=16 k=3x3 stride=1x1 pad=1x1 dil=1x1 groups=1 bias=true act=relu input_scale="));
    }

    @Test void dynamicCnnRoundTrips() {
        roundTrip("dynamic-cnn", Models.cnn(new Generator(4)), Quantize::dynamic);
    }

    @Test void fromInt8KeepsTheGivenValues() {
        byte[] b = {1, -2, 127, -127, 0, 5};
        try (Tensor q = Tensor.zeros(DType.I8, 2, 3); Tensor s = Tensor.fromArray(new float[]{0.5f, 0.25f}, 2);
             Tensor bias = Tensor.fromArray(new float[]{1f, -1f}, 2)) {
            for (int i = 0; i < b.length; i++) q.setDouble(b[i], i / 3, i % 3);
            QuantizedLinear l = QuantizedLinear.fromInt8(q, s, bias, Epilogue.NONE, QParams.fromRange(-4, 4, false));
            try (Tensor w = l.weightInt8().to(DType.F32)) {
                assertArrayEquals(new float[]{1, -2, 127, -127, 0, 5}, w.toFloatArray());
            }
            assertArrayEquals(new float[]{0.5f, 0.25f}, l.weightScales());
            try (Tensor x = Tensor.fromArray(new float[]{0, 0, 0}, 1, 3)) {
                assertArrayEquals(new float[]{1f, -1f}, run(l, x), 1e-6f);
            }
            l.close();
        }
    }

    @Test void badQuantizedMetadataIsRefused() {
        String base = "act Flatten; quantized_linear in=784 out=10 bias=true act=none";
        assertMessage("missing input=dynamic or input_scale=", () -> Architecture.build(base));
        assertMessage("input=static", () -> Architecture.build(base + " input=static"));
        assertMessage("input_range=0x127 with input_zero=-5", () -> Architecture.build(base + " input_scale=0.1 input_zero=-5 input_range=0x127"));
        assertMessage("scale must be positive", () -> Architecture.build(base + " input_scale=0 input_zero=0 input_range=-128x127"));
        assertMessage("unknown epilogue", () -> Architecture.build("quantized_linear in=4 out=2 bias=true act=bogus input=dynamic"));
        assertMessage("in must be positive", () -> Architecture.build("quantized_conv2d in=0 out=2 k=3x3 stride=1x1 pad=0x0 dil=1x1 groups=1 bias=false act=none input=dynamic"));
    }

    @Test void badQuantizedTensorsAreRefused() {
        Path file = roundTrip("bad", Models.mlpSmall(new Generator(6)), Quantize::dynamic);
        Map<String, Tensor> state = new LinkedHashMap<>();
        try (Safetensors.Contents c = Safetensors.read(file)) {
            c.tensors().forEach((k, v) -> state.put(k, v.clone()));
            Map<String, String> meta = c.metadata();
            state.get("model.1.weight_scale").setDouble(0, 3);
            Safetensors.write(file, state, meta);
            assertMessage("layer 1: quant: scale must be positive", () -> ModelCheckpoint.load(file).close());
            state.get("model.1.weight_scale").setDouble(1, 3);
            state.get("model.1.weight_int8").setDouble(-128, 0, 0);
            Safetensors.write(file, state, meta);
            assertMessage("outside [-127, 127]", () -> ModelCheckpoint.load(file).close());
        } finally {
            state.values().forEach(Tensor::close);
        }
    }

    private static void assertMessage(String part, org.junit.jupiter.api.function.Executable ex) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, ex);
        assertTrue(e.getMessage().contains(part), "message '" + e.getMessage() + "' lacks '" + part + "'");
    }
}
