package dev.kiln.compress.quant;

import dev.kiln.autograd.GradMode;
import dev.kiln.compress.fuse.Epilogue;
import dev.kiln.nn.Conv2d;
import dev.kiln.nn.Linear;
import dev.kiln.nn.Module;
import dev.kiln.ops.Conv2dParams;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The int8 forward of the quantized layers (int8 im2col, one-pass activation quantization, epilogue
 * written in NCHW order) is bit-identical to the straightforward path kept here as a reference:
 * float im2col, QParams quantization, Int8Gemm.requantize and a permute back to NCHW.
 */
class QuantizedFastPathTest {

    private static Tensor run(Module m, Tensor x) {
        try (GradMode.Guard g = GradMode.noGrad()) { return m.forward(x); }
    }

    private static int[] rowSums(Tensor q) {
        int n = q.size(0), k = q.size(1);
        byte[] b = QParams.QTensors.bytes(q);
        int[] s = new int[n];
        for (int i = 0; i < n; i++) for (int p = 0; p < k; p++) s[i] += b[i * k + p];
        return s;
    }

    /** The reference int8 GEMM step on float rows [M, K]. */
    private static Tensor referenceApply(Tensor x2d, Tensor wq, float[] wScale, QParams act, float[] bias, Epilogue epi) {
        QParams a = act;
        if (a == null) {
            double[][] mm = QParams.channelMinMax(x2d, -1);
            a = QParams.fromRange(mm[0][0], mm[1][0], false);
        }
        try (Tensor xq = a.quantize(x2d); Tensor acc = Int8Gemm.matmulT(xq, wq)) {
            boolean relu = epi == Epilogue.RELU;
            Tensor y = Int8Gemm.requantize(acc, a.scale0(), a.zero0(), wScale, rowSums(wq), bias, relu, 0f, 0);
            return relu ? y : epi.finish(y);
        }
    }

    private static Tensor referenceConv(QuantizedConv2d q, Tensor x) {
        int[] xs = x.shape();
        Conv2dParams p = q.params();
        int n = xs[0], c = xs[1], h = xs[2], wd = xs[3], kh = q.kernelH(), kw = q.kernelW(), o = q.outChannels();
        int oh = (h + 2 * p.padH() - p.dilationH() * (kh - 1) - 1) / p.strideH() + 1;
        int ow = (wd + 2 * p.padW() - p.dilationW() * (kw - 1) - 1) / p.strideW() + 1;
        float[] xf = x.toFloatArray();
        int k = c * kh * kw;
        float[] cols = new float[n * oh * ow * k];
        int row = 0;
        for (int b = 0; b < n; b++)
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++, row++)
                    for (int ci = 0, col = 0; ci < c; ci++)
                        for (int ky = 0; ky < kh; ky++)
                            for (int kx = 0; kx < kw; kx++, col++) {
                                int iy = oy * p.strideH() - p.padH() + ky * p.dilationH(), ix = ox * p.strideW() - p.padW() + kx * p.dilationW();
                                if (iy >= 0 && iy < h && ix >= 0 && ix < wd) cols[row * k + col] = xf[((b * c + ci) * h + iy) * wd + ix];
                            }
        Tensor y = referenceApply(Tensor.fromArray(cols, n * oh * ow, k), q.weightInt8(), q.weightScales(), q.inputParams(), q.bias(), q.epilogue());
        return y.reshape(n, oh, ow, o).permute(0, 3, 1, 2).contiguous();
    }

    @Test
    void convMatchesReferenceBitForBit() {
        Generator g = new Generator(11);
        Conv2dParams[] ps = {Conv2dParams.of(1, 1), new Conv2dParams(2, 1, 1, 2, 1, 2, 1), new Conv2dParams(3, 3, 0, 0, 1, 1, 1)};
        int[][] kernels = {{3, 3}, {3, 2}, {1, 1}};
        Epilogue[] epis = {Epilogue.NONE, Epilogue.RELU, Epilogue.GELU};
        for (int i = 0; i < ps.length; i++) {
            Conv2d conv = new Conv2d(3, 5, kernels[i][0], kernels[i][1], ps[i], i != 1, g);
            Tensor x = Tensor.randn(g, 2, 3, 10, 11).add(0.7);
            for (Epilogue e : epis)
                for (QParams act : new QParams[]{null, QParams.fromRange(-1.5, 2.5, false), QParams.fromRange(0.2, 3, false)}) {
                    QuantizedConv2d q = new QuantizedConv2d(conv.weight(), conv.bias(), ps[i], e, act);
                    Tensor y = run(q, x), ref = referenceConv(q, x);
                    assertArrayEquals(ref.shape(), y.shape());
                    assertArrayEquals(ref.toFloatArray(), y.toFloatArray(), 0f, "conv " + i + " " + e + " " + act);
                }
        }
    }

    /** The direct conv (stride 1, C kh kw <= 32) on its vector and scalar paths, and the unfold path just above it. */
    @Test
    void directConvMatchesReferenceBitForBit() {
        Generator g = new Generator(13);
        int[][] shapes = {{1, 3, 3, 1}, {3, 3, 3, 1}, {2, 4, 4, 2}, {4, 3, 3, 1}, {1, 5, 5, 0}};   // C, kh, kw, pad
        boolean saved = dev.kiln.backend.cpu.CpuConfig.scalar();
        try {
            for (boolean scalar : new boolean[]{false, true}) {
                dev.kiln.backend.cpu.CpuConfig.setScalar(scalar);
                for (int[] sh : shapes) {
                    Conv2dParams p = Conv2dParams.of(1, sh[3]);
                    Conv2d conv = new Conv2d(sh[0], 7, sh[1], sh[2], p, true, g);
                    Tensor x = Tensor.randn(g, 3, sh[0], 13, 29).add(0.3);
                    for (Epilogue e : new Epilogue[]{Epilogue.NONE, Epilogue.RELU})
                        for (QParams act : new QParams[]{null, QParams.fromRange(-1.0, 2.0, false)}) {
                            QuantizedConv2d q = new QuantizedConv2d(conv.weight(), conv.bias(), p, e, act);
                            Tensor y = run(q, x), ref = referenceConv(q, x);
                            String what = "C=" + sh[0] + " k=" + sh[1] + "x" + sh[2] + " pad=" + sh[3] + " " + e + " scalar=" + scalar;
                            assertArrayEquals(ref.shape(), y.shape(), what);
                            assertArrayEquals(ref.toFloatArray(), y.toFloatArray(), 0f, what);
                        }
                }
            }
        } finally {
            dev.kiln.backend.cpu.CpuConfig.setScalar(saved);
        }
    }

    /**
     * The VNNI direct conv (stride 1, where the native kernel runs): channel counts that fill part of
     * a 4-channel group (1, 3, 5) or whole ones (16), output channels beyond whole tiles of 4 (7, 33),
     * output rows of 3, 6, 14, 28 and 29 pixels (a masked last vector; rows narrower than a vector), padding 0 to 2, square and
     * rectangular kernels, static and dynamic activations; bit for bit the reference.
     */
    @Test
    void vnniDirectConvMatchesReferenceBitForBit() {
        org.junit.jupiter.api.Assumptions.assumeTrue(Int8VnniKernel.enabled(), "no VNNI kernel here");
        Generator g = new Generator(17);
        int[][] shapes = {{1, 16, 3, 3, 1, 28, 28}, {16, 32, 3, 3, 1, 14, 14}, {3, 7, 3, 2, 2, 9, 29}, {5, 33, 1, 1, 0, 6, 17}, {4, 4, 5, 5, 2, 7, 31}, {5, 7, 5, 5, 2, 6, 6}, {1, 16, 3, 3, 1, 5, 3}};
        for (int[] sh : shapes) {   // C, O, kh, kw, pad, H, W
            Conv2dParams p = Conv2dParams.of(1, sh[4]);
            Conv2d conv = new Conv2d(sh[0], sh[1], sh[2], sh[3], p, true, g);
            Tensor x = Tensor.randn(g, 3, sh[0], sh[5], sh[6]).add(0.3);
            for (Epilogue e : new Epilogue[]{Epilogue.NONE, Epilogue.RELU})
                for (QParams act : new QParams[]{null, QParams.fromRange(-1.0, 2.0, false), QParams.fromRange(0.1, 2.5, false)}) {
                    QuantizedConv2d q = new QuantizedConv2d(conv.weight(), conv.bias(), p, e, act);
                    String what = java.util.Arrays.toString(sh) + " " + e + " " + act;
                    assertTrue(q.usesVnni(), what);
                    Tensor y = run(q, x), ref = referenceConv(q, x);
                    assertArrayEquals(ref.shape(), y.shape(), what);
                    assertArrayEquals(ref.toFloatArray(), y.toFloatArray(), 0f, what);
                }
        }
    }

    @Test
    void linearMatchesReferenceBitForBit() {
        Generator g = new Generator(12);
        Linear l = new Linear(37, 9, true, g);
        Tensor x = Tensor.randn(g, 6, 37).mul(2.0);
        for (Epilogue e : new Epilogue[]{Epilogue.NONE, Epilogue.RELU, Epilogue.SILU})
            for (QParams act : new QParams[]{null, QParams.fromRange(-2, 2, false)}) {
                QuantizedLinear q = new QuantizedLinear(l.weight(), l.bias(), e, act);
                Tensor ref = referenceApply(x, q.weightInt8(), q.weightScales(), act, q.bias(), e);
                assertArrayEquals(ref.toFloatArray(), run(q, x).toFloatArray(), 0f, e + " " + act);
            }
    }
}
