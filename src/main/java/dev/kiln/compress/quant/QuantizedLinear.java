package dev.kiln.compress.quant;

import dev.kiln.compress.fuse.Epilogue;
import dev.kiln.nn.Module;
import dev.kiln.tensor.Tensor;

import java.util.Arrays;
import java.util.Map;

/**
 * Int8 inference Linear: y = epilogue(x W^T + b) with W quantized per output channel (symmetric
 * int8) and x quantized per tensor (asymmetric int8 = uint8 semantics, see {@link QParams}) with
 * calibrated parameters ({@code act}, static quantization) or, when {@code act} is null, with
 * each batch's own min-max parameters (dynamic quantization). The product runs through
 * {@link Int8Gemm#matmulT}; {@link Int8Gemm#requantize} applies scales, the zero-point correction,
 * the float bias and a ReLU; other epilogues run on the float output. Input and output are float.
 * <p>
 * State (what a checkpoint saves): "weight_int8" (I8 [O, K]), "weight_scale" (F32 [O]) and, with a
 * bias, "bias" (F32 [O]); call {@code reloadState()} after loading values into them.
 */
public final class QuantizedLinear extends Module {
    private Int8Weights w;
    private float[] bias;
    private final Epilogue epilogue;
    private final QParams act;

    /** Quantizes a float weight [out, in] per output channel; bias may be null; act null = dynamic. */
    public QuantizedLinear(Tensor weight, Tensor bias, Epilogue epilogue, QParams act) {
        this(checked(weight), bias, epilogue, act, true);
    }

    private QuantizedLinear(Int8Weights w, Tensor bias, Epilogue epilogue, QParams act, boolean unused) {
        if (act != null && act.perChannel()) throw new IllegalArgumentException("QuantizedLinear: activations are quantized per tensor");
        this.w = w;
        this.epilogue = epilogue == null ? Epilogue.NONE : epilogue;
        this.act = act;
        registerBuffer("weight_int8", w.q);
        registerBuffer("weight_scale", w.scaleTensor());
        this.bias = Int8Weights.floats(bias);
        if (this.bias != null) {
            if (this.bias.length != w.q.size(0))
                throw new IllegalArgumentException("QuantizedLinear: bias has " + this.bias.length + " values for " + w.q.size(0) + " outputs");
            registerBuffer("bias", Tensor.fromArray(this.bias.clone(), this.bias.length));
        }
    }

    /**
     * A layer from already-quantized data, without re-quantizing: weightInt8 [out, in] (I8, values
     * in [-127, 127]), scale [out] (F32, one positive scale per output channel), bias [out] or null,
     * act the calibrated input parameters or null (dynamic). The tensors are copied.
     */
    public static QuantizedLinear fromInt8(Tensor weightInt8, Tensor scale, Tensor bias, Epilogue epilogue, QParams act) {
        Tensor q = weightInt8.clone();
        try {
            return new QuantizedLinear(new Int8Weights(q, scale.toFloatArray()), bias, epilogue, act, true);
        } catch (RuntimeException e) {
            q.close();
            throw e;
        }
    }

    private static Int8Weights checked(Tensor weight) {
        if (weight.dim() != 2) throw new IllegalArgumentException("QuantizedLinear: weight must be [out, in], got " + Arrays.toString(weight.shape()));
        return new Int8Weights(weight);
    }

    /**
     * Rebuilds the packed GEMM operand, row sums, scales and bias from the state tensors, after
     * {@link #loadStateDict} wrote new values into them (the checkpoint loader calls this).
     */
    public void reloadState() {
        Map<String, Tensor> st = stateDict();
        w = new Int8Weights(st.get("weight_int8"), st.get("weight_scale").toFloatArray());
        if (bias != null) bias = st.get("bias").toFloatArray();
    }

    public Epilogue epilogue() { return epilogue; }
    public boolean hasBias() { return bias != null; }
    /** A copy of the float bias, or null. */
    public float[] bias() { return bias == null ? null : bias.clone(); }
    /** The per-output-channel weight scales (a copy). */
    public float[] weightScales() { return w.scale.clone(); }

    public int inFeatures() { return w.q.size(1); }
    public int outFeatures() { return w.q.size(0); }
    public QParams inputParams() { return act; }
    public QParams weightParams() { return w.params; }
    public Tensor weightInt8() { return w.q; }
    public boolean isDynamic() { return act == null; }

    @Override
    public Tensor forward(Tensor x) {
        int[] xs = x.shape();
        int in = inFeatures();
        if (xs.length == 0 || xs[xs.length - 1] != in)
            throw new IllegalArgumentException("QuantizedLinear: input " + Arrays.toString(xs) + " does not end in " + in);
        int rows = (int) (x.numel() / in);
        int[] outShape = xs.clone();
        outShape[xs.length - 1] = outFeatures();
        try (Tensor x2 = x.reshape(rows, in)) {
            Tensor y = w.apply(x2, act, bias, epilogue);
            if (outShape.length == 2) return y;
            Tensor r = y.reshape(outShape);
            y.close();
            return r;
        }
    }

    @Override protected String extraRepr() {
        return "in_features=" + inFeatures() + ", out_features=" + outFeatures() + ", epilogue=" + epilogue.id()
                + (act == null ? ", dynamic" : ", input_scale=" + act.scale0() + ", input_zero=" + act.zero0());
    }
}
