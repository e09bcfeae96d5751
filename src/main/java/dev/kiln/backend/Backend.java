package dev.kiln.backend;

import dev.kiln.ops.BinaryOp;
import dev.kiln.ops.Conv2dParams;
import dev.kiln.ops.Pool2dParams;
import dev.kiln.ops.PoolOp;
import dev.kiln.ops.ReduceOp;
import dev.kiln.ops.UnaryOp;
import dev.kiln.tensor.Storage;
import dev.kiln.tensor.Tensor;

/**
 * A compute backend: memory plus the kernel set every device implements. The front-end ops in
 * {@code dev.kiln.ops} check shapes, pick dtypes and allocate outputs; a backend only computes.
 * Inputs may be arbitrary strided views (strides may be 0 for broadcast dims); outputs are freshly
 * allocated contiguous tensors unless stated otherwise.
 */
public interface Backend {
    String name();

    /** True when this backend's memory is host memory (the CPU backend). */
    default boolean isHost() { return true; }

    /** Zero-filled memory of the given size. */
    Storage allocate(long bytes);

    /**
     * Memory of the given size with unspecified contents, for an op output that the kernel then
     * writes in full (conv2d, pool2d, gemm with beta 0); by default zero-filled like {@link #allocate}.
     */
    default Storage allocateUninitialized(long bytes) { return allocate(bytes); }

    /** dst[i] = cast(src[i]) for two tensors of equal shape (any strides, any dtypes). */
    void copy(Tensor src, Tensor dst);

    /** out = op(x), same shape; x may be strided. Scalars a, b parameterize CLAMP / POW_SCALAR. */
    void unary(UnaryOp op, Tensor x, Tensor out, double a, double b);

    /** out = a op b; a and b are already broadcast to out's shape (expanded views). */
    void binary(BinaryOp op, Tensor a, Tensor b, Tensor out);

    /** out = cond ? a : b; all three already broadcast to out's shape. */
    void where(Tensor cond, Tensor a, Tensor b, Tensor out);

    /**
     * Reduces x over the given (sorted, distinct) axes into out, whose shape is x's with those axes
     * set to 1 (keepdim form). ARGMAX/ARGMIN take a single axis and write I64.
     */
    void reduce(ReduceOp op, Tensor x, int[] axes, Tensor out, double param);

    /** Softmax (or log-softmax) of x along axis. */
    void softmax(Tensor x, int axis, boolean log, Tensor out);

    /** Layer norm over the trailing normalizedDims dims; weight/bias may be null. */
    void layerNorm(Tensor x, Tensor weight, Tensor bias, int normalizedDims, double eps, Tensor out);

    /**
     * c = alpha * op(a) * op(b) + beta * c. Rank 2 ([M,K] x [K,N]) or rank 3 with a batch dim in
     * front (batch strides may be 0 to broadcast). Operands may be strided; c is contiguous.
     */
    void gemm(boolean transA, boolean transB, double alpha, Tensor a, Tensor b, double beta, Tensor c);

    /**
     * The same, then {@code c = act(c + bias)} ({@link GemmEpilogue}; null: none). A backend may
     * apply the epilogue to each block of c as it finishes it; by default it runs as separate passes.
     */
    default void gemm(boolean transA, boolean transB, double alpha, Tensor a, Tensor b, double beta, Tensor c, GemmEpilogue epilogue) {
        gemm(transA, transB, alpha, a, b, beta, c);
        if (epilogue != null) epilogue.applySeparately(c);
    }

    /**
     * Reduced-precision GEMM against a constant weight, opt-in ({@code --precision bf16}):
     * c [m, n] = bf16(a [m, k]) x bf16(w [k, n]) with f32 sums, w's bf16 copy made once and kept
     * with its storage. Returns false (c untouched) where this backend has no such kernel or the
     * operands do not fit it (w not constant, not F32); the caller then runs the f32 GEMM.
     */
    default boolean gemmBf16(Tensor a, Tensor w, Tensor c) { return false; }

    /**
     * Mixed-precision GEMM for training ({@link dev.kiln.ops.Autocast}): c = bf16(op(a)) x bf16(op(b))
     * with f32 sums, c overwritten (all F32 matrices; op transposes when its flag is set; b packed per
     * call, so it may change between calls). False (nothing written) where the backend has no such
     * kernel: the caller then runs the f32 GEMM.
     */
    default boolean gemmBf16(boolean transA, boolean transB, Tensor a, Tensor b, Tensor c) { return false; }

    /** x [N,C,H,W], w [O,C/groups,kh,kw], bias [O] or null, out [N,O,OH,OW]. */
    void conv2d(Tensor x, Tensor w, Tensor bias, Conv2dParams p, Tensor out);

    /**
     * Inference conv2d with its epilogue: out = act(conv2d(x, w, bias) + residual), residual (null:
     * none) of out's shape and dtype, act ReLU when relu (a residual block's Add and Relu, ONNX
     * Conv+Relu). A backend may apply the epilogue while it stores; the roundings are those of the
     * separate ops (bias, then residual, then ReLU).
     */
    default void conv2dFused(Tensor x, Tensor w, Tensor bias, Conv2dParams p, Tensor residual, boolean relu, Tensor out) {
        conv2d(x, w, bias, p, out);
        if (residual != null) binary(dev.kiln.ops.BinaryOp.ADD, out, residual, out);
        if (relu) unary(dev.kiln.ops.UnaryOp.RELU, out, out, 0, 0);
    }

    /** x [N,C,H,W] -> out [N,C,OH,OW]. For MAX, indices (I64, flat h*W+w, may be null) receives argmax positions. */
    void pool2d(PoolOp op, Tensor x, Pool2dParams p, Tensor out, Tensor indices);

    /** ReLU backward (PyTorch's threshold_backward): out = x > 0 ? g : 0; all three the same shape and dtype. */
    void reluBackward(Tensor g, Tensor x, Tensor out);

    /**
     * Softmax (log: log-softmax) backward over the last dim in one kernel, from the forward's
     * output y and the gradient g, into dx (all one shape and dtype), where the backend has one for
     * these tensors; false (nothing written) otherwise.
     */
    default boolean softmaxBackward(Tensor y, Tensor g, boolean log, Tensor dx) { return false; }

    /**
     * Layer norm backward in one kernel where the backend has one for these dtypes and layouts:
     * given g (the output's gradient) and the forward's x, weight w (may be null), the last k dims
     * normalized with eps, writes gx (like x), gw and gb (like w) for each that is not null.
     * False (nothing written) otherwise: the caller composes the gradient from tensor ops.
     */
    default boolean layerNormBackward(Tensor g, Tensor x, Tensor w, int k, double eps, Tensor gx, Tensor gw, Tensor gb) { return false; }

    /**
     * out = g * f'(x) for a smooth activation f in one fused kernel, where the backend has one for op
     * and these dtypes and layouts (y = f(x), needed by some ops, e.g. GELU); false (nothing
     * written) otherwise, and the caller composes the gradient from elementwise ops.
     */
    default boolean activationBackward(UnaryOp op, Tensor g, Tensor x, Tensor y, Tensor out) { return false; }

    /**
     * Inverted dropout with its mask drawn in the kernel: element i of {@code in} (contiguous,
     * row-major) is kept when the top {@code bits} bits of {@code Generator.draw(base, i)} are at
     * least {@code threshold}; {@code out = kept ? in * scale : in * 0} in in's dtype. Run on the
     * gradient with the same base it is the backward pass. Returns false (writing nothing) where
     * the backend has no such kernel for in's dtype or layout: the caller then builds the mask itself.
     */
    default boolean dropout(Tensor in, long base, int bits, long threshold, double scale, Tensor out) { return false; }

    /**
     * Fused self-attention forward (see {@link AttentionSpec}): out [B, T, E] from qkv [B, T, 3E],
     * both contiguous. False (nothing written) where the backend has no kernel for these dtypes
     * and shapes; the caller then composes the same math from matmul, softmax and dropout.
     */
    default boolean attention(Tensor qkv, AttentionSpec spec, Tensor out) { return false; }

    /**
     * Its backward: gQkv [B, T, 3E] (overwritten, contiguous) from gOut [B, T, E] (contiguous),
     * recomputing the scores and probabilities per head. Called only after {@link #attention}
     * returned true for the same qkv and spec.
     */
    default boolean attentionBackward(Tensor qkv, AttentionSpec spec, Tensor gOut, Tensor gQkv) { return false; }

    /** Gradient of conv2d w.r.t. its input: gx [N,C,H,W] (overwritten) from gy [N,O,OH,OW] and w [O,C/g,kh,kw]. */
    void conv2dBackwardInput(Tensor gy, Tensor w, Conv2dParams p, Tensor gx);

    /** Gradient of conv2d w.r.t. its weight: gw [O,C/g,kh,kw] (overwritten) from x [N,C,H,W] and gy [N,O,OH,OW]. */
    void conv2dBackwardWeight(Tensor x, Tensor gy, Conv2dParams p, Tensor gw);

    /**
     * Gradient of pool2d: gx [N,C,H,W] (overwritten) from gy [N,C,OH,OW]. MAX routes each gradient to
     * the position in indices (I64, flat h*W+w per plane, from the forward); AVG spreads it over the window
     * with the forward's divisor.
     */
    void pool2dBackward(PoolOp op, Tensor gy, Tensor indices, Pool2dParams p, Tensor gx);

    /**
     * torch.gather: out[..i..] = x[..index[..i..] along axis..]; index (I64) and out have the same
     * shape, index may be strided (e.g. expanded). Out-of-range indices raise an error naming the op.
     */
    void gather(Tensor x, int axis, Tensor index, Tensor out);

    /** torch.scatter_add_ in place: dst[..index[..i..] along axis..] += src[..i..]; index shaped like src. */
    void scatterAdd(Tensor dst, int axis, Tensor index, Tensor src);

    /**
     * Fused SGD update of one contiguous parameter, PyTorch's semantics: d = g + wd*p; with momentum
     * buf = firstStep ? d : momentum*buf + (1-dampening)*d, d = nesterov ? d + momentum*buf : buf;
     * p -= lr*d. momentumBuf may be null when momentum == 0.
     */
    void sgdStep(Tensor param, Tensor grad, Tensor momentumBuf, double lr, double momentum, double dampening,
                 double weightDecay, boolean nesterov, boolean firstStep);

    /**
     * Fused Adam/AdamW update (step >= 1): decoupled ? p *= 1 - lr*wd : g += wd*p; m = b1*m + (1-b1)*g;
     * v = b2*v + (1-b2)*g^2; p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps).
     */
    void adamStep(Tensor param, Tensor grad, Tensor m, Tensor v, double lr, double beta1, double beta2, double eps,
                  double weightDecay, boolean decoupled, long step);

    /** Copies a host tensor into dst, which lives on this backend (same shape; dst contiguous). */
    default void copyFromHost(Tensor hostSrc, Tensor dst) { copy(hostSrc, dst); }

    /** Copies src, which lives on this backend, into a contiguous host tensor of the same shape. */
    default void copyToHost(Tensor src, Tensor hostDst) { copy(src, hostDst); }

    /** Waits for queued work (no-op on the CPU). */
    default void synchronize() {}
}
