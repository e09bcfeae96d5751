package dev.kiln.nn;

import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Base of all layers: named parameters, buffers and child modules (PyTorch's naming: "0.weight",
 * "fc.bias"), train/eval mode, state dicts. Parameters and buffers belong to the module (they
 * escape any open {@link Scope}) and are freed by {@link #close()}.
 *
 * <p>The name is PyTorch's and shares its simple name with {@code java.lang.Module}: code that writes
 * {@code Module} imports it by name ({@code import dev.kiln.nn.Module;}, which takes precedence over
 * {@code java.lang}); with only {@code import dev.kiln.nn.*;} javac reports the reference as ambiguous.
 */
public abstract class Module implements AutoCloseable {
    private final LinkedHashMap<String, Tensor> params = new LinkedHashMap<>();
    private final LinkedHashMap<String, Tensor> buffers = new LinkedHashMap<>();
    private final LinkedHashMap<String, Module> children = new LinkedHashMap<>();
    private boolean training = true;

    public abstract Tensor forward(Tensor x);

    /** Registers a trainable parameter (requires grad). */
    protected Tensor registerParameter(String name, Tensor t) {
        Scope.escape(t);
        t.requiresGrad(true);
        Tensor old = params.put(name, t);
        if (old != null && old != t) old.close();
        return t;
    }

    /** Registers non-trainable state saved in the state dict (e.g. BatchNorm running stats). */
    protected Tensor registerBuffer(String name, Tensor t) {
        Scope.escape(t);
        Tensor old = buffers.put(name, t);
        if (old != null && old != t) old.close();
        return t;
    }

    protected <M extends Module> M registerModule(String name, M m) {
        children.put(name, m);
        return m;
    }

    public Map<String, Module> children() { return java.util.Collections.unmodifiableMap(children); }

    /** Parameters in registration order, depth first, with dotted names. */
    public LinkedHashMap<String, Tensor> namedParameters() {
        LinkedHashMap<String, Tensor> out = new LinkedHashMap<>();
        collect("", out, true);
        return out;
    }

    public List<Tensor> parameters() { return new ArrayList<>(namedParameters().values()); }

    public LinkedHashMap<String, Tensor> namedBuffers() {
        LinkedHashMap<String, Tensor> out = new LinkedHashMap<>();
        collect("", out, false);
        return out;
    }

    private void collect(String prefix, Map<String, Tensor> out, boolean wantParams) {
        for (var e : (wantParams ? params : buffers).entrySet()) out.put(prefix + e.getKey(), e.getValue());
        for (var c : children.entrySet()) c.getValue().collect(prefix + c.getKey() + ".", out, wantParams);
    }

    /** Parameters and buffers by name (the tensors themselves, not copies). */
    public LinkedHashMap<String, Tensor> stateDict() {
        LinkedHashMap<String, Tensor> out = new LinkedHashMap<>();
        collectState("", out);
        return out;
    }

    private void collectState(String prefix, Map<String, Tensor> out) {
        for (var e : params.entrySet()) out.put(prefix + e.getKey(), e.getValue());
        for (var e : buffers.entrySet()) out.put(prefix + e.getKey(), e.getValue());
        for (var c : children.entrySet()) c.getValue().collectState(prefix + c.getKey() + ".", out);
    }

    /**
     * Copies values into this module's parameters and buffers by name. With strict, missing or
     * unexpected keys are an error listing them; shapes must match exactly.
     */
    public void loadStateDict(Map<String, Tensor> state, boolean strict) {
        LinkedHashMap<String, Tensor> mine = stateDict();
        if (strict) {
            List<String> missing = new ArrayList<>(), unexpected = new ArrayList<>();
            for (String k : mine.keySet()) if (!state.containsKey(k)) missing.add(k);
            for (String k : state.keySet()) if (!mine.containsKey(k)) unexpected.add(k);
            if (!missing.isEmpty() || !unexpected.isEmpty())
                throw new IllegalArgumentException("load_state_dict: missing keys " + missing + ", unexpected keys " + unexpected);
        }
        for (var e : mine.entrySet()) {
            Tensor src = state.get(e.getKey());
            if (src == null) continue;
            Tensor dst = e.getValue();
            if (!Arrays.equals(src.shape(), dst.shape()))
                throw new IllegalArgumentException("load_state_dict: " + e.getKey() + " has shape " + Arrays.toString(src.shape())
                        + " in the checkpoint but " + Arrays.toString(dst.shape()) + " in the model");
            try (var g = dev.kiln.autograd.GradMode.noGrad()) { dst.copyFrom(src); }
        }
    }

    public Module train() { return setTraining(true); }
    public Module eval() { return setTraining(false); }

    public Module setTraining(boolean on) {
        training = on;
        for (Module c : children.values()) c.setTraining(on);
        return this;
    }

    public boolean isTraining() { return training; }

    /** Drops every parameter's gradient. */
    public void zeroGrad() {
        for (Tensor p : parameters()) p.zeroGrad();
    }

    public long parameterCount() {
        long n = 0;
        for (Tensor p : parameters()) n += p.numel();
        return n;
    }

    /** Frees parameters, buffers, gradients and children. */
    @Override
    public void close() {
        for (Tensor t : params.values()) { t.zeroGrad(); t.close(); }
        for (Tensor t : buffers.values()) t.close();
        for (Module c : children.values()) c.close();
    }

    @Override
    public String toString() {
        if (children.isEmpty()) return getClass().getSimpleName() + "(" + extraRepr() + ")";
        StringBuilder sb = new StringBuilder(getClass().getSimpleName()).append("(\n");
        for (var c : children.entrySet())
            sb.append("  (").append(c.getKey()).append("): ").append(c.getValue().toString().replace("\n", "\n  ")).append('\n');
        return sb.append(')').toString();
    }

    protected String extraRepr() { return ""; }
}
