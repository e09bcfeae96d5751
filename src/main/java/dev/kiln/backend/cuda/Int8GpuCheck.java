package dev.kiln.backend.cuda;

import static dev.kiln.backend.cuda.CudaException.check;

import dev.kiln.compress.quant.Int8Gemm;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Tensor;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import org.bytedeco.cuda.cudart.cudaDeviceProp;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.javacpp.BytePointer;

/**
 * The GPU int8 check run by {@code tools/gpu-check} on the GPU host:
 * {@code java ... dev.kiln.backend.cuda.Int8GpuCheck [OUT_DIR] [N]}.
 * <ol>
 *   <li>Correctness: every {@link CudaInt8Gemm} kernel that accepts a shape (automatic choice,
 *       both tensor-core tiles, dp4a; an A pointer 1 byte off alignment) against the CPU
 *       {@link Int8Gemm#matmulT}, bit-exact, on odd shapes (1x7x33, 129x65x100, 512^3, ...), and
 *       cuBLASLt int8 where it takes the shape; the requantize kernel against
 *       {@link Int8Gemm#requantize}'s float path, bit-exact.</li>
 *   <li>Speed at N^3 (default 8192): Kiln's kernels vs cuBLASLt int8 (IMMA) vs cuBLAS bf16, median
 *       of {@value #REPS} runs each timed with CUDA events; every Kiln int8 result is compared with
 *       cuBLASLt's in full.</li>
 * </ol>
 * Prints a table (TOPS, ratio to cuBLASLt; goal: Kiln >= 0.6x) and writes {@code int8-gemm.json}
 * into OUT_DIR, whatever happened: an exception in one shape, variant or timing (say cuBLASLt has no
 * algorithm for an odd shape) is recorded as an "ERROR ..." failure and the rest still runs. Exit
 * code 0 when everything matched, 1 on a mismatch or error, 0 with "skipped" and the reason when
 * there is no usable CUDA device.
 */
public final class Int8GpuCheck {
    static final int REPS = 10;
    static final int[][] SHAPES = {
        {1, 7, 33}, {129, 65, 100}, {512, 512, 512}, {16, 16, 16}, {3, 1000, 64}, {257, 384, 128}, {200, 136, 4096},
        {1000, 8, 48}, {130, 260, 80},
    };

    private Int8GpuCheck() {}

    /** One timed kernel: name, median ms, tera-ops/s, and whether its result equals cuBLASLt's (null: not compared). */
    record Timing(String name, double ms, double tops, Boolean exact) {}

    public static void main(String[] args) throws IOException {
        Path out = Path.of(args.length > 0 ? args[0] : ".");
        int n = args.length > 1 ? Integer.parseInt(args[1]) : 8192;
        if (!CudaAvailability.isAvailable()) {
            System.out.println("int8 gpu check skipped: " + CudaAvailability.reason());
            return;
        }
        List<String> failures = new ArrayList<>();
        List<Timing> timings = new ArrayList<>();
        String device = "cuda:0";
        // every step records its own failure and the rest still runs; the table and the JSON are
        // written whatever happened (a sticky CUDA error makes the later steps fail too, each named)
        try (CudaInt8Gemm gpu = new CudaInt8Gemm(0)) {
            device = deviceName() + ", sm_" + gpu.archMajor() + "x, " + gpu.smCount() + " SMs";
            CublasLtInt8 lt = null;
            try {
                lt = new CublasLtInt8(gpu);
            } catch (RuntimeException e) {
                failures.add(error("cuBLASLt setup (its checks and timings are skipped)", e));
            }
            try {
                failures.addAll(checkCorrectness(gpu, lt, System.out));
                timings.addAll(timeAll(gpu, lt, n, failures));
            } finally {
                if (lt != null) {
                    try {
                        lt.close();
                    } catch (RuntimeException e) {
                        failures.add(error("cuBLASLt close", e));
                    }
                }
            }
        } catch (RuntimeException e) {
            failures.add(error("int8 check aborted", e));
        } finally {
            System.out.print(table(device, n, timings, failures));
            Files.createDirectories(out);
            Files.writeString(out.resolve("int8-gemm.json"), json(device, n, timings, failures));
        }
        if (!failures.isEmpty()) System.exit(1);
    }

    /** "ERROR what: Exception: message" (one line). */
    static String error(String what, Throwable e) {
        String msg = String.valueOf(e.getMessage()).lines().findFirst().orElse("");
        return "ERROR " + what + ": " + e.getClass().getSimpleName() + ": " + msg;
    }

    /** Runs one check; an exception becomes a failure line naming it instead of ending the run. */
    private static int[] attempt(List<String> failures, String what, java.util.function.Supplier<int[]> run) {
        try {
            return run.get();
        } catch (RuntimeException e) {
            failures.add(error(what, e));
            return null;
        }
    }

    /**
     * Runs every shape through every applicable kernel (and cuBLASLt when {@code lt} is not null);
     * returns one line per mismatch or error (empty: all exact). An error in one shape or variant
     * (e.g. cuBLASLt has no algorithm for an odd shape) is recorded and the others still run.
     */
    static List<String> checkCorrectness(CudaInt8Gemm gpu, CublasLtInt8 lt, PrintStream log) {
        List<String> failures = new ArrayList<>();
        int checked = 0;
        for (int[] s : SHAPES) {
            int m = s[0], n = s[1], k = s[2];
            byte[] a = randomBytes(m * 131L + k, m * k), b = randomBytes(n * 7919L + k, n * k);
            int[] ref = cpuMatmulT(a, b, m, n, k);
            String shape = m + "x" + n + "x" + k;
            List<CudaInt8Gemm.Variant> variants = new ArrayList<>();
            variants.add(null);
            for (CudaInt8Gemm.Variant v : CudaInt8Gemm.Variant.values())
                if (!v.tiled() || CudaInt8Gemm.tiledRejection(k, 0, 0, gpu.archMajor()) == null) variants.add(v);
            for (CudaInt8Gemm.Variant v : variants) {
                String what = "kiln " + (v == null ? "auto" : v.kernel()) + " " + shape;
                int[] got = attempt(failures, what, () -> gpu.matmulT(a, b, m, n, k, v));
                if (got != null) addMismatch(failures, what, ref, got, n);
                checked++;
            }
            String mis = "kiln auto, A misaligned by 1 byte " + shape;
            int[] got = attempt(failures, mis, () -> misalignedA(gpu, a, b, m, n, k));
            if (got != null) addMismatch(failures, mis, ref, got, n);
            checked++;
            if (lt != null && CublasLtInt8.unsupported(m, n, k) == null) {
                String what = "cublasLt int8 " + shape;
                int[] c = attempt(failures, what, () -> cublasLt(gpu, lt, a, b, m, n, k));
                if (c != null) addMismatch(failures, what, ref, c, n);
                checked++;
            }
        }
        try {
            failures.addAll(checkRequantize(gpu));
        } catch (RuntimeException e) {
            failures.add(error("requantize", e));
        }
        log.printf(Locale.ROOT, "int8 gemm correctness: %d runs on %d shapes, %d mismatches or errors%n", checked, SHAPES.length, failures.size());
        failures.forEach(f -> log.println(f.startsWith("ERROR ") ? "  " + f : "  MISMATCH " + f));
        return failures;
    }

    private static int[] misalignedA(CudaInt8Gemm gpu, byte[] a, byte[] b, int m, int n, int k) {
        long base = gpu.malloc(a.length + 16L), db = gpu.upload(b), dc = gpu.malloc(4L * m * n);
        try (BytePointer h = new BytePointer(a)) {
            gpu.copyIn(base + 1, h, a.length);
            gpu.memset(dc, 0x5A, 4L * m * n);
            gpu.matmulT(base + 1, db, dc, m, n, k);
            gpu.stream().synchronize();
            return gpu.downloadInts(dc, m * n);
        } finally {
            gpu.free(base);
            gpu.free(db);
            gpu.free(dc);
        }
    }

    private static int[] cublasLt(CudaInt8Gemm gpu, CublasLtInt8 lt, byte[] a, byte[] b, int m, int n, int k) {
        long da = gpu.upload(a), db = gpu.upload(b), dc = gpu.malloc(4L * m * n);
        try {
            gpu.memset(dc, 0x5A, 4L * m * n);
            lt.matmulT(da, db, dc, m, n, k);
            gpu.stream().synchronize();
            return gpu.downloadInts(dc, m * n);
        } finally {
            gpu.free(da);
            gpu.free(db);
            gpu.free(dc);
        }
    }

    /** The requantize kernel against Int8Gemm.requantize (float output), with and without bias and ReLU. */
    static List<String> checkRequantize(CudaInt8Gemm gpu) {
        List<String> failures = new ArrayList<>();
        int m = 129, n = 65, k = 100;
        byte[] a = randomBytes(5, m * k), b = randomBytes(6, n * k);
        int[] acc = cpuMatmulT(a, b, m, n, k);
        SplittableRandom r = new SplittableRandom(7);
        float[] wScale = new float[n], bias = new float[n];
        int[] rowSum = new int[n];
        for (int j = 0; j < n; j++) {
            wScale[j] = (float) (r.nextDouble(1e-3, 2e-2));
            bias[j] = (float) r.nextDouble(-1, 1);
            for (int p = 0; p < k; p++) rowSum[j] += b[j * k + p];
        }
        for (boolean relu : new boolean[] {false, true})
            for (float[] bi : new float[][] {null, bias}) {
                float[] ref;
                try (Tensor accT = Tensor.fromArray(acc, m, n);
                     Tensor y = Int8Gemm.requantize(accT, 0.037f, 3, wScale, rowSum, bi, relu, 0, 0)) {
                    ref = y.toFloatArray();
                }
                float[] got = gpu.requantize(acc, m, n, 0.037f, 3, wScale, rowSum, bi, relu);
                String bad = firstBitMismatch(ref, got, n);
                if (bad != null) failures.add("requantize relu=" + relu + " bias=" + (bi != null) + ": " + bad);
            }
        return failures;
    }

    /**
     * Times Kiln's kernels, cuBLASLt int8 and cuBLAS bf16 at n^3 (the NVIDIA peers only when
     * {@code lt} is not null); Kiln results that differ from cuBLASLt's, and any step that throws,
     * go to failures while the other steps still run.
     */
    static List<Timing> timeAll(CudaInt8Gemm gpu, CublasLtInt8 lt, int n, List<String> failures) {
        List<Timing> out = new ArrayList<>();
        byte[] a = randomBytes(11, (long) n * n), b = randomBytes(12, (long) n * n);
        long da = gpu.upload(a), db = gpu.upload(b), dc = gpu.malloc(4L * n * n);
        try (CudaEvent start = CudaEvent.create(true); CudaEvent end = CudaEvent.create(true)) {
            int[] ref = null;
            if (lt != null) {
                try {
                    double ltMs = median(time(() -> lt.matmulT(da, db, dc, n, n, n), gpu, start, end, REPS));
                    ref = gpu.downloadInts(dc, n * n);
                    out.add(new Timing("cuBLASLt int8 (IMMA)", ltMs, tops(n, ltMs), null));
                } catch (RuntimeException e) {
                    failures.add(error("cuBLASLt int8 timing " + n + "^3", e));
                }
            }
            CudaInt8Gemm.Launch auto = CudaInt8Gemm.plan(n, n, n, da, db, gpu.archMajor(), gpu.smCount(), null);
            for (CudaInt8Gemm.Variant v : CudaInt8Gemm.Variant.values()) {
                String name = "kiln " + v.kernel().replace("kiln_int8_gemm_nt_", "int8 ") + (v == auto.variant() ? " (auto)" : "");
                try {
                    int reps = v.tiled() ? REPS : 3;
                    gpu.memset(dc, 0x5A, 4L * n * n);  // a kernel that writes nothing cannot pass
                    double ms = median(time(() -> gpu.matmulT(da, db, dc, n, n, n, v), gpu, start, end, reps));
                    String bad = ref == null ? null : firstMismatch(ref, gpu.downloadInts(dc, n * n), n);
                    if (bad != null) failures.add(name + " " + n + "^3 vs cuBLASLt: " + bad);
                    out.add(new Timing(name, ms, tops(n, ms), ref == null ? null : bad == null));
                } catch (RuntimeException e) {
                    failures.add(error(name + " timing " + n + "^3", e));
                }
            }
        } finally {
            gpu.free(da);
            gpu.free(db);
            gpu.free(dc);
        }
        if (lt != null) {
            try {
                out.add(timeBf16(gpu, lt, a, b, n));
            } catch (RuntimeException e) {
                failures.add(error("cuBLAS bf16 timing " + n + "^3", e));
            }
        }
        return out;
    }

    private static Timing timeBf16(CudaInt8Gemm gpu, CublasLtInt8 lt, byte[] a, byte[] b, int n) {
        long da = gpu.upload(toBf16(a)), db = gpu.upload(toBf16(b)), dc = gpu.malloc(2L * n * n);
        try (CudaEvent start = CudaEvent.create(true); CudaEvent end = CudaEvent.create(true)) {
            double ms = median(time(() -> lt.bf16MatmulT(da, db, dc, n, n, n), gpu, start, end, REPS));
            return new Timing("cuBLAS bf16 (TFLOP/s)", ms, tops(n, ms), null);
        } finally {
            gpu.free(da);
            gpu.free(db);
            gpu.free(dc);
        }
    }

    /** Two warm-up runs, then each of {@code reps} runs timed alone between two events (ms). */
    private static double[] time(Runnable run, CudaInt8Gemm gpu, CudaEvent start, CudaEvent end, int reps) {
        for (int i = 0; i < 2; i++) run.run();
        gpu.stream().synchronize();
        double[] ms = new double[reps];
        for (int i = 0; i < reps; i++) {
            start.record(gpu.stream());
            run.run();
            end.record(gpu.stream());
            end.synchronize();
            ms[i] = end.elapsedMillisSince(start);
        }
        return ms;
    }

    private static String deviceName() {
        try (cudaDeviceProp p = new cudaDeviceProp()) {
            check(cudart.cudaGetDeviceProperties(p, 0), "cudaGetDeviceProperties");
            return p.name().getString();
        }
    }

    // ---- pure helpers (tested on the CPU) ----

    /** C = A B^T by the CPU kernel of {@link Int8Gemm} (a: m x k, b: n x k row-major bytes). */
    static int[] cpuMatmulT(byte[] a, byte[] b, int m, int n, int k) {
        try (Tensor bt = Tensor.zeros(DType.I8, n, k)) {
            MemorySegment.copy(b, 0, bt.segment(), ValueLayout.JAVA_BYTE, bt.offset(), b.length);
            try (Int8Gemm.PackedInt8 packed = Int8Gemm.pack(bt)) {
                return Int8Gemm.matmulT(a, m, k, packed);
            }
        }
    }

    /** {@code len} bytes, uniform over [-128, 127], from {@code seed}. */
    static byte[] randomBytes(long seed, long len) {
        byte[] v = new byte[Math.toIntExact(len)];
        SplittableRandom r = new SplittableRandom(seed);
        for (int i = 0; i < v.length; i++) v[i] = (byte) r.nextInt();
        return v;
    }

    /** The bf16 bit patterns of int8 values (exact: 8 significant bits suffice). */
    static short[] toBf16(byte[] v) {
        short[] out = new short[v.length];
        for (int i = 0; i < v.length; i++) out[i] = (short) (Float.floatToRawIntBits(v[i]) >>> 16);
        return out;
    }

    static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    /** Tera-operations per second of an n^3 GEMM (2 n^3 ops) taking {@code ms}. */
    static double tops(int n, double ms) {
        return 2.0 * n * n * n / (ms * 1e-3) / 1e12;
    }

    /** Null when equal, else the count of differing entries and the first one as (row, col). */
    static String firstMismatch(int[] ref, int[] got, int cols) {
        if (ref.length != got.length) return "length " + got.length + " != " + ref.length;
        int first = -1, count = 0;
        for (int i = 0; i < ref.length; i++)
            if (ref[i] != got[i]) {
                if (first < 0) first = i;
                count++;
            }
        if (count == 0) return null;
        return count + " of " + ref.length + " differ, first at (" + first / cols + ", " + first % cols + "): "
                + got[first] + " != " + ref[first];
    }

    static String firstBitMismatch(float[] ref, float[] got, int cols) {
        int[] r = new int[ref.length], g = new int[got.length];
        for (int i = 0; i < r.length; i++) r[i] = Float.floatToRawIntBits(ref[i]);
        for (int i = 0; i < g.length; i++) g[i] = Float.floatToRawIntBits(got[i]);
        return firstMismatch(r, g, cols);
    }

    private static void addMismatch(List<String> failures, String what, int[] ref, int[] got, int cols) {
        String bad = firstMismatch(ref, got, cols);
        if (bad != null) failures.add(what + ": " + bad);
    }

    /** The best Kiln int8 time over cuBLASLt int8's (>1: Kiln faster), or NaN without both. */
    static double kilnOverCublasLt(List<Timing> timings) {
        double lt = Double.NaN, best = Double.NaN;
        for (Timing t : timings) {
            if (t.name().startsWith("cuBLASLt")) lt = t.ms();
            else if (t.name().startsWith("kiln") && !(t.ms() >= best)) best = t.ms();
        }
        return lt / best;
    }

    static String table(String device, int n, List<Timing> timings, List<String> failures) {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "int8 GEMM %d^3 on %s (median of %d, CUDA events)%n", n, device, REPS));
        sb.append(String.format(Locale.ROOT, "%-28s %9s %9s %12s %8s%n", "kernel", "ms", "TOPS", "/cuBLASLt", "exact"));
        double lt = timings.stream().filter(t -> t.name().startsWith("cuBLASLt")).mapToDouble(Timing::ms).findFirst().orElse(Double.NaN);
        for (Timing t : timings) {
            String exact = t.exact() == null ? "-" : t.exact() ? "yes" : "NO";
            sb.append(String.format(Locale.ROOT, "%-28s %9.3f %9.1f %12.2f %8s%n", t.name(), t.ms(), t.tops(), lt / t.ms(), exact));
        }
        sb.append(String.format(Locale.ROOT, "best Kiln int8 / cuBLASLt int8 = %.2f (goal >= 0.6); correctness: %s%n",
                kilnOverCublasLt(timings), failures.isEmpty() ? "all exact" : failures.size() + " MISMATCHES OR ERRORS"));
        return sb.toString();
    }

    static String json(String device, int n, List<Timing> timings, List<String> failures) {
        StringBuilder sb = new StringBuilder("{\n");
        sb.append("  \"device\": ").append(quote(device)).append(",\n");
        sb.append("  \"n\": ").append(n).append(", \"reps\": ").append(REPS).append(",\n");
        sb.append("  \"results\": [\n");
        for (int i = 0; i < timings.size(); i++) {
            Timing t = timings.get(i);
            sb.append(String.format(Locale.ROOT, "    {\"name\": %s, \"ms\": %.4f, \"tops\": %.2f, \"exact_vs_cublaslt\": %s}%s%n",
                    quote(t.name()), t.ms(), t.tops(), t.exact() == null ? "null" : t.exact().toString(),
                    i + 1 < timings.size() ? "," : ""));
        }
        sb.append("  ],\n");
        double ratio = kilnOverCublasLt(timings);
        sb.append("  \"kiln_over_cublaslt\": ").append(Double.isNaN(ratio) ? "null" : String.format(Locale.ROOT, "%.4f", ratio)).append(",\n");
        sb.append("  \"mismatches\": [");
        for (int i = 0; i < failures.size(); i++) sb.append(i == 0 ? "" : ", ").append(quote(failures.get(i)));
        sb.append("]\n}\n");
        return sb.toString();
    }

    static String quote(String s) {
        StringBuilder sb = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') sb.append('\\').append(c);
            else if (c < 0x20) sb.append(String.format("\\u%04x", (int) c));
            else sb.append(c);
        }
        return sb.append('"').toString();
    }
}
