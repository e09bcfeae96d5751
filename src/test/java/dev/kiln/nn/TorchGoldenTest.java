package dev.kiln.nn;

import dev.kiln.io.Npz;
import dev.kiln.ops.Conv2dParams;
import dev.kiln.ops.Pool2dParams;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Layers against golden outputs and gradients from real PyTorch 1.13 (tools/make_torch_goldens.py):
 * the module gets PyTorch's parameters, runs on PyTorch's input, and backpropagates PyTorch's
 * upstream gradient g; outputs and every gradient must match within 1e-5 relative (+ small atol).
 */
public class TorchGoldenTest {
    static final double RTOL = 1e-5, ATOL = 2e-6;
    private Scope scope;

    @BeforeEach void open() { scope = Scope.open(); }
    @AfterEach void close() { scope.close(); }

    public static Map<String, Tensor> golden(String name) {
        try {
            var url = TorchGoldenTest.class.getResource("/golden/" + name + ".npz");
            assertNotNull(url, "missing fixture " + name);
            return Npz.read(Path.of(url.toURI()));
        } catch (URISyntaxException | java.io.IOException e) {
            throw new RuntimeException(e);
        }
    }

    public static void assertClose(String what, Tensor expected, Tensor actual, double rtol, double atol) {
        assertEquals(java.util.Arrays.toString(expected.shape()), java.util.Arrays.toString(actual.shape()), what + ": shape");
        double[] e = expected.toDoubleArray(), a = actual.toDoubleArray();
        double scale = 0;
        for (double v : e) scale = Math.max(scale, Math.abs(v));
        for (int i = 0; i < e.length; i++) {
            if (!(Math.abs(e[i] - a[i]) <= atol * Math.max(1, scale) + rtol * Math.abs(e[i])))
                fail(String.format("%s[%d]: expected %.8g, got %.8g", what, i, e[i], a[i]));
        }
    }

    /** Loads param.* and buffer.* into the module, runs forward/backward, checks out, grad_x, grad.*. */
    static void checkModule(String name, Module m) {
        Map<String, Tensor> f = golden(name);
        LinkedHashMap<String, Tensor> state = new LinkedHashMap<>();
        for (var e : f.entrySet()) {
            if (e.getKey().startsWith("param.")) state.put(e.getKey().substring(6), e.getValue());
            if (e.getKey().startsWith("buffer.") && !name.endsWith("_train")) state.put(e.getKey().substring(7), e.getValue());
        }
        Map<String, Tensor> mine = m.stateDict();
        for (String k : state.keySet()) if (!mine.containsKey(k)) fail(name + ": module has no state named " + k + "; has " + mine.keySet());
        m.loadStateDict(state, false);
        Tensor x = f.get("x").dtype() == DType.I64 ? f.get("x") : f.get("x").clone().requiresGrad(true);
        Tensor out = m.forward(x);
        assertClose(name + " out", f.get("out"), out, RTOL, ATOL);
        out.mul(f.get("g")).sum().backward();
        if (f.containsKey("grad_x")) assertClose(name + " grad_x", f.get("grad_x"), x.grad(), RTOL, ATOL);
        var params = m.namedParameters();
        for (var e : f.entrySet()) {
            if (!e.getKey().startsWith("grad.")) continue;
            String p = e.getKey().substring(5);
            assertClose(name + " grad " + p, e.getValue(), params.get(p).grad(), RTOL, ATOL);
        }
        if (name.endsWith("_train")) {
            for (var e : f.entrySet())
                if (e.getKey().startsWith("buffer.") && !e.getKey().endsWith("num_batches_tracked"))
                    assertClose(name + " " + e.getKey(), e.getValue(), m.stateDict().get(e.getKey().substring(7)), RTOL, ATOL);
        }
    }

    private final Generator g = new Generator(1);

    @Test void linear() {
        checkModule("linear", new Linear(7, 4, true, g));
        checkModule("linear_3d", new Linear(6, 3, true, g));
    }

    @Test void conv2d() {
        checkModule("conv2d", new Conv2d(3, 4, 3, 3, Conv2dParams.of(2, 1), true, g));
        checkModule("conv2d_groups", new Conv2d(4, 6, 3, 2, new Conv2dParams(1, 1, 1, 0, 2, 1, 2), true, g));
    }

    @Test void pools() {
        checkModule("maxpool2d", Pool2d.max(2));
        checkModule("maxpool2d_s1p1", Pool2d.max(3, 2, 1));
        checkModule("avgpool2d", Pool2d.of(Pool2dParams.of(3, 2, 1), false));
        checkModule("adaptive_avgpool2d", Pool2d.adaptiveAvg(3, 2));
    }

    @Test void norms() {
        checkModule("batchnorm2d_train", BatchNorm.batchNorm2d(3));
        checkModule("batchnorm1d_train", BatchNorm.batchNorm1d(5));
        checkModule("layernorm", new LayerNorm(4, 6));
    }

    @Test void activations() {
        checkModule("act_relu", Activation.relu());
        checkModule("act_gelu", Activation.gelu());
        checkModule("act_gelu_tanh", Activation.gelu("tanh"));
        checkModule("act_silu", Activation.silu());
        checkModule("act_tanh", Activation.tanh());
        checkModule("act_sigmoid", Activation.sigmoid());
        checkModule("softmax", Activation.softmax(1));
        checkModule("log_softmax", Activation.logSoftmax(-1));
    }

    @Test void embedding() {
        Map<String, Tensor> f = golden("embedding");
        Embedding e = new Embedding(10, 4, g);
        e.loadStateDict(Map.of("weight", f.get("param.weight")), true);
        Tensor out = e.forward(f.get("idx"));
        assertClose("embedding out", f.get("out"), out, RTOL, ATOL);
        out.mul(f.get("g")).sum().backward();
        assertClose("embedding grad", f.get("grad.weight"), e.weight().grad(), RTOL, ATOL);
    }

    @Test void attention() {
        checkModule("mha", new MultiheadAttention(8, 2, 0.0, true, g));
        checkModule("transformer_encoder_layer", new TransformerEncoderLayer(8, 2, 16, 0.0, "relu", 1e-5, true, false, g));
    }

    @Test void losses() {
        for (String name : new String[]{"cross_entropy", "cross_entropy_smooth", "nll", "mse", "l1", "bce_with_logits", "kl_div"}) {
            Map<String, Tensor> f = golden("loss_" + name);
            Tensor x = f.get("x").clone().requiresGrad(true);
            Tensor t = f.get("target");
            Tensor loss = switch (name) {
                case "cross_entropy" -> Loss.crossEntropy(x, t);
                case "cross_entropy_smooth" -> Loss.crossEntropy(x, t, 0.1, Loss.Reduction.MEAN);
                case "nll" -> Loss.nll(x.logSoftmax(1), t, Loss.Reduction.MEAN);
                case "mse" -> Loss.mse(x, t, Loss.Reduction.MEAN);
                case "l1" -> Loss.l1(x, t, Loss.Reduction.MEAN);
                case "bce_with_logits" -> Loss.bceWithLogits(x, t, Loss.Reduction.MEAN);
                default -> Loss.klDiv(x.logSoftmax(1), t, Loss.Reduction.BATCHMEAN, false);
            };
            assertClose("loss " + name, f.get("out"), loss, RTOL, ATOL);
            loss.backward();
            assertClose("loss " + name + " grad", f.get("grad_x"), x.grad(), RTOL, ATOL);
        }
    }
}
