package dev.kiln.nn;

import dev.kiln.tensor.Tensor;

import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;

/**
 * Holds submodules in a list, named "0", "1", ... like torch.nn.ModuleList, so their parameters
 * are registered (and saved, loaded, closed) with the owner; unlike {@link Sequential} it has no
 * forward of its own: the owner calls its modules, e.g. with extra arguments such as a mask.
 */
public final class ModuleList<M extends Module> extends Module implements Iterable<M> {
    private final List<M> items = new ArrayList<>();

    public ModuleList() {}

    public ModuleList(List<? extends M> modules) {
        for (M m : modules) add(m);
    }

    public ModuleList<M> add(M m) {
        registerModule(Integer.toString(items.size()), m);
        items.add(m);
        return this;
    }

    public M get(int i) { return items.get(i); }

    public int size() { return items.size(); }

    @Override public Iterator<M> iterator() { return Collections.unmodifiableList(items).iterator(); }

    /** A ModuleList is a container, not a layer. */
    @Override
    public Tensor forward(Tensor x) {
        throw new UnsupportedOperationException("ModuleList has no forward: call its " + items.size() + " modules in a loop");
    }
}
