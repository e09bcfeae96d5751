package dev.kiln.backend.cpu;

import dev.kiln.compress.sparse.CsrMatrix;
import dev.kiln.compress.sparse.Sparse24Matrix;
import dev.kiln.tensor.Storage;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.Supplier;

/**
 * Child-JVM main for {@link LaneSumDeterminismTest}: runs every kernel that sums across vector
 * lanes on fixed seeded inputs, optionally {@code warm} times first (to get it C2-compiled), and
 * prints one line per kernel: its name and the raw bits of every output.
 */
public final class LaneSumProbe {
    private LaneSumProbe() {}

    static final int L = CpuConfig.F32.length(), LD = CpuConfig.F64.length();

    public static void main(String[] args) {
        int warm = Integer.parseInt(args[0]);
        for (var k : kernels()) {
            for (int i = 0; i < warm; i++) k.run.get();
            System.out.println(k.name + " " + k.run.get());
        }
    }

    record Kernel(String name, Supplier<String> run) {}

    private static float[] floats(long seed, int n) {
        Random r = new Random(seed);
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (r.nextDouble() * 4 - 2) * (1 + i % 7);
        return a;
    }

    private static String bits(float[] a) {
        StringBuilder sb = new StringBuilder();
        for (float v : a) sb.append(Integer.toHexString(Float.floatToRawIntBits(v))).append(',');
        return sb.toString();
    }

    private static String bits(double... a) {
        StringBuilder sb = new StringBuilder();
        for (double v : a) sb.append(Long.toHexString(Double.doubleToRawLongBits(v))).append(',');
        return sb.toString();
    }

    static List<Kernel> kernels() {
        List<Kernel> ks = new ArrayList<>();
        // conv2d weight gradient: lane slots of 4 x 3 blocks plus single dots, then reduce
        float[] ga = floats(1, 5 * 2 * L), gb = floats(2, 4 * 2 * L);
        ks.add(new Kernel("ConvBackwardDots", () -> {
            float[] lanes = new float[5 * 4 * L], out = new float[5 * 4];
            ConvBackwardDots.accumulate(ga, 0, 2 * L, gb, 0, 2 * L, 5, 4, 2 * L, lanes, 0, 4);
            ConvBackwardDots.reduce(lanes, 20, out);
            return bits(out);
        }));
        // f64 matrix x column (gemv), k with a tail
        int m = 6, k = 4 * LD + 3;
        Arena arena = Arena.ofAuto();
        MemorySegment a = arena.allocate((long) m * k * 8, 64), b = arena.allocate(k * 8L, 64), c = arena.allocate(m * 8L, 64);
        Random r = new Random(3);
        for (int i = 0; i < m * k; i++) a.setAtIndex(Storage.F64, i, r.nextDouble() * 4 - 2);
        for (int i = 0; i < k; i++) b.setAtIndex(Storage.F64, i, r.nextDouble() * 4 - 2);
        ks.add(new Kernel("GemmF64Gemv", () -> {
            GemmF64Gemv.matrixTimesColumn(0, m, k, 1.0, new GemmMatrix(a, 0, k, 1), new GemmMatrix(b, 0, 1, 1), 0.0,
                    new GemmMatrix(c, 0, 1, 1), new double[k], true);
            double[] out = new double[m];
            for (int i = 0; i < m; i++) out[i] = c.getAtIndex(Storage.F64, i);
            return bits(out);
        }));
        // f32 matrix x column (4-row dots with a fixed-order lane sum), k with a tail
        int m32 = 6, k32 = 4 * L + 3;
        MemorySegment a32 = arena.allocate((long) m32 * k32 * 4, 64), b32 = arena.allocate(k32 * 4L, 64), c32 = arena.allocate(m32 * 4L, 64);
        for (int i = 0; i < m32 * k32; i++) a32.setAtIndex(Storage.F32, i, (float) (r.nextDouble() * 4 - 2));
        for (int i = 0; i < k32; i++) b32.setAtIndex(Storage.F32, i, (float) (r.nextDouble() * 4 - 2));
        ks.add(new Kernel("GemmF32Gemv.dots", () -> {
            GemmF32Gemv.matrixTimesColumn(0, m32, k32, 1f, new GemmMatrix(a32, 0, k32, 1), new GemmMatrix(b32, 0, 1, 1), 0f,
                    new GemmMatrix(c32, 0, 1, 1), new float[k32], true, false);
            float[] out = new float[m32];
            for (int i = 0; i < m32; i++) out[i] = c32.getAtIndex(Storage.F32, i);
            return bits(out);
        }));
        // sparse matrix x vector, CSR and 2:4 (rows long enough for the vector body)
        int rows = 6, cols = 4 * L;
        float[] dense = floats(4, rows * cols), x = floats(5, cols);
        for (int i = 0; i < dense.length; i += 5) dense[i] = 0;
        CsrMatrix csr = CsrMatrix.fromDense(dense, rows, cols);
        ks.add(new Kernel("CsrKernels.vector", () -> {
            float[] y = new float[rows];
            csr.multiplyVector(csr.prepareVector(x, 0), y, 0, rows);
            return bits(y);
        }));
        Sparse24Matrix s24 = Sparse24Matrix.fromDense(Sparse24Matrix.keepLargestTwoOfFour(dense, rows, cols), rows, cols);
        ks.add(new Kernel("Sparse24Kernels.vector", () -> {
            float[] y = new float[rows];
            s24.multiplyVector(s24.prepareVector(x, 0), y, 0, rows);
            return bits(y);
        }));
        // row reductions (sum, deviations), f32 and f64
        int n = 4 * L * 3 + 5;
        MemorySegment xf = arena.allocate(n * 4L, 64), xd = arena.allocate(n * 8L, 64);
        float[] xs = floats(6, n);
        for (int i = 0; i < n; i++) { xf.setAtIndex(Storage.F32, i, xs[i]); xd.setAtIndex(Storage.F64, i, xs[i] / 3.0); }
        ks.add(new Kernel("ReduceRowF32", () -> {
            double[] sq = new double[1];
            double s = ReduceRowF32.sum(xf, 0, n), d = ReduceRowF32.sumDev(xf, 0, n, 0.25f, sq);
            return bits(s, d, sq[0], ReduceRowF32.sumSqDev(xf, 0, n, 0.25f), ReduceRowF32.prod(xf, 0, 2 * L + 3));
        }));
        ks.add(new Kernel("ReduceRowF64", () -> {
            return bits(ReduceRowF64.sum(xd, 0, n), ReduceRowF64.sumSqDev(xd, 0, n, 0.25), ReduceRowF64.prod(xd, 0, 2 * LD + 3));
        }));
        // training's fused backward rows: softmax, log-softmax (one lane sum each) and layer norm (two)
        int rn = 4 * L * 2 + 3;
        float[] yv = floats(11, 3 * rn), gv = floats(12, 3 * rn), wv = floats(13, rn);
        ks.add(new Kernel("CpuNormGrad", () -> {
            var f32 = dev.kiln.tensor.DType.F32;
            try (var nx = dev.kiln.tensor.Tensor.fromArray(yv, 3, rn); var ng = dev.kiln.tensor.Tensor.fromArray(gv, 3, rn);
                 var nw = dev.kiln.tensor.Tensor.fromArray(wv, rn); var nd1 = dev.kiln.tensor.Tensor.zeros(f32, 3, rn);
                 var nd2 = dev.kiln.tensor.Tensor.zeros(f32, 3, rn); var ngx = dev.kiln.tensor.Tensor.zeros(f32, 3, rn);
                 var ngw = dev.kiln.tensor.Tensor.zeros(f32, rn); var ngb = dev.kiln.tensor.Tensor.zeros(f32, rn)) {
                CpuNormGrad.softmaxBackward(nx, ng, false, nd1);
                CpuNormGrad.softmaxBackward(nx, ng, true, nd2);
                CpuNormGrad.layerNormBackward(ng, nx, nw, 1, 1e-5, ngx, ngw, ngb);
                return bits(nd1.toFloatArray()) + bits(nd2.toFloatArray()) + bits(ngx.toFloatArray()) + bits(ngw.toFloatArray()) + bits(ngb.toFloatArray());
            }
        }));
        // weight-only 4- and 8-bit matrix x vector (com.microsoft MatMulNBits, through the executor): per-column lane sums
        for (int bits : new int[]{4, 8}) {
            int nk = 4 * 32, nn = 6, blob = 32 * bits / 8;
            int[] codes = new int[nn * (nk / 32) * blob];
            Random rc = new Random(7 + bits);
            for (int i = 0; i < codes.length; i++) codes[i] = rc.nextInt(256);
            float[] scales = floats(8, nn * (nk / 32)), xa = floats(9, nk);
            dev.kiln.tensor.Tensor bt = dev.kiln.tensor.Tensor.fromArray(codes, nn, nk / 32, blob);
            dev.kiln.tensor.Tensor st = dev.kiln.tensor.Tensor.fromArray(scales, scales.length);
            bt.storage().seal();
            st.storage().seal();
            java.util.Map<String, dev.kiln.onnx.Value> init = new java.util.LinkedHashMap<>();
            init.put("B", new dev.kiln.onnx.Value.TensorValue(bt, dev.kiln.onnx.ElemType.UINT8));
            init.put("S", new dev.kiln.onnx.Value.TensorValue(st, dev.kiln.onnx.ElemType.FLOAT));
            java.util.function.BiFunction<String, Long, dev.kiln.onnx.OnnxAttribute> attr = (nm, v) -> new dev.kiln.onnx.OnnxAttribute(nm,
                    dev.kiln.onnx.OnnxAttribute.Type.INT, 0, v, null, null, null, new float[0], new long[0], List.of(), List.of(), List.of(), null);
            dev.kiln.onnx.OnnxNode node = new dev.kiln.onnx.OnnxNode("nb", "MatMulNBits", "com.microsoft", List.of("a", "B", "S"), List.of("y"),
                    java.util.Map.of("K", attr.apply("K", (long) nk), "N", attr.apply("N", (long) nn), "bits", attr.apply("bits", (long) bits),
                            "block_size", attr.apply("block_size", 32L)));
            var info = (java.util.function.Function<String, dev.kiln.onnx.ValueInfo>) nm -> new dev.kiln.onnx.ValueInfo(nm,
                    dev.kiln.onnx.ValueInfo.Kind.TENSOR, dev.kiln.onnx.ElemType.FLOAT, null, null);
            dev.kiln.onnx.OnnxExecutor ex = new dev.kiln.onnx.OnnxExecutor(new dev.kiln.onnx.OnnxModel(8, "probe", "", java.util.Map.of("", 17L,
                    "com.microsoft", 1L), new dev.kiln.onnx.OnnxGraph("p", List.of(node), List.of(info.apply("a")), List.of(info.apply("y")), List.of(), init)));
            dev.kiln.tensor.Tensor at = dev.kiln.tensor.Tensor.fromArray(xa, 1, nk);
            ks.add(new Kernel("MatMulNBits." + bits, () -> {
                var out = ex.run(java.util.Map.of("a", new dev.kiln.onnx.Value.TensorValue(at, dev.kiln.onnx.ElemType.FLOAT)));
                float[] y = out.get("y").tensor().toFloatArray();
                out.get("y").tensor().close();
                return bits(y);
            }));
        }
        return ks;
    }
}
