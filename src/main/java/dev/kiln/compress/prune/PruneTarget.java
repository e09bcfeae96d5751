package dev.kiln.compress.prune;

import dev.kiln.nn.Conv2d;
import dev.kiln.nn.Linear;
import dev.kiln.nn.Module;
import dev.kiln.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A weight that pruning may sparsify: the weight of a Linear ([out, in]) or Conv2d
 * ([out, Cin/groups, kh, kw]) layer, seen as a [rows, cols] matrix whose cols are the input
 * dimension (in, or the flattened Cin*kh*kw) along which N:M groups run. Biases and
 * normalization parameters are never pruned.
 */
public record PruneTarget(String name, Tensor weight) {
    public int rows() { return weight.shape()[0]; }
    public int cols() { return (int) (weight.numel() / rows()); }

    /** The weights of every Linear and Conv2d in the module tree, in parameter order, named like state-dict keys. */
    public static List<PruneTarget> of(Module model) {
        List<PruneTarget> out = new ArrayList<>();
        collect("", model, out);
        return out;
    }

    private static void collect(String prefix, Module m, List<PruneTarget> out) {
        if (m instanceof Linear l) out.add(new PruneTarget(prefix + "weight", l.weight()));
        else if (m instanceof Conv2d c) out.add(new PruneTarget(prefix + "weight", c.weight()));
        for (Map.Entry<String, Module> e : m.children().entrySet()) collect(prefix + e.getKey() + ".", e.getValue(), out);
    }

    /** |w| as doubles, the magnitude score. */
    double[] magnitudes() {
        double[] w = weight.toDoubleArray();
        for (int i = 0; i < w.length; i++) w[i] = Math.abs(w[i]);
        return w;
    }
}
