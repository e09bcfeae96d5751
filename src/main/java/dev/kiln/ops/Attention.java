package dev.kiln.ops;

import dev.kiln.autograd.GradMode;
import dev.kiln.autograd.Node;
import dev.kiln.backend.AttentionSpec;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Shape;
import dev.kiln.tensor.Tensor;

/**
 * Scaled dot-product attention, the core of {@code nn.MultiheadAttention}:
 * softmax(Q K^T / sqrt(D) + mask) V per batch and head, with dropout on the probabilities in
 * training. {@link #selfAttention} takes the packed q/k/v projection of self-attention and runs
 * as one fused kernel where the backend has it ({@link AttentionSpec}: no T x T tensor is stored
 * for the backward pass, which recomputes the probabilities per head); {@link #scaledDotProduct}
 * is the same math composed from matmul, softmax and dropout, for cross-attention, boolean masks
 * and backends without the kernel.
 */
public final class Attention {
    private Attention() {}

    /**
     * Self-attention over qkv [B, T, 3E] (q, k, v projections side by side in the last dim) with
     * {@code heads} heads: out [B, T, E]. mask: additive float broadcastable to [B, heads, T, T], or
     * boolean (true = masked out), or null; it gets no gradient. p: dropout on the probabilities
     * (0 for none, 1 drops every weight as nn.Dropout(1) does), drawn from g exactly as
     * {@link Dropout#apply} on the [B, heads, T, T] probabilities would draw it, so the fused and
     * composed paths consume the same generator state.
     */
    public static Tensor selfAttention(Tensor qkv, int heads, Tensor mask, double p, Generator g) {
        if (qkv.dim() != 3 || heads < 1 || qkv.size(2) % (3 * heads) != 0)
            throw new IllegalArgumentException("attention: qkv must be [B, T, 3E] with E divisible by " + heads + " heads, got "
                    + Shape.str(qkv.shape()));
        if (!(p >= 0 && p <= 1)) throw new IllegalArgumentException("attention: dropout p must be in [0, 1], got " + p);
        int b = qkv.size(0), t = qkv.size(1), e = qkv.size(2) / 3, d = e / heads;
        float scale = (float) (1.0 / Math.sqrt(d));
        boolean fusable = qkv.dtype() == DType.F32 && p < 1 && (mask == null || (mask.dtype() == DType.F32 && !mask.requiresGrad()
                && broadcastsTo(mask.shape(), b, heads, t, t)));
        long base = p > 0 && p < 1 ? g.reserve((long) b * heads * t * t) : 0;
        if (fusable) {
            AttentionSpec spec = new AttentionSpec(heads, scale, mask, p > 0, base, Dropout.threshold(false, p), (float) (1.0 / (1 - p)));
            Tensor in = qkv.isContiguous() ? qkv : qkv.contiguous();
            Tensor out = Tensor.uninitialized(qkv.backend(), DType.F32, b, t, e);      // the kernel writes every element
            if (qkv.backend().attention(in, spec, out)) {
                if (qkv.requiresGrad() && GradMode.isEnabled()) out.setGradFn(new Node("attention", qkv) {
                    @Override protected Tensor[] backward(Tensor gy) {
                        Tensor gc = gy.isContiguous() ? gy : gy.contiguous();
                        Tensor gq = Tensor.uninitialized(qkv.backend(), DType.F32, qkv.shape());
                        if (!qkv.backend().attentionBackward(in, spec, gc, gq))
                            throw new IllegalStateException("attention: the backend ran the forward kernel but has no backward for it");
                        if (gc != gy) gc.close();
                        return new Tensor[]{gq};
                    }

                    @Override protected void release() {
                        if (in != qkv) in.close();                      // the contiguous copy the kernels read
                    }
                });
                return out;
            }
            out.close();
            if (in != qkv) in.close();
        }
        Tensor q = qkv.narrow(2, 0, e).reshape(b, t, heads, d).permute(0, 2, 1, 3);
        Tensor kt = qkv.narrow(2, e, e).reshape(b, t, heads, d).permute(0, 2, 3, 1);
        Tensor v = qkv.narrow(2, 2 * e, e).reshape(b, t, heads, d).permute(0, 2, 1, 3);
        return composed(q, kt, v, mask, p, base).permute(0, 2, 1, 3).reshape(b, t, e);
    }

    /** Whether a shape broadcasts to the target shape (rank at most the target's, each dim equal or 1). */
    private static boolean broadcastsTo(int[] s, int... target) {
        if (s.length > target.length) return false;
        for (int i = 1; i <= s.length; i++)
            if (s[s.length - i] != 1 && s[s.length - i] != target[target.length - i]) return false;
        return true;
    }

    /**
     * softmax(q kt / sqrt(D) + mask) v, composed: q [.., T, D], kt [.., D, S] (K transposed), v
     * [.., S, Dv]; mask additive float or boolean (true = masked out) broadcastable to [.., T, S],
     * or null; dropout p on the probabilities (0 for none) from g.
     */
    public static Tensor scaledDotProduct(Tensor q, Tensor kt, Tensor v, Tensor mask, double p, Generator g) {
        if (!(p >= 0 && p <= 1)) throw new IllegalArgumentException("attention: dropout p must be in [0, 1], got " + p);
        return composed(q, kt, v, mask, p, p > 0 && p < 1 ? g.reserve(numelOfScores(q, kt, mask)) : 0);
    }

    /** The number of attention probabilities (the broadcast [.., T, S] shape), one dropout draw each. */
    private static long numelOfScores(Tensor q, Tensor kt, Tensor mask) {
        int[] lead = Shape.broadcast("attention", java.util.Arrays.copyOf(q.shape(), q.dim() - 2), java.util.Arrays.copyOf(kt.shape(), kt.dim() - 2));
        int[] s = java.util.Arrays.copyOf(lead, lead.length + 2);
        s[lead.length] = q.size(-2);
        s[lead.length + 1] = kt.size(-1);
        if (mask != null) s = Shape.broadcast("attention", s, mask.shape());
        return Shape.numel(s);
    }

    private static Tensor composed(Tensor q, Tensor kt, Tensor v, Tensor mask, double p, long base) {
        Tensor scores = q.mul(1.0 / Math.sqrt(q.size(-1))).matmul(kt);
        if (mask != null) {
            if (mask.dtype() == DType.BOOL) scores = Tensor.where(mask, Tensor.scalar(Double.NEGATIVE_INFINITY), scores);
            else scores = scores.add(mask);
        }
        Tensor attn = scores.softmax(-1);
        if (p == 1) attn = attn.mul(0.0);                             // nn.Dropout(1): every weight dropped, nothing drawn
        else if (p > 0) attn = attn.dtype() == DType.F32 || attn.dtype() == DType.F64 ? Dropout.applyAt(attn, p, base, true)
                : Dropout.apply(attn, p, new Generator(base));
        return attn.matmul(v);
    }
}
