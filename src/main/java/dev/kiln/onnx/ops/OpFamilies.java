package dev.kiln.onnx.ops;

/**
 * The list of op families: each family file registers its ops. Add a family here, in one line.
 */
final class OpFamilies {
    private OpFamilies() {}

    static void registerAll(OpRegistry r) {
        MathOps.register(r);        // elementwise arithmetic, math, logic, activations, Cast, Where, Clip
        ReduceOps.register(r);      // Reduce*, ArgMax/ArgMin, Softmax/LogSoftmax/Hardmax, CumSum, MatMul, Gemm, Einsum
        ShapeOps.register(r);       // Reshape, Shape, Transpose, Concat, Split, Slice, Expand, Tile, Pad, constants, ...
        IndexOps.register(r);       // Gather*, Scatter*, OneHot, TopK, NonZero, Unique, Compress, Trilu, ...
        NnOps.register(r);          // Conv, ConvTranspose, pooling, Resize/Upsample, GridSample, RoiAlign, LRN, ...
        NnBlocked.register(r);      // the channel-blocked (NCHW16c) conv chain of BlockedLayout
        NormOps.register(r);        // BatchNormalization, InstanceNorm, LayerNormalization, MVN, Dropout, losses
        RnnOps.register(r);         // RNN, GRU, LSTM
        SignalOps.register(r);      // DFT, STFT, window functions, MelWeightMatrix
        TrainingOps.register(r);    // ai.onnx.preview.training: Adam, Adagrad, Momentum
        ControlOps.register(r);     // If, Loop, Scan, sequences, optionals
        QuantOps.register(r);       // QuantizeLinear, DequantizeLinear, MatMulInteger, QLinear*, ConvInteger
        MatMulNBits.register(r);    // com.microsoft.MatMulNBits (weight-only 4/8-bit, as ORT and kiln quantize --weight-only write it)
        StringOps.register(r);      // StringNormalizer, TfIdfVectorizer (Cast to/from strings: StringCast)
        RandomOps.register(r);      // RandomUniform/Normal(Like), Bernoulli, Multinomial
    }
}
