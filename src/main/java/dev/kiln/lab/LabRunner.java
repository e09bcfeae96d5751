package dev.kiln.lab;

import dev.kiln.backend.Backend;
import dev.kiln.backend.Backends;
import dev.kiln.backend.cuda.CudaBackend;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Tensor;

import java.util.Arrays;

/**
 * Validates lab variants against their op's float64 reference and times them. Inputs are seeded
 * (the same for every variant); CUDA variants get their inputs moved to the GPU first, and their
 * outputs are brought back for validation. Timing: warm-up calls, then the median of timed calls
 * (each followed by a device synchronize for CUDA and closing the output).
 */
public final class LabRunner {
    private final long seed;
    private final int warmup, runs;
    private final double budgetS;

    /**
     * @param warmup  untimed calls before timing
     * @param runs    at most this many timed calls
     * @param budgetS stop timing after this many seconds (one timed call is always made)
     */
    public LabRunner(long seed, int warmup, int runs, double budgetS) {
        if (runs < 1) throw new IllegalArgumentException("lab: runs must be >= 1, got " + runs);
        this.seed = seed;
        this.warmup = warmup;
        this.runs = runs;
        this.budgetS = budgetS;
    }

    /** Checks v on every test size of op; an exception from the kernel is a failure, not a crash. */
    public Validation validate(LabOp op, Variant v) {
        double maxErr = 0;
        int i = 0;
        for (int[] size : op.testSizes()) {
            String where = "size " + LabOp.sizeText(size);
            Tensor[] in = op.inputs(size, new Generator(seed + i++));
            try {
                double[][] vals = new double[in.length][];
                for (int k = 0; k < in.length; k++) vals[k] = in[k].toDoubleArray();
                double[] ref = op.reference(vals, size);
                double[] got = output(v, in);
                if (got.length != ref.length)
                    return new Validation(Double.NaN, false, where + ": " + got.length + " outputs, expected " + ref.length);
                int bad = -1;
                for (int k = 0; k < ref.length; k++) {
                    double err = Math.abs(got[k] - ref[k]);
                    if (!(err <= op.atol() + op.rtol() * Math.abs(ref[k])) && bad < 0) bad = k;
                    maxErr = Double.isNaN(err) ? Double.NaN : Math.max(maxErr, err);
                }
                if (bad >= 0)
                    return new Validation(maxErr, false, where + ": element " + bad + " is " + got[bad] + ", reference " + ref[bad]);
            } catch (RuntimeException e) {
                return new Validation(Double.NaN, false, where + ": " + e.getClass().getSimpleName() + ": " + e.getMessage());
            } finally {
                for (Tensor t : in) t.close();
            }
        }
        return new Validation(maxErr, true, null);
    }

    /** Runs v once on CPU inputs and returns its output as doubles on the host. */
    private static double[] output(Variant v, Tensor[] cpuInputs) {
        Tensor[] in = onDevice(v, cpuInputs);
        try (Tensor out = v.kernel().run(in)) {
            if (!isCuda(v)) return out.toDoubleArray();
            try (Tensor host = out.to(Backends.cpu())) { return host.toDoubleArray(); }
        } finally {
            if (in != cpuInputs) for (Tensor t : in) t.close();
        }
    }

    /** Median seconds of one call of v at size. */
    public double time(LabOp op, Variant v, int[] size) {
        Tensor[] cpu = op.inputs(size, new Generator(seed));
        Tensor[] in = onDevice(v, cpu);
        try {
            for (int i = 0; i < warmup; i++) call(v, in);
            double[] t = new double[runs];
            long deadline = System.nanoTime() + (long) (budgetS * 1e9);
            int n = 0;
            while (n < runs && (n == 0 || System.nanoTime() < deadline)) {
                long t0 = System.nanoTime();
                call(v, in);
                t[n++] = (System.nanoTime() - t0) * 1e-9;
            }
            return median(Arrays.copyOf(t, n));
        } finally {
            if (in != cpu) for (Tensor x : in) x.close();
            for (Tensor x : cpu) x.close();
        }
    }

    private static void call(Variant v, Tensor[] in) {
        try (Tensor out = v.kernel().run(in)) {
            if (out.backend() instanceof CudaBackend cuda) cuda.synchronize();
        }
    }

    private static Tensor[] onDevice(Variant v, Tensor[] cpu) {
        if (!isCuda(v)) return cpu;
        Backend gpu = Backends.cuda();
        Tensor[] d = new Tensor[cpu.length];
        for (int i = 0; i < cpu.length; i++) d[i] = cpu[i].to(gpu);
        return d;
    }

    private static boolean isCuda(Variant v) { return v.device().equals("cuda"); }

    static double median(double[] values) {
        double[] s = values.clone();
        Arrays.sort(s);
        int m = s.length / 2;
        return s.length % 2 == 1 ? s[m] : 0.5 * (s[m - 1] + s[m]);
    }
}
