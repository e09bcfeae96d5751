package dev.kiln.nn;

import dev.kiln.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;

/** Applies its children in order; children are named "0", "1", ... like torch.nn.Sequential. */
public final class Sequential extends Module {
    private final List<Module> layers = new ArrayList<>();

    public Sequential(Module... modules) {
        for (Module m : modules) add(m);
    }

    public Sequential add(Module m) {
        registerModule(Integer.toString(layers.size()), m);
        layers.add(m);
        return this;
    }

    public Module get(int i) { return layers.get(i); }

    /** Puts m in place of layer i (under the same name, so state names do not move) and returns the layer it replaced, which stays open. */
    public Module set(int i, Module m) {
        Module old = layers.set(i, m);
        registerModule(Integer.toString(i), m);
        return old;
    }
    public int size() { return layers.size(); }
    public List<Module> layers() { return java.util.Collections.unmodifiableList(layers); }

    /** Runs the layers; intermediate activations are left to the caller's Scope. */
    @Override
    public Tensor forward(Tensor x) {
        Tensor h = x;
        for (Module m : layers) h = m.forward(h);
        return h;
    }
}
