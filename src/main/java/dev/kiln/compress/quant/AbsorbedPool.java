package dev.kiln.compress.quant;

import dev.kiln.nn.Module;
import dev.kiln.nn.Pool2d;
import dev.kiln.tensor.Tensor;

/**
 * A model's 2 x 2 max pool that the quantized conv before it applies itself
 * ({@link QuantizedConv2d#emitCodes(QParams, boolean)}; {@link Quantize#chainCodes} puts it in the
 * pool's place): it passes its input on while that conv pools, and pools it otherwise (the conv
 * was told to stop). The model's architecture line and state are the pool's ({@link #pool}), so a
 * saved model reloads with the plain pool and the planner takes it in again.
 */
public final class AbsorbedPool extends Module {
    private final Pool2d pool;
    private final QuantizedConv2d conv;

    AbsorbedPool(Pool2d pool, QuantizedConv2d conv) {
        this.pool = pool;
        this.conv = conv;
    }

    /** The pool this layer stands for. */
    public Pool2d pool() { return pool; }

    /** x as it is (a new view of it: a caller may close what it passed in) while the conv pools, else pooled. */
    @Override public Tensor forward(Tensor x) { return conv.poolsItself() ? x.view(x.shape()) : pool.forward(x); }

    @Override public String toString() { return pool + " (applied by the conv before it)"; }
}
