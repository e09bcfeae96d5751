package dev.kiln.compress.prune;

import dev.kiln.autograd.GradMode;
import dev.kiln.nn.BatchNorm;
import dev.kiln.nn.Conv2d;
import dev.kiln.nn.Linear;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Tensor;


/**
 * Builds smaller copies of layers holding selected rows (outputs) and input columns / channels of
 * the original ones; values are copied exactly, in the original dtype. Used by {@link StructuredPruner}.
 */
final class LayerSlices {
    private LayerSlices() {}

    private static final Generator INIT = new Generator(0); // overwritten at once

    /** Identity index list 0..n-1. */
    static int[] all(int n) {
        int[] a = new int[n];
        for (int i = 0; i < n; i++) a[i] = i;
        return a;
    }

    /** Column indices of the kept input units when each unit spans a block of {@code block} consecutive columns. */
    static int[] blockColumns(int[] units, int block) {
        int[] cols = new int[units.length * block];
        for (int i = 0; i < units.length; i++)
            for (int j = 0; j < block; j++) cols[i * block + j] = units[i] * block + j;
        return cols;
    }

    /** The [rows.length, cols.length] submatrix of a row-major [*, width] matrix. */
    static double[] submatrix(double[] w, int width, int[] rows, int[] cols) {
        double[] out = new double[rows.length * cols.length];
        for (int r = 0; r < rows.length; r++)
            for (int c = 0; c < cols.length; c++) out[r * cols.length + c] = w[rows[r] * width + cols[c]];
        return out;
    }

    static double[] pick(double[] v, int[] idx) {
        double[] out = new double[idx.length];
        for (int i = 0; i < idx.length; i++) out[i] = v[idx[i]];
        return out;
    }

    /** Linear keeping output rows {@code outs} and input features {@code ins}. */
    static Linear linear(Linear l, int[] outs, int[] ins) {
        Linear n = new Linear(ins.length, outs.length, l.bias() != null, INIT);
        fill(n.weight(), submatrix(l.weight().toDoubleArray(), l.inFeatures, outs, ins));
        if (l.bias() != null) fill(n.bias(), pick(l.bias().toDoubleArray(), outs));
        return n;
    }

    /** Conv2d keeping output channels {@code outs} and input channels {@code ins} (groups must be 1). */
    static Conv2d conv(Conv2d c, int[] outs, int[] ins) {
        if (c.params.groups() != 1 && (outs.length != c.outChannels || ins.length != c.inChannels))
            throw new IllegalArgumentException("structured pruning: grouped convolutions (groups=" + c.params.groups() + ") are not supported");
        int k = c.kernelH * c.kernelW;
        Conv2d n = new Conv2d(ins.length, outs.length, c.kernelH, c.kernelW, c.params, c.bias() != null, INIT);
        int width = (int) (c.weight().numel() / c.outChannels);
        int[] cols = c.params.groups() == 1 ? blockColumns(ins, k) : all(width);
        fill(n.weight(), submatrix(c.weight().toDoubleArray(), width, outs, cols));
        if (c.bias() != null) fill(n.bias(), pick(c.bias().toDoubleArray(), outs));
        return n;
    }

    /** BatchNorm keeping channels {@code keep}; spatialDims 1 or 2 as the layer it normalizes. */
    static BatchNorm batchNorm(BatchNorm b, int[] keep, int spatialDims) {
        BatchNorm n = BatchNorm.of(keep.length, spatialDims, b.eps(), b.momentum());
        fill(n.weight(), pick(b.weight().toDoubleArray(), keep));
        fill(n.bias(), pick(b.bias().toDoubleArray(), keep));
        fill(n.runningMean(), pick(b.runningMean().toDoubleArray(), keep));
        fill(n.runningVar(), pick(b.runningVar().toDoubleArray(), keep));
        Tensor batches = b.namedBuffers().get("num_batches_tracked");
        if (batches != null) fill(n.namedBuffers().get("num_batches_tracked"), batches.toDoubleArray());
        n.setTraining(b.isTraining());
        return n;
    }

    /** Copies values (exactly, cast to the destination dtype) into a parameter or buffer. */
    static void fill(Tensor dst, double[] values) {
        try (Scope s = Scope.open(); GradMode.Guard g = GradMode.noGrad()) {
            dst.copyFrom(Tensor.fromDoubles(dst.dtype(), values, dst.shape()));
        }
    }
}
