package dev.kiln.compress.prune;

import dev.kiln.nn.Activation;
import dev.kiln.nn.BatchNorm;
import dev.kiln.nn.Conv2d;
import dev.kiln.nn.Dropout;
import dev.kiln.nn.Linear;
import dev.kiln.nn.Module;
import dev.kiln.nn.Pool2d;
import dev.kiln.nn.Sequential;

import java.util.ArrayList;
import java.util.List;

/**
 * Structured (network) pruning of a Sequential: removes the least important neurons of every
 * hidden Linear and channels of every hidden Conv2d (all but the last weighted layer, whose outputs
 * are the model's), and builds a genuinely smaller Sequential: the pruned layer keeps its chosen
 * rows, a BatchNorm after it keeps the same channels, and the next weighted layer keeps the
 * matching input columns / input channels. Through a Flatten after a conv, each channel is a block
 * of H*W consecutive columns of the next Linear. Kept units keep their order, so their outputs are
 * exactly those of the original model when the removed units are inactive.
 * <p>
 * With {@link Criterion#BN_GAMMA} only layers followed by a BatchNorm are pruned (network slimming).
 * Supported layers: Linear, Conv2d (groups 1 where pruned), BatchNorm, Activation (incl. Flatten),
 * Pool2d and Dropout; the stateless ones are shared with the original model. The original is left
 * unchanged.
 */
public final class StructuredPruner {
    private StructuredPruner() {}

    /** What was removed: per pruned layer index, the kept output units (ascending) and the original count. */
    public record LayerResult(int layer, int originalUnits, int[] kept) {}

    public record Result(Sequential model, List<LayerResult> layers) {}

    /** Removes round(fraction * units) units of each hidden Linear/Conv2d by the criterion. */
    public static Result prune(Sequential model, double fraction, Criterion criterion) {
        List<Module> layers = model.layers();
        int lastWeighted = -1;
        for (int i = 0; i < layers.size(); i++) if (isWeighted(layers.get(i))) lastWeighted = i;
        List<Module> out = new ArrayList<>();
        List<LayerResult> results = new ArrayList<>();
        int[] keptIn = null;     // kept units of the feature axis flowing forward (null: all)
        int units = -1;          // size of that axis in the original model
        boolean spatial = false; // the units are conv channels (BatchNorm2d, Flatten blocks)
        boolean flattened = false; // a Flatten came after the last Conv2d
        for (int i = 0; i < layers.size(); i++) {
            Module m = layers.get(i);
            if (m instanceof Linear l) {
                if (spatial && keptIn != null && !flattened)
                    throw new IllegalArgumentException("structured pruning: layer " + i + " (Linear) follows a Conv2d without a Flatten");
                int[] ins = keptIn == null ? LayerSlices.all(l.inFeatures) : LayerSlices.blockColumns(keptIn, blockSize(l.inFeatures, units, i));
                boolean prunes = prunable(layers, i, lastWeighted, criterion);
                int[] outs = !prunes ? LayerSlices.all(l.outFeatures)
                        : keep(importance(layers, i, l.weight().toDoubleArray(), l.outFeatures, l.inFeatures, ins, criterion), fraction);
                out.add(LayerSlices.linear(l, outs, ins));
                if (prunes) results.add(new LayerResult(i, l.outFeatures, outs));
                keptIn = outs;
                units = l.outFeatures;
                spatial = false;
            } else if (m instanceof Conv2d c) {
                if (!spatial && keptIn != null)
                    throw new IllegalArgumentException("structured pruning: layer " + i + " (Conv2d) follows a Linear");
                int[] ins = keptIn == null ? LayerSlices.all(c.inChannels) : keptIn;
                int width = (int) (c.weight().numel() / c.outChannels);
                int[] cols = LayerSlices.blockColumns(ins, c.kernelH * c.kernelW);
                if (c.params.groups() != 1) cols = LayerSlices.all(width);
                boolean prunes = prunable(layers, i, lastWeighted, criterion);
                int[] outs = !prunes ? LayerSlices.all(c.outChannels)
                        : keep(importance(layers, i, c.weight().toDoubleArray(), c.outChannels, width, cols, criterion), fraction);
                out.add(LayerSlices.conv(c, outs, ins));
                if (prunes) results.add(new LayerResult(i, c.outChannels, outs));
                keptIn = outs;
                units = c.outChannels;
                spatial = true;
                flattened = false;
            } else if (m instanceof BatchNorm b) {
                out.add(keptIn == null ? LayerSlices.batchNorm(b, LayerSlices.all(b.weight().shape()[0]), spatial ? 2 : 1)
                        : LayerSlices.batchNorm(b, keptIn, spatial ? 2 : 1));
            } else if (m instanceof Activation || m instanceof Pool2d || m instanceof Dropout) {
                if (m instanceof Activation a && a.kind().equals("Flatten")) flattened = true;
                out.add(m);
            } else {
                throw new IllegalArgumentException("structured pruning: unsupported layer " + i + " (" + m.getClass().getSimpleName()
                        + "); supported: Linear, Conv2d, BatchNorm, activations, Flatten, pooling, Dropout");
            }
        }
        Sequential pruned = new Sequential(out.toArray(Module[]::new));
        pruned.setTraining(model.isTraining());
        return new Result(pruned, results);
    }

    private static boolean isWeighted(Module m) { return m instanceof Linear || m instanceof Conv2d; }

    /** Hidden weighted layers are pruned; with the BatchNorm criterion only those followed by a BatchNorm. */
    private static boolean prunable(List<Module> layers, int i, int lastWeighted, Criterion c) {
        return i != lastWeighted && (c != Criterion.BN_GAMMA || followingBatchNorm(layers, i) != null);
    }

    /** Columns per unit of the previous layer: 1 after a Linear, H*W after a conv and Flatten. */
    private static int blockSize(int inFeatures, int units, int layer) {
        if (units <= 0 || inFeatures % units != 0)
            throw new IllegalArgumentException("structured pruning: layer " + layer + " has " + inFeatures
                    + " inputs, not a multiple of the " + units + " units before it");
        return inFeatures / units;
    }

    /** Importance of each output unit of weighted layer i (rows restricted to the kept input columns). */
    private static double[] importance(List<Module> layers, int i, double[] w, int rows, int width, int[] cols, Criterion c) {
        if (c == Criterion.BN_GAMMA) {
            BatchNorm bn = followingBatchNorm(layers, i);
            double[] g = bn.weight().toDoubleArray();
            for (int k = 0; k < g.length; k++) g[k] = Math.abs(g[k]);
            return g;
        }
        double[] sub = LayerSlices.submatrix(w, width, LayerSlices.all(rows), cols);
        return Criterion.rowNorms(sub, rows, cols.length, c == Criterion.L2);
    }

    /** The BatchNorm between weighted layer i and the next weighted layer, or null. */
    private static BatchNorm followingBatchNorm(List<Module> layers, int i) {
        for (int j = i + 1; j < layers.size() && !isWeighted(layers.get(j)); j++)
            if (layers.get(j) instanceof BatchNorm b) return b;
        return null;
    }

    /** Indices (ascending) of the units kept: all but the round(fraction * n) least important (ties: lower index pruned). */
    static int[] keep(double[] importance, double fraction) {
        boolean[] k = MaskRules.lowest(importance, fraction);
        if (MaskRules.count(k) == 0) throw new IllegalArgumentException("structured pruning: fraction " + fraction + " would remove every unit of a layer");
        int[] out = new int[MaskRules.count(k)];
        int j = 0;
        for (int i = 0; i < k.length; i++) if (k[i]) out[j++] = i;
        return out;
    }

    /** Short description, e.g. "1: 256 -> 128, 3: 128 -> 64". */
    public static String describe(List<LayerResult> layers) {
        List<String> parts = new ArrayList<>();
        for (LayerResult r : layers) parts.add(r.layer() + ": " + r.originalUnits() + " -> " + r.kept().length);
        return String.join(", ", parts);
    }

}
