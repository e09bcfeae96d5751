package dev.kiln.ops;

import dev.kiln.backend.cpu.CpuConfig;
import dev.kiln.nn.MultiheadAttention;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The fused self-attention kernel (forward, and the backward that recomputes the probabilities per
 * head) against the composed ops: in float64 without dropout (the reference), in float32 with
 * dropout (the same mask, drawn from the same generator state), on odd shapes, with and without
 * masks; and the scalar twin.
 */
class AttentionTest {
    private final Generator g = new Generator(11);

    /** out and d(out . gy)/d(qkv), through the fused op (fused) or the composed ops. */
    private static Tensor[] run(Tensor qkv, int heads, Tensor mask, double p, long seed, Tensor gy, boolean fused) {
        Tensor x = qkv.detach().requiresGrad(true);
        Generator gen = new Generator(seed);
        Tensor out;
        if (fused) out = Attention.selfAttention(x, heads, mask, p, gen);
        else {
            int b = x.size(0), t = x.size(1), e = x.size(2) / 3, d = e / heads;
            Tensor q = x.narrow(2, 0, e).reshape(b, t, heads, d).permute(0, 2, 1, 3);
            Tensor kt = x.narrow(2, e, e).reshape(b, t, heads, d).permute(0, 2, 3, 1);
            Tensor v = x.narrow(2, 2 * e, e).reshape(b, t, heads, d).permute(0, 2, 1, 3);
            out = Attention.scaledDotProduct(q, kt, v, mask, p, gen).permute(0, 2, 1, 3).reshape(b, t, e);
        }
        out.backward(gy);
        return new Tensor[]{out.detach(), x.grad(), Tensor.scalar(gen.nextUniform())};
    }

    private static void close(Tensor want, Tensor got, double tol, String what) {
        double[] w = want.toDoubleArray(), o = got.toDoubleArray();
        assertEquals(w.length, o.length, what);
        double scale = 0;
        for (double v : w) scale = Math.max(scale, Math.abs(v));
        for (int i = 0; i < w.length; i++)
            assertTrue(Math.abs(w[i] - o[i]) <= tol * (1 + scale), what + " [" + i + "]: " + w[i] + " vs " + o[i]);
    }

    private static Tensor causal(int t) { return MultiheadAttention.causalMask(t); }

    @Test
    void matchesFloat64CompositionWithoutDropout() {
        int[][] shapes = {{2, 13, 3, 5}, {1, 37, 2, 64}, {3, 1, 1, 4}, {2, 40, 4, 16}};
        for (int[] s : shapes) {
            int b = s[0], t = s[1], heads = s[2], e = heads * s[3];
            Tensor qkv = Tensor.uniform(g, -2, 2, DType.F32, b, t, 3 * e), gy = Tensor.uniform(g, -1, 1, DType.F32, b, t, e);
            Tensor[] masks = {null, causal(t), Tensor.uniform(g, -3, 0, DType.F32, b, 1, t, t)};
            for (Tensor mask : masks) {
                Tensor[] fused = run(qkv, heads, mask, 0, 1, gy, true);
                Tensor[] ref = run(qkv.to(DType.F64), heads, mask == null ? null : mask.to(DType.F64), 0, 1, gy.to(DType.F64), false);
                String what = "b=" + b + " t=" + t + " heads=" + heads + " e=" + e + " mask=" + (mask == null ? "none" : mask.dim() + "-d");
                close(ref[0], fused[0], 2e-6, "out " + what);
                close(ref[1], fused[1], 2e-5, "d qkv " + what);
            }
        }
    }

    @Test
    void dropoutDrawsTheComposedMaskAndGeneratorState() {
        int b = 2, t = 19, heads = 3, e = 3 * 8;
        Tensor qkv = Tensor.uniform(g, -2, 2, DType.F32, b, t, 3 * e), gy = Tensor.uniform(g, -1, 1, DType.F32, b, t, e);
        for (double p : new double[]{0.1, 0.5}) {
            Tensor[] fused = run(qkv, heads, causal(t), p, 5, gy, true);
            Tensor[] comp = run(qkv, heads, causal(t), p, 5, gy, false);
            close(comp[0], fused[0], 2e-6, "out p=" + p);
            close(comp[1], fused[1], 2e-5, "d qkv p=" + p);
            assertEquals(comp[2].item(), fused[2].item(), "generator state after the call, p=" + p);
            Tensor[] noDrop = run(qkv, heads, causal(t), 0, 5, gy, true);
            double diff = 0;
            double[] a = noDrop[0].toDoubleArray(), o = fused[0].toDoubleArray();
            for (int i = 0; i < a.length; i++) diff = Math.max(diff, Math.abs(a[i] - o[i]));
            assertTrue(diff > 1e-3, "dropout changed nothing at p=" + p);
        }
    }

    @Test
    void scalarTwinAgrees() {
        int b = 2, t = 21, heads = 2, e = 2 * 24;
        Tensor qkv = Tensor.uniform(g, -2, 2, DType.F32, b, t, 3 * e), gy = Tensor.uniform(g, -1, 1, DType.F32, b, t, e);
        Tensor[] vec = run(qkv, heads, causal(t), 0.2, 3, gy, true);
        CpuConfig.setScalar(true);
        try {
            Tensor[] scalar = run(qkv, heads, causal(t), 0.2, 3, gy, true);
            close(vec[0], scalar[0], 2e-6, "out");
            close(vec[1], scalar[1], 2e-5, "d qkv");
        } finally {
            CpuConfig.setScalar(false);
        }
    }

    @Test
    void nonContiguousInputAndBadShapes() {
        int b = 2, t = 9, heads = 2, e = 8;
        Tensor qkvT = Tensor.uniform(g, -2, 2, DType.F32, t, b, 3 * e), gy = Tensor.uniform(g, -1, 1, DType.F32, b, t, e);
        Tensor qkv = qkvT.transpose(0, 1);
        close(run(qkv.contiguous(), heads, null, 0, 1, gy, true)[0], run(qkv, heads, null, 0, 1, gy, true)[0], 0, "strided qkv");
        assertThrows(IllegalArgumentException.class, () -> Attention.selfAttention(Tensor.zeros(2, 3, 10), 2, null, 0, g));
        assertThrows(IllegalArgumentException.class, () -> Attention.selfAttention(Tensor.zeros(2, 3, 12), 2, null, 1.5, g));
        double[] dropAll = Attention.selfAttention(qkv, heads, null, 1.0, g).toDoubleArray();     // nn.Dropout(1): all weights dropped
        for (double v : dropAll) assertEquals(0.0, v, 0.0);
    }
}
