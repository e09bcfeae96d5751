package dev.kiln.optim;

import dev.kiln.tensor.DType;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Tensor;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Base of the optimizers: a parameter list, a learning rate that schedulers change, per-parameter
 * state tensors (owned here, freed by {@link #close()}), and a state dict for checkpoints.
 */
public abstract class Optimizer implements AutoCloseable {
    protected final List<Tensor> params;
    protected double lr;
    /** Per-parameter state, keyed "index.name" (e.g. "0.momentum_buffer"). */
    protected final LinkedHashMap<String, Tensor> state = new LinkedHashMap<>();
    protected long steps;

    protected Optimizer(List<Tensor> params, double lr) {
        if (lr < 0) throw new IllegalArgumentException("optimizer: learning rate must be >= 0, got " + lr);
        this.params = List.copyOf(params);
        this.lr = lr;
    }

    /** Applies one update from the accumulated gradients; parameters without a gradient are skipped. */
    public abstract void step();

    public void zeroGrad() {
        for (Tensor p : params) p.zeroGrad();
    }

    public double lr() { return lr; }
    public void setLr(double lr) { this.lr = lr; }
    public long steps() { return steps; }
    public List<Tensor> params() { return params; }

    /** State tensor for parameter i, created zero-filled on first use. */
    protected Tensor stateFor(int i, String name) {
        String key = i + "." + name;
        Tensor t = state.get(key);
        if (t == null) {
            Tensor p = params.get(i);
            t = Scope.escape(Tensor.empty(p.backend(), p.dtype(), p.shape()));
            state.put(key, t);
        }
        return t;
    }

    protected boolean hasState(int i, String name) { return state.containsKey(i + "." + name); }

    /** The live state tensors of parameter i by name (e.g. "momentum_buffer"); empty before its first update. */
    public Map<String, Tensor> stateOf(int i) {
        LinkedHashMap<String, Tensor> out = new LinkedHashMap<>();
        String prefix = i + ".";
        for (var e : state.entrySet()) if (e.getKey().startsWith(prefix)) out.put(e.getKey().substring(prefix.length()), e.getValue());
        return out;
    }

    /** State tensors plus "step" and "lr" (as F64 scalars); keys are stable across runs. */
    public Map<String, Tensor> stateDict() {
        LinkedHashMap<String, Tensor> out = new LinkedHashMap<>(state);
        out.put("step", Tensor.scalar(steps, DType.F64));
        out.put("lr", Tensor.scalar(lr, DType.F64));
        return out;
    }

    /** Restores state saved by {@link #stateDict()} (copies; shapes must match the parameters). */
    public void loadStateDict(Map<String, Tensor> sd) {
        for (var e : sd.entrySet()) {
            String k = e.getKey();
            if (k.equals("step")) { steps = (long) e.getValue().item(); continue; }
            if (k.equals("lr")) { lr = e.getValue().item(); continue; }
            int dot = k.indexOf('.');
            int i;
            try {
                i = Integer.parseInt(k.substring(0, Math.max(dot, 0)));
            } catch (NumberFormatException ex) {
                throw new IllegalArgumentException("optimizer state: unexpected key " + k);
            }
            if (i < 0 || i >= params.size()) throw new IllegalArgumentException("optimizer state: key " + k + " names parameter " + i + " of " + params.size());
            Tensor dst = stateFor(i, k.substring(dot + 1));
            if (!java.util.Arrays.equals(dst.shape(), e.getValue().shape()))
                throw new IllegalArgumentException("optimizer state: " + k + " has shape " + java.util.Arrays.toString(e.getValue().shape())
                        + " but the parameter has " + java.util.Arrays.toString(dst.shape()));
            dst.copyFrom(e.getValue());
        }
    }

    @Override
    public void close() {
        for (Tensor t : state.values()) t.close();
        state.clear();
    }

    /** Scales gradients so their global L2 norm is at most maxNorm; returns the norm before clipping. */
    public static double clipGradNorm(List<Tensor> params, double maxNorm) {
        List<Tensor> grads = new ArrayList<>();
        for (Tensor p : params) if (p.grad() != null) grads.add(p.grad());
        double total = 0;
        try (Scope s = Scope.open(); var g = dev.kiln.autograd.GradMode.noGrad()) {
            for (Tensor gr : grads) total += gr.square().sum().item();
            total = Math.sqrt(total);
            double coef = maxNorm / (total + 1e-6);
            if (coef < 1) for (Tensor gr : grads) gr.copyFrom(gr.mul(coef));
        }
        return total;
    }

    /** Clamps every gradient element to [-value, value]. */
    public static void clipGradValue(List<Tensor> params, double value) {
        try (Scope s = Scope.open(); var g = dev.kiln.autograd.GradMode.noGrad()) {
            for (Tensor p : params) if (p.grad() != null) p.grad().copyFrom(p.grad().clamp(-value, value));
        }
    }
}
