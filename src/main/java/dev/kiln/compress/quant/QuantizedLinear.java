package dev.kiln.compress.quant;

import dev.kiln.compress.fuse.Epilogue;
import dev.kiln.nn.Module;
import dev.kiln.tensor.Tensor;

import java.util.Arrays;

/**
 * Int8 inference Linear: y = epilogue(x W^T + b) with W quantized per output channel (symmetric
 * int8) and x quantized per tensor (asymmetric int8 = uint8 semantics, see {@link QParams}) with
 * calibrated parameters ({@code act}, static quantization) or, when {@code act} is null, with
 * each batch's own min-max parameters (dynamic quantization). The product runs through
 * {@link Int8Gemm#matmulT}; {@link Int8Gemm#requantize} applies scales, the zero-point correction,
 * the float bias and a ReLU; other epilogues run on the float output. Input and output are float.
 */
public final class QuantizedLinear extends Module {
    private final Int8Weights w;
    private final float[] bias;
    private final Epilogue epilogue;
    private final QParams act;

    public QuantizedLinear(Tensor weight, Tensor bias, Epilogue epilogue, QParams act) {
        if (weight.dim() != 2) throw new IllegalArgumentException("QuantizedLinear: weight must be [out, in], got " + Arrays.toString(weight.shape()));
        if (act != null && act.perChannel()) throw new IllegalArgumentException("QuantizedLinear: activations are quantized per tensor");
        this.w = new Int8Weights(weight);
        registerBuffer("weight_int8", w.q);
        this.bias = Int8Weights.floats(bias);
        this.epilogue = epilogue == null ? Epilogue.NONE : epilogue;
        this.act = act;
    }

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
