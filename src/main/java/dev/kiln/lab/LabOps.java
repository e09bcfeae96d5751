package dev.kiln.lab;

import dev.kiln.backend.cpu.ConvBlocked;

import dev.kiln.backend.cpu.CpuConfig;
import dev.kiln.backend.cpu.NativeKernels;
import dev.kiln.backend.cuda.CudaAvailability;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Tensor;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The lab's registry of ops with their built-in variants: "kiln" (the production kernel through
 * the Tensor API), "kiln-scalar" (the same with {@code CpuConfig.setScalar(true)}: the scalar twin),
 * the Vector API example "add-256bit" ({@link Add256}) and, when CUDA is usable here, "kiln-cuda".
 * Each call of {@link #builtIn()} builds a fresh registry, so a test or a researcher can
 * {@link LabOp#register} more variants without affecting others.
 */
public final class LabOps {
    private LabOps() {}

    /** Odd element counts and a 2-d shape (validation sizes of the elementwise ops and reductions). */
    static final List<int[]> ODD_SHAPES = List.of(new int[]{1}, new int[]{7}, new int[]{1025}, new int[]{45, 65});

    /** Validation sizes {m, k, n} of gemm. */
    static final List<int[]> GEMM_SIZES = List.of(new int[]{1, 1, 1}, new int[]{7, 7, 7}, new int[]{45, 65, 33},
            new int[]{1025, 7, 3}, new int[]{3, 1025, 5});

    /** All built-in ops by name (insertion order: add, exp, gelu, softmax, sum, gemm, gemm-bf16, gemm-int8, conv, conv-int8, maxpool-int8). */
    public static Map<String, LabOp> builtIn() {
        Map<String, LabOp> ops = new LinkedHashMap<>();
        for (LabOp op : List.of(new Add(), new Exp(), new Gelu(), new Softmax(), new Sum(), new Gemm(), new GemmBf16(), new GemmInt8(), new ConvLab(), new ConvInt8(), new MaxPoolInt8())) ops.put(op.name(), op);
        ops.get("add").register(new Variant("add-256bit", "cpu", Add256::add));
        // the Vector API kernels that native/cpu replaces where present (GELU, softmax rows, GEMM panel and packs)
        for (String name : List.of("gelu", "softmax", "gemm")) {
            Variant.Kernel k = ops.get(name).variant("kiln").kernel();
            ops.get(name).register(new Variant("kiln-vector-api", "cpu", in -> NativeKernels.withoutNative(() -> k.run(in))));
        }
        // operands stored transposed, as training's dW = g^T x and a Linear layer's x W^T read them
        ops.get("gemm").register(new Variant("kiln-transposed-a", "cpu", in -> {
            try (Tensor a = transposedCopy(in[0])) { return a.matmul(in[1]); }
        }));
        ops.get("gemm").register(new Variant("kiln-transposed-b", "cpu", in -> {
            try (Tensor b = transposedCopy(in[1])) { return in[0].matmul(b); }
        }));
        // B as a model's constant weight: sealed once per input, so its packed copy (GemmF32Packed,
        // kept with the storage) is made on the first call and reused, as in a model
        Map<Tensor, Tensor> weights = new java.util.IdentityHashMap<>();
        ops.get("gemm").register(new Variant("kiln-const-weight", "cpu",
                in -> in[0].matmul(weights.computeIfAbsent(in[1], LabOps::sealed))));
        return ops;
    }

    /** Registers kiln, kiln-scalar and (when available) kiln-cuda for a production kernel. */
    private static void production(LabOp op, Variant.Kernel kernel) {
        op.register(new Variant("kiln", "cpu", kernel));
        op.register(new Variant("kiln-scalar", "cpu", scalarTwin(kernel)));
        if (CudaAvailability.isAvailable()) op.register(new Variant("kiln-cuda", "cuda", kernel));
    }

    /** t's values held transposed in memory: a [cols, rows] contiguous copy, viewed back as [rows, cols]. */
    static Tensor transposedCopy(Tensor t) {
        try (Tensor tt = t.t(); Tensor c = tt.contiguous()) {
            return c.t();                                              // the view keeps the copy's storage
        }
    }

    /** A copy of t in storage sealed as constant (as a model reader loads a weight). */
    static Tensor sealed(Tensor t) {
        Tensor c = t.clone();
        c.storage().seal();
        return c;
    }

    /** Runs kernel with the CPU backend's scalar kernels; restores the previous setting. */
    public static Variant.Kernel scalarTwin(Variant.Kernel kernel) {
        return in -> {
            boolean was = CpuConfig.scalar();
            CpuConfig.setScalar(true);
            try {
                return kernel.run(in);
            } finally {
                CpuConfig.setScalar(was);
            }
        };
    }

    /** Elementwise a + b on two tensors of the same shape: 12 bytes per element (2 reads, 1 write). */
    static final class Add extends LabOp {
        Add() {
            super("add", ODD_SHAPES, new int[]{1 << 23}, 1e-6, 1e-6);
            production(this, in -> in[0].add(in[1]));
        }
        @Override public Tensor[] inputs(int[] size, Generator g) { return new Tensor[]{uniform(g, size), uniform(g, size)}; }
        @Override public double[] reference(double[][] in, int[] size) {
            double[] r = new double[in[0].length];
            for (int i = 0; i < r.length; i++) r[i] = in[0][i] + in[1][i];
            return r;
        }
        @Override public double work(int[] size) { return 12.0 * numel(size); }
        @Override public Unit unit() { return Unit.BYTES; }
    }

    /** Elementwise exp: 8 bytes per element. */
    static final class Exp extends LabOp {
        Exp() {
            super("exp", ODD_SHAPES, new int[]{1 << 23}, 1e-6, 1e-5);
            production(this, in -> in[0].exp());
        }
        @Override public Tensor[] inputs(int[] size, Generator g) { return new Tensor[]{uniform(g, size)}; }
        @Override public double[] reference(double[][] in, int[] size) {
            double[] r = new double[in[0].length];
            for (int i = 0; i < r.length; i++) r[i] = Math.exp(in[0][i]);
            return r;
        }
        @Override public double work(int[] size) { return 8.0 * numel(size); }
        @Override public Unit unit() { return Unit.BYTES; }
    }

    /**
     * The exact GELU, x Phi(x): 8 bytes per element. The reference integrates the normal density in
     * float64 (Simpson's rule, 4096 intervals from 0 to |x|), independent of any erf approximation.
     */
    static final class Gelu extends LabOp {
        Gelu() {
            super("gelu", ODD_SHAPES, new int[]{1 << 23}, 1e-6, 1e-5);
            production(this, in -> in[0].gelu());
        }
        @Override public Tensor[] inputs(int[] size, Generator g) { return new Tensor[]{uniform(g, size)}; }
        @Override public double[] reference(double[][] in, int[] size) {
            double[] r = new double[in[0].length];
            for (int i = 0; i < r.length; i++) r[i] = in[0][i] * phi(in[0][i]);
            return r;
        }
        /** The standard normal CDF at x. */
        static double phi(double x) {
            double a = Math.abs(x);
            if (a > 12) return x > 0 ? 1 : 0;
            int steps = 4096;
            double h = a / steps, s = 0;
            for (int i = 0; i <= steps; i++) {
                double t = i * h, f = Math.exp(-t * t / 2);
                s += (i == 0 || i == steps ? 1 : i % 2 == 1 ? 4 : 2) * f;
            }
            double half = s * h / 3 / Math.sqrt(2 * Math.PI);   // integral of the density over [0, |x|]
            return x >= 0 ? 0.5 + half : 0.5 - half;
        }
        @Override public double work(int[] size) { return 8.0 * numel(size); }
        @Override public Unit unit() { return Unit.BYTES; }
    }

    /** Softmax over the last axis: 8 bytes per element (one read, one write; the ideal). */
    static final class Softmax extends LabOp {
        Softmax() {
            // 37 x 128: rows the native row kernel takes (a multiple of 16 long)
            super("softmax", List.of(new int[]{1}, new int[]{7}, new int[]{1025}, new int[]{45, 65}, new int[]{37, 128}),
                    new int[]{2048, 4096}, 1e-6, 1e-5);
            production(this, in -> in[0].softmax(in[0].shape().length - 1));
        }
        @Override public Tensor[] inputs(int[] size, Generator g) { return new Tensor[]{uniform(g, size)}; }
        @Override public double[] reference(double[][] in, int[] size) {
            int cols = size[size.length - 1];
            double[] x = in[0], r = new double[x.length];
            for (int row = 0; row < x.length; row += cols) {
                double max = Double.NEGATIVE_INFINITY, sum = 0;
                for (int j = 0; j < cols; j++) max = Math.max(max, x[row + j]);
                for (int j = 0; j < cols; j++) sum += r[row + j] = Math.exp(x[row + j] - max);
                for (int j = 0; j < cols; j++) r[row + j] /= sum;
            }
            return r;
        }
        @Override public double work(int[] size) { return 8.0 * numel(size); }
        @Override public Unit unit() { return Unit.BYTES; }
    }

    /** Sum of all elements: 4 bytes per element. fp32 accumulation, hence the looser atol. */
    static final class Sum extends LabOp {
        Sum() {
            super("sum", ODD_SHAPES, new int[]{1 << 23}, 1e-3, 1e-5);
            production(this, in -> in[0].sum());
        }
        @Override public Tensor[] inputs(int[] size, Generator g) { return new Tensor[]{uniform(g, size)}; }
        @Override public double[] reference(double[][] in, int[] size) {
            double s = 0;
            for (double v : in[0]) s += v;
            return new double[]{s};
        }
        @Override public double work(int[] size) { return 4.0 * numel(size); }
        @Override public Unit unit() { return Unit.BYTES; }
    }

    /** C = A (m x k) times B (k x n): 2mkn FLOPs; sizes are {m, k, n}. */
    static final class Gemm extends LabOp {
        Gemm() {
            super("gemm", GEMM_SIZES, new int[]{512, 512, 512}, 1e-4, 1e-4);
            production(this, in -> in[0].matmul(in[1]));
        }
        @Override public Tensor[] inputs(int[] size, Generator g) {
            check(size);
            return new Tensor[]{uniform(g, size[0], size[1]), uniform(g, size[1], size[2])};
        }
        @Override public double[] reference(double[][] in, int[] size) { return product(in[0], in[1], size); }
        /** The float64 product of a [m, k] and b [k, n] (size {m, k, n}). */
        static double[] product(double[] a, double[] b, int[] size) {
            int m = size[0], k = size[1], n = size[2];
            double[] c = new double[m * n];
            for (int i = 0; i < m; i++)
                for (int p = 0; p < k; p++) {
                    double aip = a[i * k + p];
                    for (int j = 0; j < n; j++) c[i * n + j] += aip * b[p * n + j];
                }
            return c;
        }
        @Override public double work(int[] size) { return 2.0 * size[0] * size[1] * size[2]; }
        @Override public Unit unit() { return Unit.FLOPS; }
        @Override public int[] parseSize(String text) { return mkn("gemm", super.parseSize(text)); }
        /** {m, k, n} from a parsed size (N alone: N x N x N). */
        static int[] mkn(String op, int[] s) {
            if (s.length == 1) s = new int[]{s[0], s[0], s[0]};
            check(op, s);
            return s;
        }
        private static void check(int[] s) { check("gemm", s); }
        static void check(String op, int[] s) {
            if (s.length != 3) throw new IllegalArgumentException("lab " + op + ": size must be MxKxN (or N for NxNxN), got " + sizeText(s));
        }
    }

    /**
     * bf16 GEMM (Bf16Gemm: A rounded to bf16 while packed, B packed once, f32 sums): the reference
     * multiplies the bf16-rounded inputs in float64, so the tolerance is f32 accumulation's.
     */
    static final class GemmBf16 extends LabOp {
        GemmBf16() {
            super("gemm-bf16", GEMM_SIZES, new int[]{1024, 1024, 1024}, 1e-4, 1e-4);
            Variant.Kernel kernel = in -> {
                try (dev.kiln.backend.cpu.Bf16Gemm.Packed b = dev.kiln.backend.cpu.Bf16Gemm.pack(in[1], false)) {
                    Tensor c = Tensor.zeros(in[0].size(0), in[1].size(1));
                    dev.kiln.backend.cpu.Bf16Gemm.gemm(in[0], b, c);
                    return c;
                }
            };
            register(new Variant("kiln", "cpu", kernel));
            // under the scalar switch Bf16Gemm takes its Vector API twin (bf16 widened to f32)
            register(new Variant("kiln-vector-api", "cpu", scalarTwin(kernel)));
        }
        @Override public Tensor[] inputs(int[] size, Generator g) { return new Gemm().inputs(size, g); }
        @Override public double[] reference(double[][] in, int[] size) {
            double[][] rounded = new double[2][];
            for (int i = 0; i < 2; i++) {
                rounded[i] = new double[in[i].length];
                for (int j = 0; j < in[i].length; j++) rounded[i][j] = DType.bf16ToFloat(DType.floatToBf16((float) in[i][j]));
            }
            return new Gemm().reference(rounded, size);
        }
        @Override public double work(int[] size) { return 2.0 * size[0] * size[1] * size[2]; }
        @Override public Unit unit() { return Unit.FLOPS; }
        @Override public int[] parseSize(String text) { return new Gemm().parseSize(text); }
    }

    /**
     * conv2d with a square kernel, bias and ReLU, padding k/2, as CNNs use it; size {n, c, h, w, o,
     * k, stride}. Variants: the planar engine conv ("kiln": implicit GEMM, direct, or im2col + GEMM
     * by shape), and the channel-blocked kernel of ONNX conv chains ({@link ConvBlocked}: native,
     * and its Vector API twin), whose input is reordered to NCHW16c once per input tensor (as a
     * chain does at its stem) and whose output is reordered back inside the timed call.
     */
    static final class ConvLab extends LabOp {
        ConvLab() {
            super("conv", List.of(new int[]{1, 3, 9, 11, 32, 3, 2}, new int[]{2, 16, 7, 10, 32, 3, 1},
                    new int[]{1, 32, 5, 15, 64, 1, 1}, new int[]{1, 16, 6, 6, 32, 5, 2}), new int[]{1, 256, 14, 14, 256, 3, 1}, 1e-4, 1e-4);
            // the weight sealed once per input, as a model reader loads it: both routes keep their packed copy with it
            Map<Tensor, Tensor> weights = new java.util.IdentityHashMap<>(), blockedInputs = new java.util.IdentityHashMap<>();
            Variant.Kernel planar = in -> planar(in[0], weights.computeIfAbsent(in[1], LabOps::sealed), in[2], in[3]);
            register(new Variant("kiln", "cpu", planar));
            register(new Variant("kiln-scalar", "cpu", scalarTwin(planar)));
            Variant.Kernel blocked = in -> {
                int[] s = geometry(in);
                Tensor x = in[0].size(1) % ConvBlocked.B == 0 ? blockedInputs.computeIfAbsent(in[0], ConvBlocked::toBlocked) : in[0];
                try (Tensor y = ConvBlocked.conv(x, weights.computeIfAbsent(in[1], LabOps::sealed), in[2], s[0], s[0], s[1], s[1], null, true)) {
                    return ConvBlocked.toPlanar(y);
                }
            };
            if (ConvBlocked.available()) register(new Variant("kiln-blocked", "cpu", blocked));
            register(new Variant("kiln-blocked-vector-api", "cpu", in -> NativeKernels.withoutNative(() -> blocked.run(in))));
        }
        private static Tensor planar(Tensor... in) {
            int[] s = geometry(in);
            return dev.kiln.ops.Conv.conv2dAdd(in[0], in[1], in[2], dev.kiln.ops.Conv2dParams.of(s[0], s[1]), null, true);
        }
        /** {stride, pad} of a call: pad k/2 from the weight; the stride is the length of the fourth input, a marker (a lab kernel receives only tensors). */
        private static int[] geometry(Tensor[] in) { return new int[]{in[3].size(0), in[1].size(2) / 2}; }
        @Override public Tensor[] inputs(int[] size, Generator g) {
            check(size);
            return new Tensor[]{uniform(g, size[0], size[1], size[2], size[3]), uniform(g, size[4], size[1], size[5], size[5]),
                    uniform(g, size[4]), Tensor.zeros(size[6])};
        }
        @Override public double[] reference(double[][] in, int[] size) {
            int n = size[0], c = size[1], h = size[2], w = size[3], o = size[4], k = size[5], st = size[6], p = k / 2;
            int oh = (h + 2 * p - k) / st + 1, ow = (w + 2 * p - k) / st + 1;
            double[] y = new double[n * o * oh * ow];
            for (int ni = 0; ni < n; ni++)
                for (int oc = 0; oc < o; oc++)
                    for (int i = 0; i < oh; i++)
                        for (int j = 0; j < ow; j++) {
                            double acc = in[2][oc];
                            for (int ic = 0; ic < c; ic++)
                                for (int ki = 0; ki < k; ki++)
                                    for (int kj = 0; kj < k; kj++) {
                                        int ih = i * st - p + ki, iw = j * st - p + kj;
                                        if (ih >= 0 && ih < h && iw >= 0 && iw < w)
                                            acc += in[0][((ni * c + ic) * h + ih) * w + iw] * in[1][((oc * c + ic) * k + ki) * k + kj];
                                    }
                            y[((ni * o + oc) * oh + i) * ow + j] = Math.max(acc, 0);
                        }
            return y;
        }
        @Override public double work(int[] size) {
            int p = size[5] / 2, oh = (size[2] + 2 * p - size[5]) / size[6] + 1, ow = (size[3] + 2 * p - size[5]) / size[6] + 1;
            return 2.0 * size[0] * size[4] * size[1] * size[5] * size[5] * oh * ow;
        }
        @Override public Unit unit() { return Unit.FLOPS; }
        @Override public int[] parseSize(String text) {
            int[] s = super.parseSize(text);
            check(s);
            return s;
        }
        private static void check(int[] s) {
            if (s.length != 7) throw new IllegalArgumentException("lab conv: size must be NxCxHxWxOxKxSTRIDE, got " + sizeText(s));
            if (s[4] % ConvBlocked.OG != 0) throw new IllegalArgumentException("lab conv: output channels must be a multiple of " + ConvBlocked.OG + " (the blocked kernel's), got " + s[4]);
        }
    }

    /**
     * The exact int8 GEMM of the quantized layers ({@code Int8Gemm}): C [M, N] = A [M, K] x B [K, N]
     * over int8 values in [-127, 127], int32 sums, B packed once per input (as a layer packs its
     * weight); the reference is the same sum in float64 (exact). Variants: "kiln" (the native VNNI
     * tile where the library runs, else the Vector API kernel) and "kiln-scalar". Work: 2 ops per
     * multiply-add; the ceiling is vpdpbusd's rate (see {@link Ceilings#of}).
     */
    static final class GemmInt8 extends LabOp {
        GemmInt8() {
            super("gemm-int8", GEMM_SIZES, new int[]{512, 512, 512}, 0, 0);
            Map<Tensor, dev.kiln.compress.quant.Int8Gemm.PackedInt8> packed = new java.util.IdentityHashMap<>(), scalarPacked = new java.util.IdentityHashMap<>();
            Variant.Kernel kiln = in -> dev.kiln.compress.quant.Int8Gemm.matmulT(in[0], packed.computeIfAbsent(in[1], GemmInt8::pack));
            register(new Variant("kiln", "cpu", kiln));
            register(new Variant("kiln-scalar", "cpu",
                    scalarTwin(in -> dev.kiln.compress.quant.Int8Gemm.matmulT(in[0], scalarPacked.computeIfAbsent(in[1], GemmInt8::pack)))));
        }
        /** B [K, N] as the [N, K] rows the kernel packs. */
        private static dev.kiln.compress.quant.Int8Gemm.PackedInt8 pack(Tensor b) {
            try (Tensor t = b.t(); Tensor bt = t.contiguous()) { return dev.kiln.compress.quant.Int8Gemm.pack(bt); }
        }
        @Override public Tensor[] inputs(int[] size, Generator g) {
            Gemm.check("gemm-int8", size);
            return new Tensor[]{int8(g, size[0] * size[1], size[0], size[1]), int8(g, size[1] * size[2], size[1], size[2])};
        }
        private static Tensor int8(Generator g, int count, int... shape) {
            double[] v = new double[count];
            try (Tensor u = Tensor.uniform(g, -127.49, 127.49, DType.F64, count)) {
                double[] r = u.toDoubleArray();
                for (int i = 0; i < count; i++) v[i] = Math.rint(r[i]);
            }
            return Tensor.fromDoubles(DType.I8, v, shape);
        }
        @Override public double[] reference(double[][] in, int[] size) { return Gemm.product(in[0], in[1], size); }
        @Override public double work(int[] size) { return 2.0 * size[0] * size[1] * size[2]; }
        @Override public Unit unit() { return Unit.INT8_OPS; }
        @Override public int[] parseSize(String text) { return Gemm.mkn("gemm-int8", super.parseSize(text)); }
    }

    /**
     * The int8 conv of quantized CNN layers ({@code QuantizedConv2d}): stride 1, padding k/2, bias
     * and ReLU, the input quantized per tensor from its range (dynamic), the weight per output
     * channel; size {n, c, h, w, o, k}. The reference is the float64 conv of the quantized operands
     * (x's codes times its scale, each output channel's int8 weights times theirs), which the
     * int8 arithmetic computes exactly up to the float epilogue's roundings. Variants: "kiln" (the
     * direct VNNI conv where the native kernel runs), "kiln-unfold" (int8 unfold + VNNI GEMM),
     * "kiln-scalar" (the layer made and run with the scalar kernels). Work: 2 ops per int8
     * multiply-add; the ceiling is vpdpbusd's rate (see {@link Ceilings#of}).
     */
    static final class ConvInt8 extends LabOp {
        ConvInt8() {
            super("conv-int8", List.of(new int[]{1, 1, 9, 11, 16, 3}, new int[]{2, 16, 7, 17, 32, 3}, new int[]{1, 5, 6, 6, 7, 5},
                    new int[]{1, 3, 28, 29, 4, 1}), new int[]{64, 16, 14, 14, 32, 3}, 1e-4, 1e-5);
            Map<Tensor, dev.kiln.compress.quant.QuantizedConv2d> direct = new java.util.IdentityHashMap<>(), unfold = new java.util.IdentityHashMap<>(),
                    scalar = new java.util.IdentityHashMap<>();
            register(new Variant("kiln", "cpu", in -> forward(direct.computeIfAbsent(in[1], w -> layer(w, in[2])), in[0])));
            register(new Variant("kiln-unfold", "cpu", in -> {
                boolean was = dev.kiln.compress.quant.QuantizedConv2d.setDirectConv(false);
                try {
                    return forward(unfold.computeIfAbsent(in[1], w -> layer(w, in[2])), in[0]);
                } finally {
                    dev.kiln.compress.quant.QuantizedConv2d.setDirectConv(was);
                }
            }));
            register(new Variant("kiln-scalar", "cpu", scalarTwin(in -> forward(scalar.computeIfAbsent(in[1], w -> layer(w, in[2])), in[0]))));
        }
        private static dev.kiln.compress.quant.QuantizedConv2d layer(Tensor w, Tensor bias) {
            return new dev.kiln.compress.quant.QuantizedConv2d(w, bias, dev.kiln.ops.Conv2dParams.of(1, w.size(2) / 2),
                    dev.kiln.compress.fuse.Epilogue.RELU, null);
        }
        private static Tensor forward(dev.kiln.compress.quant.QuantizedConv2d q, Tensor x) {
            try (var g = dev.kiln.autograd.GradMode.noGrad()) { return q.forward(x); }
        }
        @Override public Tensor[] inputs(int[] size, Generator g) {
            if (size.length != 6) throw new IllegalArgumentException("lab conv-int8: size must be NxCxHxWxOxK, got " + sizeText(size));
            return new Tensor[]{uniform(g, size[0], size[1], size[2], size[3]), uniform(g, size[4], size[1], size[5], size[5]), uniform(g, size[4])};
        }
        @Override public double[] reference(double[][] in, int[] size) {
            int n = size[0], c = size[1], h = size[2], w = size[3], o = size[4], k = size[5], p = k / 2, taps = c * k * k;
            // x per tensor from its range (QParams' definition), the weight per output channel, as the layer quantizes them
            double mn = 0, mx = 0;
            for (double v : in[0]) { mn = Math.min(mn, v); mx = Math.max(mx, v); }
            dev.kiln.compress.quant.QParams a = dev.kiln.compress.quant.QParams.fromRange(mn, mx, false);
            double[] xq = new double[in[0].length];
            float s = a.scale0();
            for (int i = 0; i < xq.length; i++)
                xq[i] = (Math.max(a.qmin(), Math.min(a.qmax(), Math.rint((float) in[0][i] / s) + a.zero0())) - a.zero0()) * (double) s;
            double[] wq = new double[in[1].length];
            for (int j = 0; j < o; j++) {
                double amax = 0;
                for (int t = 0; t < taps; t++) amax = Math.max(amax, Math.abs(in[1][j * taps + t]));
                float ws = (float) (amax > 0 ? amax / 127.0 : 1.0);
                for (int t = 0; t < taps; t++)
                    wq[j * taps + t] = Math.max(-127, Math.min(127, Math.rint((float) in[1][j * taps + t] / ws))) * (double) ws;
            }
            double[] y = new double[n * o * h * w];
            for (int ni = 0; ni < n; ni++)
                for (int oc = 0; oc < o; oc++)
                    for (int i = 0; i < h; i++)
                        for (int j = 0; j < w; j++) {
                            double acc = 0;
                            for (int ic = 0; ic < c; ic++)
                                for (int ki = 0; ki < k; ki++)
                                    for (int kj = 0; kj < k; kj++) {
                                        int ih = i - p + ki, iw = j - p + kj;
                                        if (ih >= 0 && ih < h && iw >= 0 && iw < w)
                                            acc += xq[((ni * c + ic) * h + ih) * w + iw] * wq[((oc * c + ic) * k + ki) * k + kj];
                                    }
                            y[((ni * o + oc) * h + i) * w + j] = Math.max(acc + in[2][oc], 0);
                        }
            return y;
        }
        @Override public double work(int[] size) { return 2.0 * size[0] * size[4] * size[1] * size[5] * size[5] * size[2] * size[3]; }
        @Override public Unit unit() { return Unit.INT8_OPS; }
        @Override public int[] parseSize(String text) {
            int[] s = super.parseSize(text);
            if (s.length != 6) throw new IllegalArgumentException("lab conv-int8: size must be NxCxHxWxOxK, got " + text);
            return s;
        }
    }

    /**
     * The 2 x 2, stride 2 max pool of int8 codes between quantized layers ({@code PoolI8}: a
     * quantized CNN's activations pooled as int8, docs/QUANTIZATION.md); size {n, c, h, w}, an odd
     * last row and column dropped. Exact (zero tolerance). Variants: "kiln" (the vector path),
     * "kiln-scalar" (the windowed loop), "kiln-float" (the same values pooled as floats, what the
     * int8 model did before: four times the bytes). Work: the bytes read and written.
     */
    static final class MaxPoolInt8 extends LabOp {
        private static final dev.kiln.ops.Pool2dParams P = dev.kiln.ops.Pool2dParams.of(2, 2, 0);

        MaxPoolInt8() {
            super("maxpool-int8", List.of(new int[]{1, 1, 2, 2}, new int[]{2, 3, 7, 9}, new int[]{1, 2, 28, 28}, new int[]{3, 1, 13, 130}),
                    new int[]{64, 16, 28, 28}, 0, 0);
            Variant.Kernel pool = in -> in[0].maxPool2d(P);
            register(new Variant("kiln", "cpu", pool));
            register(new Variant("kiln-scalar", "cpu", scalarTwin(pool)));
            Map<Tensor, Tensor> floats = new java.util.IdentityHashMap<>();
            register(new Variant("kiln-float", "cpu", in -> floats.computeIfAbsent(in[0], t -> t.to(DType.F32)).maxPool2d(P)));
        }
        @Override public Tensor[] inputs(int[] size, Generator g) {
            if (size.length != 4) throw new IllegalArgumentException("lab maxpool-int8: size must be NxCxHxW, got " + sizeText(size));
            double[] v = new double[Math.toIntExact(numel(size))];
            for (int i = 0; i < v.length; i++) v[i] = g.nextInt(256) - 128;
            return new Tensor[]{Tensor.fromDoubles(DType.I8, v, size)};
        }
        @Override public double[] reference(double[][] in, int[] size) {
            int planes = size[0] * size[1], h = size[2], w = size[3], oh = h / 2, ow = w / 2;
            double[] y = new double[planes * oh * ow];
            for (int p = 0; p < planes; p++)
                for (int i = 0; i < oh; i++)
                    for (int j = 0; j < ow; j++) {
                        int at = (p * h + 2 * i) * w + 2 * j;
                        y[(p * oh + i) * ow + j] = Math.max(Math.max(in[0][at], in[0][at + 1]), Math.max(in[0][at + w], in[0][at + w + 1]));
                    }
            return y;
        }
        @Override public double work(int[] size) { return numel(size) * 1.25; }
        @Override public Unit unit() { return Unit.BYTES; }
        @Override public int[] parseSize(String text) {
            int[] s = super.parseSize(text);
            if (s.length != 4) throw new IllegalArgumentException("lab maxpool-int8: size must be NxCxHxW, got " + text);
            return s;
        }
    }
}
