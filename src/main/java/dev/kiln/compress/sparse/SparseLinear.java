package dev.kiln.compress.sparse;

import dev.kiln.autograd.GradMode;
import dev.kiln.backend.cpu.CpuConfig;
import dev.kiln.ops.Linear;
import dev.kiln.tensor.Shape;
import dev.kiln.tensor.Tensor;

import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * An inference Linear layer {@code y = x W^T + b} whose weight may run on a sparse kernel. Built
 * from a dense weight with zeros ({@link #fromDense}) or a weight and a mask ({@link #fromMask});
 * for each call it asks a {@link SparseCrossover} table (default: the CPU table measured by
 * {@code kiln bench sparse}) which kernel is fastest for the weight's sparsity, the batch size and
 * {@link CpuConfig#threads()}, and runs dense {@link Linear#linear} unless a sparse format is
 * estimated to be faster:
 * <ul>
 *   <li>CSR at the weight's element sparsity,</li>
 *   <li>BSR 4x4 at its block sparsity (fraction of padded entries in empty 4x4 tiles),</li>
 *   <li>2:4 when every group of 4 weights along K has at most 2 nonzeros.</li>
 * </ul>
 * {@link #chosen(int)} says which kernel a batch size gets. Sparse formats are built on first use
 * and kept. No autograd: the output never requires grad. Close it to free its weight copy.
 *
 * <pre>{@code
 * try (SparseLinear lin = SparseLinear.fromDense(prunedWeight, bias)) {   // weight [out, in], bias [out] or null
 *     Tensor y = lin.forward(x);                                           // x [..., in] -> y [..., out]
 *     System.out.println(lin.chosen(64));                                  // DENSE, CSR, BSR or SPARSE_24
 * }
 * }</pre>
 */
public final class SparseLinear implements AutoCloseable {
    /** The kernels a call can run. */
    public enum Kernel { DENSE, CSR, BSR, SPARSE_24 }

    private final Tensor weight;       // F32 copy [out, in]
    private final Tensor bias;         // F32 copy [out] or null
    private final float[] biasValues;
    private final SparseCrossover table;
    private final double sparsity, blockSparsity;
    private final boolean twoFour;
    private final Map<Kernel, SparseMatrix> built = new EnumMap<>(Kernel.class);
    private final float[] dense;

    private SparseLinear(float[] dense, int out, int in, Tensor bias, SparseCrossover table) {
        this.dense = dense;
        this.weight = Tensor.fromArray(dense, out, in);
        this.table = table;
        if (bias != null && (bias.dim() != 1 || bias.shape()[0] != out)) {
            weight.close();
            throw new IllegalArgumentException("sparse linear: bias shape " + Shape.str(bias.shape()) + " does not match weight [" + out + ", " + in + "]");
        }
        this.biasValues = bias == null ? null : bias.toFloatArray();
        this.bias = bias == null ? null : Tensor.fromArray(biasValues, out);
        this.sparsity = zeroFraction(dense);
        this.blockSparsity = out == 0 || in == 0 ? 0 : BsrMatrix.fromDense(dense, out, in).sparsity();
        this.twoFour = isTwoFour(dense, out, in);
    }

    /** From a dense weight [out, in] (its zeros are the sparsity) and an optional bias [out]; the CPU table decides. */
    public static SparseLinear fromDense(Tensor weight, Tensor bias) { return fromDense(weight, bias, SparseCrossover.cpu()); }

    /** As {@link #fromDense(Tensor, Tensor)} with a given crossover table. */
    public static SparseLinear fromDense(Tensor weight, Tensor bias, SparseCrossover table) {
        int[] s = weight.shape();
        return new SparseLinear(SparseChecks.denseArray(weight, "sparse linear"), s[0], s[1], bias, table);
    }

    /** From weight * (mask != 0) and an optional bias; the CPU table decides. */
    public static SparseLinear fromMask(Tensor weight, Tensor mask, Tensor bias) {
        int[] s = weight.shape();
        return new SparseLinear(SparseChecks.masked(weight, mask, "sparse linear"), s[0], s[1], bias, SparseCrossover.cpu());
    }

    public int inFeatures() { return weight.shape()[1]; }
    public int outFeatures() { return weight.shape()[0]; }
    /** Fraction of zero weights. */
    public double sparsity() { return sparsity; }
    /** Fraction of (padded) weights in empty 4x4 tiles. */
    public double blockSparsity() { return blockSparsity; }
    /** True when the weight is 2:4 sparse along its input dimension. */
    public boolean isTwoFour() { return twoFour; }

    /**
     * Whether {@link #forward(Tensor)} measures the candidate kernels on the first call of each
     * (batch, thread count) and runs the fastest ({@code -Dkiln.sparse.autotune=false}: the crossover
     * table alone decides, as before).
     */
    static volatile boolean autotune = !"false".equalsIgnoreCase(System.getProperty("kiln.sparse.autotune", "true"));

    /** A kernel chosen by measurement, with the timings that chose it. */
    public record Choice(Kernel kernel, String why) {}

    private final Map<Long, Choice> measured = new java.util.concurrent.ConcurrentHashMap<>();

    private static long key(int batch) { return ((long) batch << 16) | CpuConfig.threads(); }

    /**
     * Why {@link #chosen} picks what it picks for this batch: the measured timings once a forward
     * call of that batch has run (at the current thread count), else the crossover table's estimate.
     */
    public String reason(int batch) {
        Choice c = measured.get(key(batch));
        if (c != null) return c.why();
        Kernel k = chosen(batch);
        return k + ": crossover table estimate (not measured on this layer yet)";
    }

    /**
     * The kernel a call with this many activation rows runs at the current thread count: the one
     * measured fastest on this layer (see {@link #forward(Tensor)}), or before any such call the
     * crossover table's estimate.
     */
    public Kernel chosen(int batch) {
        Choice c = measured.get(key(batch));
        if (c != null) return c.kernel();
        return fromTable(batch);
    }

    /**
     * Times every kernel that applies on x (dense, CSR, BSR where 4x4 tiles are empty, 2:4 where the
     * weight is 2:4): runs each for up to 30 ms (at most 200 runs), the fastest run counting. A sparse kernel
     * must beat dense by 5% to be chosen, so a pruned layer never runs slower than its dense twin
     * because of timing noise. (The crossover table was measured on 4096 x 4096 weights; applied to
     * Fashion-MNIST's 784 x 256 layers it chose CSR at 0.16x dense.)
     */
    private Choice measure(Tensor x, int batch) {
        List<Kernel> candidates = new java.util.ArrayList<>(List.of(Kernel.DENSE));
        if (sparsity > 0) candidates.add(Kernel.CSR);
        if (blockSparsity > 0) candidates.add(Kernel.BSR);
        if (twoFour) candidates.add(Kernel.SPARSE_24);
        Map<Kernel, Double> ms = new EnumMap<>(Kernel.class);
        for (Kernel k : candidates) {
            // repeated until 30 ms or 200 runs have passed, the fastest run counting: a kernel that has
            // not run before starts in the interpreter, and a few runs would measure the JIT, not the kernel
            double best = Double.MAX_VALUE;
            long start = System.nanoTime();
            for (int r = 0; r < 200 && (r < 3 || System.nanoTime() - start < 30_000_000L); r++) {
                long t0 = System.nanoTime();
                forward(x, k).close();
                best = Math.min(best, (System.nanoTime() - t0) / 1e6);
            }
            ms.put(k, best);
        }
        Kernel pick = Kernel.DENSE;
        for (Kernel k : candidates) if (k != Kernel.DENSE && ms.get(k) < 0.95 * ms.get(pick)) pick = k;
        StringBuilder why = new StringBuilder(pick + ": measured at batch " + batch + ", " + CpuConfig.threads() + " threads:");
        for (Kernel k : candidates) why.append(String.format(java.util.Locale.ROOT, " %s %.3f ms", k, ms.get(k)));
        return new Choice(pick, why.toString());
    }

    /** The crossover table's estimate for this many rows at the current thread count. */
    private Kernel fromTable(int batch) {
        int t = CpuConfig.threads();
        Kernel best = Kernel.DENSE;
        double bestSpeed = 1.0;
        double csr = table.speedup("csr", batch, t, sparsity);
        if (csr > bestSpeed) { best = Kernel.CSR; bestSpeed = csr; }
        double bsr = table.speedup("bsr4x4", batch, t, blockSparsity);
        if (bsr > bestSpeed) { best = Kernel.BSR; bestSpeed = bsr; }
        double s24 = twoFour ? table.speedup("2:4", batch, t, 0.5) : 0;
        if (s24 > bestSpeed) best = Kernel.SPARSE_24;
        return best;
    }

    /** y [..., out] = x [..., in] W^T + b, on the kernel {@link #chosen(int)} picks for x's row count. */
    public Tensor forward(Tensor x) {
        int[] xs = x.shape();
        if (xs.length == 0 || xs[xs.length - 1] != inFeatures())
            throw new IllegalArgumentException("sparse linear: input shape " + Shape.str(xs) + " does not match weight ["
                    + outFeatures() + ", " + inFeatures() + "]");
        int batch = (int) (x.numel() / Math.max(inFeatures(), 1));
        if (autotune && !measured.containsKey(key(batch)) && !GradMode.isEnabled()) measured.putIfAbsent(key(batch), measure(x, batch));
        Kernel k = chosen(batch);
        return forward(x, k);
    }

    /** y = x W^T + b with a given kernel (tests and benchmarks). */
    public Tensor forward(Tensor x, Kernel k) {
        if (k == Kernel.DENSE) return Linear.linear(x, weight, bias);
        int batch = (int) (x.numel() / Math.max(inFeatures(), 1));
        float[] y = SparseMatmul.linear(x.toFloatArray(), batch, matrix(k));
        int n = outFeatures();
        if (biasValues != null)
            for (int b = 0; b < batch; b++)
                for (int i = 0; i < n; i++) y[b * n + i] += biasValues[i];
        int[] ys = x.shape();
        ys[ys.length - 1] = n;
        return Tensor.fromArray(y, ys);
    }

    /** The sparse form used for a kernel (built once). */
    public synchronized SparseMatrix matrix(Kernel k) {
        return built.computeIfAbsent(k, kk -> switch (kk) {
            case CSR -> CsrMatrix.fromDense(dense, outFeatures(), inFeatures());
            case BSR -> BsrMatrix.fromDense(dense, outFeatures(), inFeatures());
            case SPARSE_24 -> Sparse24Matrix.fromDense(dense, outFeatures(), inFeatures());
            case DENSE -> throw new IllegalArgumentException("sparse linear: DENSE has no sparse matrix");
        });
    }

    private static double zeroFraction(float[] d) {
        long z = 0;
        for (float v : d) if (v == 0) z++;
        return d.length == 0 ? 0 : (double) z / d.length;
    }

    private static boolean isTwoFour(float[] d, int rows, int cols) {
        for (int i = 0; i < rows; i++)
            for (int j0 = 0; j0 < cols; j0 += 4) {
                int nz = 0;
                for (int j = j0; j < Math.min(cols, j0 + 4); j++) if (d[i * cols + j] != 0) nz++;
                if (nz > 2) return false;
            }
        return true;
    }

    @Override public String toString() {
        return String.format(Locale.ROOT, "SparseLinear[%d -> %d, %.1f%% sparse, 4x4-block %.1f%%, 2:4 %b, batch 1: %s, batch 64: %s]",
                inFeatures(), outFeatures(), 100 * sparsity, 100 * blockSparsity, twoFour, chosen(1), chosen(64));
    }

    @Override
    public void close() {
        weight.close();
        if (bias != null) bias.close();
    }
}
