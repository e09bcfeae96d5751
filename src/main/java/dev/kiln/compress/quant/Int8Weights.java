package dev.kiln.compress.quant;

import dev.kiln.compress.fuse.Epilogue;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Tensor;

import java.util.Arrays;

/**
 * A weight matrix [N, K] quantized per output channel, symmetric int8 (zero point 0, [-127, 127]),
 * with what {@link Int8Gemm#requantize} needs: per-channel scales and the row sums of the int8
 * values. Also the shared int8 GEMM step of the quantized layers.
 */
final class Int8Weights {
    final Tensor q;          // I8 [N, K]
    final float[] scale;     // [N]
    final int[] rowSum;      // [N]
    final QParams params;
    final Int8Gemm.PackedInt8 packed; // q in the GEMM kernel's layout, packed once

    /** Quantizes a float weight [N, K] (symmetric per output channel). */
    Int8Weights(Tensor w2d) {
        this(QParams.symmetricPerChannel(w2d, 0), w2d);
    }

    private Int8Weights(QParams params, Tensor w2d) {
        this(params.quantize(w2d), params);
    }

    /**
     * Wraps already-quantized weights (no re-quantization): q [N, K] I8 in [-127, 127] and one
     * positive scale per row. The tensor q is used as is (not copied).
     */
    Int8Weights(Tensor q, float[] scale) {
        this(q, perChannel(q, scale));
    }

    private Int8Weights(Tensor q, QParams params) {
        this.params = params;
        this.q = q;
        this.scale = params.scale().clone();
        int n = q.size(0), k = q.size(1);
        byte[] b = QParams.QTensors.bytes(q);
        this.rowSum = new int[n];
        for (int i = 0; i < n; i++) {
            int s = 0;
            for (int p = 0; p < k; p++) {
                int v = b[i * k + p];
                if (v < params.qmin()) throw new IllegalArgumentException("int8 weight " + v + " at [" + i + ", " + p + "] is outside [-127, 127]");
                s += v;
            }
            rowSum[i] = s;
        }
        this.packed = Int8Gemm.pack(q);
    }

    private static QParams perChannel(Tensor q, float[] scale) {
        if (q.dtype() != DType.I8 || q.dim() != 2)
            throw new IllegalArgumentException("int8 weights must be a 2-D I8 tensor, got " + q.dtype() + " " + Arrays.toString(q.shape()));
        if (scale.length != q.size(0))
            throw new IllegalArgumentException("int8 weights: " + scale.length + " scales for " + q.size(0) + " output channels");
        return new QParams(scale.clone(), new int[scale.length], 0, -127, QParams.QMAX);
    }

    /** The per-channel scales as an F32 tensor [N] (for the state dict). */
    Tensor scaleTensor() { return Tensor.fromArray(scale.clone(), scale.length); }

    /**
     * y [M, N] float = act((x - aZero) aScale x W^T + bias) for float rows x [M, K]: quantizes x with
     * the given activation parameters (per-batch min-max ones when null), runs the int8 GEMM and
     * the float epilogue.
     */
    Tensor apply(Tensor x2d, QParams act, float[] bias, Epilogue epi) {
        QParams a = act != null ? act : dynamicParams(x2d);
        try (Tensor xq = a.quantize(x2d); Tensor acc = Int8Gemm.matmulT(xq, packed)) {
            boolean relu = epi == Epilogue.RELU;
            Tensor y = Int8Gemm.requantize(acc, a.scale0(), a.zero0(), scale, rowSum, bias, relu, 0f, 0);
            return relu ? y : epi.finish(y);
        }
    }

    /** Asymmetric per-tensor parameters from this batch's min and max (dynamic quantization). */
    static QParams dynamicParams(Tensor x) {
        double[][] mm = QParams.channelMinMax(x, -1);
        return QParams.fromRange(mm[0][0], mm[1][0], false);
    }

    static float[] floats(Tensor t) { return t == null ? null : t.toFloatArray(); }
}
