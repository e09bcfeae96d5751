package dev.kiln.compress.fuse;

import dev.kiln.autograd.GradMode;
import dev.kiln.nn.Activation;
import dev.kiln.nn.BatchNorm;
import dev.kiln.nn.Conv2d;
import dev.kiln.nn.Dropout;
import dev.kiln.nn.Linear;
import dev.kiln.nn.Module;
import dev.kiln.nn.Sequential;
import dev.kiln.ops.Conv2dParams;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;

/**
 * Layer fusion ("network merging") for inference. {@link #fuse} returns a new, flat
 * {@link Sequential} that computes what the original computes in eval mode, with fewer layers:
 * <ol>
 *   <li>Dropout and Identity are dropped (identities in eval);</li>
 *   <li>an eval-mode BatchNorm after a Conv2d/Linear is folded into it:
 *       s = gamma / sqrt(var + eps), W' = W * s (per output channel), b' = (b - mean) * s + beta;
 *       a BatchNorm with nothing to fold into becomes a {@link ChannelAffine};</li>
 *   <li>consecutive Linear layers with no nonlinearity between them merge into one:
 *       W = W2 W1, b = W2 b1 + b2 (only when that does not add work: in*out2 &lt;= in*mid + mid*out2,
 *       so a low-rank bottleneck is kept);</li>
 *   <li>an activation right after a Conv2d/Linear/affine becomes that layer's {@link Epilogue}
 *       ({@link FusedLinear}, {@link FusedConv2d}).</li>
 * </ol>
 * Nested Sequentials are flattened; pooling, Flatten and other parameter-free layers are kept (the
 * same instances as in the original: they hold no state); a layer with state that Fusion does
 * not know (LayerNorm, attention, ...) is rejected with an error naming it.
 * The folding arithmetic runs in float64 and is rounded once to the original dtype. The original
 * model is not modified (its train/eval mode included); the result is in eval mode.
 * <p>
 * BatchNorm1d after a Linear is folded assuming [N, C] activations (channel = last dim), the
 * standard use; the channel counts are checked.
 */
public final class Fusion {
    private Fusion() {}

    /** The fused model and one line per transformation applied. */
    public record Result(Sequential model, List<String> log) {}

    public static Sequential fuse(Module model) { return fuseWithLog(model).model(); }

    public static Result fuseWithLog(Module model) {
        List<Module> layers = new ArrayList<>();
        flatten(model, layers);
        List<String> log = new ArrayList<>();
        List<Step> steps = new ArrayList<>();
        Sequential out;
        try (Scope s = Scope.open(); GradMode.Guard g = GradMode.noGrad()) {
            for (Module m : layers) add(steps, m, log);
            out = new Sequential();
            for (Step st : steps) out.add(st.build());
        }
        out.eval();
        return new Result(out, log);
    }

    private static void flatten(Module m, List<Module> out) {
        if (m instanceof Sequential s) for (Module c : s.layers()) flatten(c, out);
        else out.add(m);
    }

    // ------------------------------------------------------------------ steps

    /** A layer of the fused model being built; weights in float64 until {@link #build}. */
    private sealed interface Step permits Affine, Kept {
        Module build();
    }

    /** A Linear (conv == null) or Conv2d with float64 weight/bias and an epilogue. */
    private static final class Affine implements Step {
        Tensor w, b;
        final Conv2dParams conv; // null for Linear; ChannelAffine when kind == CHANNEL
        final boolean channel;
        final DType dtype;
        Epilogue epilogue = Epilogue.NONE;

        Affine(Tensor w, Tensor b, Conv2dParams conv, boolean channel, DType dtype) {
            this.w = w;
            this.b = b;
            this.conv = conv;
            this.channel = channel;
            this.dtype = dtype;
        }

        boolean isLinear() { return conv == null && !channel; }
        int outChannels() { return w.size(0); }

        @Override public Module build() {
            Tensor w2 = Scope.escape(w.to(dtype)), b2 = Scope.escape(b.to(dtype));
            if (channel) return new ChannelAffine(w2, b2, epilogue);
            return conv == null ? new FusedLinear(w2, b2, epilogue) : new FusedConv2d(w2, b2, conv, epilogue);
        }
    }

    private record Kept(Module m) implements Step {
        @Override public Module build() { return m; }
    }

    private static Tensor f64(Tensor t) { return t.to(DType.F64); }

    private static Affine last(List<Step> steps) {
        return !steps.isEmpty() && steps.getLast() instanceof Affine a && a.epilogue == Epilogue.NONE ? a : null;
    }

    private static void add(List<Step> steps, Module m, List<String> log) {
        Affine prev = last(steps);
        switch (m) {
            case Dropout d -> log.add("dropped " + d);
            case Activation a when a.kind().equals("Identity") -> log.add("dropped Identity");
            case Activation a when prev != null && Epilogue.of(a) != null -> {
                prev.epilogue = Epilogue.of(a);
                log.add("fused " + a.kind() + " into the preceding " + kind(prev));
            }
            case BatchNorm bn -> addBatchNorm(steps, prev, bn, log);
            case Linear l -> addLinear(steps, prev, l, log);
            case Conv2d c -> steps.add(new Affine(f64(c.weight()), c.bias() == null ? Tensor.zeros(DType.F64, c.outChannels) : f64(c.bias()),
                    c.params, false, c.weight().dtype()));
            case FusedLinear f -> steps.add(fusedAgain(new Affine(f64(f.weight()), f64(f.bias()), null, false, f.weight().dtype()), f.epilogue()));
            case FusedConv2d f -> steps.add(fusedAgain(new Affine(f64(f.weight()), f64(f.bias()), f.params(), false, f.weight().dtype()), f.epilogue()));
            default -> {
                if (!m.stateDict().isEmpty())
                    throw new IllegalArgumentException("fuse: cannot fuse " + m.getClass().getSimpleName()
                            + " (a layer with parameters or state that Fusion does not know)");
                steps.add(new Kept(m));
            }
        }
    }

    private static Affine fusedAgain(Affine a, Epilogue e) {
        a.epilogue = e;
        return a;
    }

    private static String kind(Affine a) { return a.channel ? "channel affine" : a.conv == null ? "Linear" : "Conv2d"; }

    private static void addLinear(List<Step> steps, Affine prev, Linear l, List<String> log) {
        Tensor w = f64(l.weight());
        Tensor b = l.bias() == null ? Tensor.zeros(DType.F64, l.outFeatures) : f64(l.bias());
        if (prev != null && prev.isLinear()) {
            long in = prev.w.size(1), mid = prev.w.size(0), out = l.outFeatures;
            if (in * out <= in * mid + mid * out) {
                prev.w = w.matmul(prev.w);
                prev.b = w.matmul(prev.b.reshape(-1, 1)).reshape(-1).add(b);
                log.add("merged Linear(" + in + "," + mid + ") and Linear(" + mid + "," + out + ") into Linear(" + in + "," + out + ")");
                return;
            }
            log.add("kept Linear(" + in + "," + mid + ") -> Linear(" + mid + "," + out + ") unmerged (a bottleneck: merging adds work)");
        }
        steps.add(new Affine(w, b, null, false, l.weight().dtype()));
    }

    private static void addBatchNorm(List<Step> steps, Affine prev, BatchNorm bn, List<String> log) {
        int c = bn.runningMean().size(0);
        Tensor scale = f64(bn.weight()).div(f64(bn.runningVar()).add(bn.eps()).sqrt());
        Tensor shift = f64(bn.bias()).sub(f64(bn.runningMean()).mul(scale));
        if (prev != null && prev.outChannels() == c) {
            int[] bshape = new int[prev.w.dim()];
            java.util.Arrays.fill(bshape, 1);
            bshape[0] = c;
            prev.w = prev.w.mul(scale.reshape(bshape));
            prev.b = prev.b.mul(scale).add(shift);
            log.add("folded " + bn + " into the preceding " + kind(prev));
            return;
        }
        steps.add(new Affine(scale, shift, null, true, bn.weight().dtype()));
        log.add("turned " + bn + " into a channel affine (nothing to fold it into)");
    }
}
