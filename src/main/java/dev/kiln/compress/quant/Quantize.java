package dev.kiln.compress.quant;

import dev.kiln.autograd.GradMode;
import dev.kiln.compress.fuse.Epilogue;
import dev.kiln.compress.fuse.FusedConv2d;
import dev.kiln.compress.fuse.FusedLinear;
import dev.kiln.compress.fuse.Fusion;
import dev.kiln.nn.Conv2d;
import dev.kiln.nn.Linear;
import dev.kiln.nn.Module;
import dev.kiln.nn.Pool2d;
import dev.kiln.nn.Sequential;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;

/**
 * The int8 quantization flows over a {@link Sequential}. Every flow first runs
 * {@link Fusion#fuse} (BatchNorm folded into the preceding Linear/Conv2d, activations into
 * epilogues, Dropout dropped); then every Linear/Conv2d becomes a {@link QuantizedLinear} /
 * {@link QuantizedConv2d}, the other layers are kept.
 * <ul>
 *   <li>{@link #staticPtq}: post-training static quantization: the calibration batches run through
 *       the fused float model and an observer per quantized layer sees that layer's input; its
 *       range fixes the layer's activation parameters.</li>
 *   <li>{@link #dynamic}: the activation parameters come from each batch's min and max at run time.</li>
 *   <li>{@link #prepareQat} / {@link #convertQat}: quantization-aware training with fake
 *       quantization on weights and inputs ({@link QatLayer}), then conversion to int8 layers.</li>
 * </ul>
 * The original model is not modified.
 */
public final class Quantize {
    private Quantize() {}

    /** Post-training static quantization calibrated on the given batches. */
    public static Sequential staticPtq(Module model, List<Tensor> calibration, Observer.Kind kind) {
        Sequential fused = Fusion.fuse(model);
        List<Module> layers = fused.layers();
        Observer[] obs = new Observer[layers.size()];
        for (int i = 0; i < obs.length; i++) if (quantizable(layers.get(i))) obs[i] = kind.create();
        try (GradMode.Guard g = GradMode.noGrad()) {
            for (Tensor batch : calibration) {
                try (Scope s = Scope.open()) {
                    Tensor h = batch;
                    for (int i = 0; i < obs.length; i++) {
                        if (obs[i] != null) obs[i].observe(h);
                        h = layers.get(i).forward(h);
                    }
                }
            }
        }
        Sequential out = new Sequential();
        for (int i = 0; i < obs.length; i++) {
            Module m = layers.get(i);
            out.add(obs[i] == null ? m : quantized(m, obs[i].qparams(false)));
        }
        closeReplaced(fused, out);
        out.eval();
        chainCodes(out);
        return out;
    }

    /**
     * Hands int8 codes instead of floats from each quantized conv to the next quantized layer where
     * only max pools and Flatten lie between them and that layer has static input parameters
     * ({@link QuantizedConv2d#emitCodes}): the conv writes the codes that layer would have made
     * of its float output, the pools and Flatten work on the codes (quantization is monotonic, so
     * max pooling commutes with it) and the layer skips its quantization pass; a 2 x 2 max pool right
     * after the conv is applied by the conv itself before quantizing (the pool layer becomes an
     * {@link AbsorbedPool} that passes the pooled codes on). The model's outputs
     * do not change, bit for bit; what goes is the float activation traffic between the layers (the
     * Fashion-MNIST CNN at batch 64: 3.2 MB written and read back after its first conv). Called by
     * {@link #staticPtq} and {@link #convertQat}; call it again after replacing layers. Returns how many convs emit codes.
     */
    public static int chainCodes(Sequential model) {
        int chained = 0;
        for (int i = 0; i < model.size(); i++) {
            if (!(model.get(i) instanceof QuantizedConv2d conv)) continue;
            QParams next = null;
            for (int j = i + 1; j < model.size(); j++) {
                Module m = model.get(j);
                if (m instanceof AbsorbedPool a) m = a.pool();
                if (m instanceof Pool2d pool && pool.isMax() && pool.adaptiveOutput() == null) continue;
                if (m instanceof dev.kiln.nn.Activation a && a.kind().equals("Flatten")) continue;
                if (m instanceof QuantizedConv2d c && c.takesCodes()) next = c.inputParams();
                if (m instanceof QuantizedLinear l && !l.isDynamic()) next = l.inputParams();
                break;
            }
            boolean ok = next != null && (conv.epilogue() == Epilogue.NONE || conv.epilogue() == Epilogue.RELU);
            // a 2 x 2 max pool right after the conv: the conv applies it before quantizing (a quarter of the codes)
            Module after = i + 1 < model.size() ? model.get(i + 1) : null;
            Pool2d pool = after instanceof AbsorbedPool a ? a.pool() : after instanceof Pool2d p ? p : null;
            boolean absorb = ok && pool != null && pool.isMax() && pool.adaptiveOutput() == null
                    && pool.params().equals(QuantizedConv2d.POOL2);
            if (absorb && !(after instanceof AbsorbedPool)) model.set(i + 1, new AbsorbedPool(pool, conv));
            if (!absorb && after instanceof AbsorbedPool a) model.set(i + 1, a.pool());
            conv.emitCodes(ok ? next : null, absorb);
            if (ok) chained++;
        }
        return chained;
    }

    /** Dynamic quantization: int8 weights, per-batch activation parameters. */
    public static Sequential dynamic(Module model) {
        Sequential fused = Fusion.fuse(model);
        Sequential out = new Sequential();
        for (Module m : fused.layers()) out.add(quantizable(m) ? quantized(m, null) : m);
        closeReplaced(fused, out);
        out.eval();
        return out;
    }

    /** A trainable copy of the model (fused, in training mode) with fake quantization in its Linear/Conv2d layers. */
    public static Sequential prepareQat(Module model) {
        Sequential fused = Fusion.fuse(model);
        Sequential out = new Sequential();
        try (GradMode.Guard g = GradMode.noGrad()) {
            for (Module m : fused.layers()) out.add(quantizable(m) ? qat(m) : m);
        }
        closeReplaced(fused, out);
        out.train();
        return out;
    }

    /** The int8 model equivalent to a QAT model in eval mode. */
    public static Sequential convertQat(Sequential qat) {
        Sequential out = new Sequential();
        for (Module m : qat.layers()) out.add(m instanceof QatLayer q ? q.convert() : m);
        out.eval();
        chainCodes(out);
        return out;
    }

    /**
     * Frees the layers of the fused intermediate that the result replaced (their weights were
     * copied into the quantized or QAT layers); the layers the result shares stay open.
     */
    private static void closeReplaced(Sequential fused, Sequential out) {
        for (int i = 0; i < fused.size(); i++) if (fused.get(i) != out.get(i)) fused.get(i).close();
    }

    static boolean quantizable(Module m) {
        if (m instanceof FusedConv2d c) return c.params().groups() == 1;
        if (m instanceof Conv2d c) return c.params.groups() == 1;
        return m instanceof FusedLinear || m instanceof Linear;
    }

    private static Module quantized(Module m, QParams act) {
        return switch (m) {
            case FusedLinear f -> new QuantizedLinear(f.weight(), f.bias(), f.epilogue(), act);
            case Linear l -> new QuantizedLinear(l.weight(), l.bias(), Epilogue.NONE, act);
            case FusedConv2d c -> new QuantizedConv2d(c.weight(), c.bias(), c.params(), c.epilogue(), act);
            case Conv2d c -> new QuantizedConv2d(c.weight(), c.bias(), c.params, Epilogue.NONE, act);
            default -> throw new IllegalArgumentException("quantize: cannot quantize " + m);
        };
    }

    private static Module qat(Module m) {
        return switch (m) {
            case FusedLinear f -> new QatLayer(copy(f.weight()), copy(f.bias()), null, f.epilogue());
            case Linear l -> new QatLayer(copy(l.weight()), copy(l.bias()), null, Epilogue.NONE);
            case FusedConv2d c -> new QatLayer(copy(c.weight()), copy(c.bias()), c.params(), c.epilogue());
            case Conv2d c -> new QatLayer(copy(c.weight()), copy(c.bias()), c.params, Epilogue.NONE);
            default -> throw new IllegalArgumentException("quantize: cannot prepare " + m + " for QAT");
        };
    }

    private static Tensor copy(Tensor t) { return t == null ? null : t.detach().clone(); }

    /** Max |a - b| / max |b| over two equally shaped tensors (the relative error the tests report). */
    public static double relativeError(Tensor a, Tensor b) {
        float[] x = a.toFloatArray(), y = b.toFloatArray();
        double num = 0, den = 0;
        for (int i = 0; i < x.length; i++) {
            num = Math.max(num, Math.abs(x[i] - y[i]));
            den = Math.max(den, Math.abs(y[i]));
        }
        return den == 0 ? num : num / den;
    }
}
