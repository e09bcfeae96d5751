package dev.kiln.torchscript;

import dev.kiln.io.Npy;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * End to end: every fixture model (tools/make_torchscript_fixtures.py), scripted and traced, run
 * by Kiln on the saved inputs, matches PyTorch's outputs within 1e-4 relative (plus 1e-5 absolute).
 */
class TorchScriptModelTest {
    static final Path DIR = Path.of("src/test/resources/torchscript");

    @ParameterizedTest
    @ValueSource(strings = {"mlp_script", "mlp_trace", "cnn_script", "cnn_trace", "branchy_script", "branchy_trace",
        "opsmix_script", "opsmix_trace", "tf_script", "tf_trace", "tfmask_script", "tfmask_trace", "attn_script",
        "attn_trace", "encoder_script", "encoder_trace", "conv1d_script", "conv1d_trace"})
    void matchesPyTorch(String fixture) throws Exception {
        String base = fixture.substring(0, fixture.lastIndexOf('_'));
        List<Object> inputs = new ArrayList<>();
        for (int i = 0; Files.exists(DIR.resolve(base + "_in" + i + ".npy")); i++) inputs.add(Npy.read(DIR.resolve(base + "_in" + i + ".npy")));
        try (TorchScriptModel m = TorchScriptModel.load(DIR.resolve(fixture + ".pt"))) {
            List<Object> out = m.forward(inputs.toArray());
            for (int i = 0; Files.exists(DIR.resolve(base + "_out" + i + ".npy")); i++) {
                Tensor want = Npy.read(DIR.resolve(base + "_out" + i + ".npy"));
                assertTrue(i < out.size(), fixture + ": only " + out.size() + " outputs");
                assertClose(fixture + " output " + i, want, out.get(i));
            }
        }
    }

    static void assertClose(String what, Tensor want, Object got) {
        double[] w = want.toDoubleArray();
        double[] g;
        if (got instanceof Tensor t) {
            assertArrayEquals(want.shape(), t.shape(), what + " shape");
            g = t.contiguous().toDoubleArray();
        } else if (got instanceof Number n) {
            assertEquals(0, want.dim(), what + ": a scalar result for a non-scalar expected value");
            g = new double[]{n.doubleValue()};
        } else {
            throw new AssertionError(what + ": unexpected result " + got);
        }
        for (int i = 0; i < w.length; i++) {
            double tol = 1e-5 + 1e-4 * Math.abs(w[i]);
            if (Math.abs(w[i] - g[i]) > tol)
                fail(what + " element " + i + ": got " + g[i] + ", want " + w[i] + " (" + Arrays.toString(Arrays.copyOf(g, Math.min(8, g.length))) + ")");
        }
    }

    @Test
    void describeListsModulesAndParameterTotals() throws Exception {
        try (TorchScriptModel m = TorchScriptModel.load(DIR.resolve("cnn_script.pt"))) {
            String d = m.describe();
            assertTrue(d.contains("torch.nn.modules.container.Sequential"), d);
            assertTrue(d.contains("0: torch.nn.modules.conv.Conv2d"), d);
            assertTrue(d.contains("running_var: buffer [4] float32"), d);
            assertTrue(d.contains("weight: parameter [4, 2, 3, 3] float32"), d);
            assertTrue(d.contains("methods of the root: forward"), d);
            assertTrue(d.matches("(?s).*signature: forward\\([a-z_0-9]+: Tensor\\) -> Tensor\n.*"), d);
            assertTrue(d.matches("(?s).*ops: Kiln runs all \\d+ torch\\.\\* / ops\\.\\* functions the code calls.*"), d);
        }
    }

    @Test
    void notTorchScriptAndBadCodeAreFormatErrors(@org.junit.jupiter.api.io.TempDir Path tmp) throws Exception {
        Path bad = tmp.resolve("bad.pt");
        try (var zin = new java.util.zip.ZipFile(DIR.resolve("mlp_script.pt").toFile());
             var zout = new java.util.zip.ZipOutputStream(Files.newOutputStream(bad))) {
            for (var e : java.util.Collections.list(zin.entries())) {
                zout.putNextEntry(new java.util.zip.ZipEntry(e.getName()));
                byte[] b = zin.getInputStream(e).readAllBytes();
                if (e.getName().endsWith("code/__torch__/torch/nn/modules/linear.py"))
                    b = "class Linear(Module):\n  def forward(self, x):\n    with x:\n      pass\n".getBytes();
                zout.write(b);
                zout.closeEntry();
            }
        }
        var e = assertThrows(dev.kiln.io.KilnFormatException.class, () -> TorchScriptModel.load(bad));
        assertTrue(e.getMessage().contains("linear.py:3:") && e.getMessage().contains("'with'"), e.getMessage());
    }

    @Test
    void outputsSurviveAndRepeatedCallsAgree() throws Exception {
        Tensor x = Npy.read(DIR.resolve("mlp_in0.npy"));
        try (TorchScriptModel m = TorchScriptModel.load(DIR.resolve("mlp_script.pt"))) {
            Tensor a = (Tensor) m.forward(x).get(0);
            Tensor b = (Tensor) m.forward(x).get(0);
            assertArrayEquals(a.toFloatArray(), b.toFloatArray());
            assertFalse(a.isClosed());
            // the loader seals the module's tensors (weights): the GEMM then packs each one once
            java.util.List<Tensor> weights = new java.util.ArrayList<>();
            for (Object v : m.root().state().values()) collect(v, weights);
            assertFalse(weights.isEmpty());
            for (Tensor w : weights) assertTrue(w.storage().isConstant(), "weight " + java.util.Arrays.toString(w.shape()) + " sealed");
        }
    }

    private static void collect(Object v, java.util.List<Tensor> out) {
        if (v instanceof Tensor t) out.add(t);
        else if (v instanceof dev.kiln.pickle.PyObject o) o.state().values().forEach(x -> collect(x, out));
    }
}
