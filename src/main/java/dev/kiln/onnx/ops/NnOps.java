package dev.kiln.onnx.ops;

/**
 * ONNX spatial NN ops (see {@link OpFamilies}): convolution ({@link NnConv},
 * {@link NnConvTranspose}), pooling ({@link NnPool}, {@link NnPoolLoops}, {@link NnMaxUnpool}),
 * resampling ({@link NnResize}, {@link NnGridSample}, {@link NnRoiAlign}), {@link NnLrn} and
 * {@link NnNms}. Window geometry shared by conv and pooling lives in {@link NnWindow}.
 */
final class NnOps {
    private NnOps() {}

    static void register(OpRegistry r) {
        r.register("Conv", NnConv::conv);
        r.register("dev.kiln", "Conv+Relu", NnConv::convRelu); // GraphOptimizer's fused node (FusedOps.DOMAIN)
        r.register("dev.kiln", "ConvAdd", call -> NnConv.convAdd(call, false));   // Conv + residual Add (GraphOptimizer)
        r.register("dev.kiln", "ConvAdd+Relu", call -> NnConv.convAdd(call, true));
        r.register("dev.kiln", "Attention", NnAttention::attention); // GraphOptimizer's fused attention (AttentionFusion)
        r.register("ConvTranspose", NnConvTranspose::convTranspose);
        r.register("MaxPool", NnPool::maxPool);
        r.register("AveragePool", NnPool::averagePool);
        r.register("LpPool", NnPool::lpPool);
        r.register("GlobalAveragePool", NnPool::globalAverage);
        r.register("GlobalMaxPool", NnPool::globalMax);
        r.register("GlobalLpPool", NnPool::globalLp);
        r.register("MaxUnpool", NnMaxUnpool::maxUnpool);
        r.register("Resize", NnResize::resize);
        r.register("Upsample", NnResize::upsample);
        r.register("GridSample", NnGridSample::gridSample);
        r.register("RoiAlign", NnRoiAlign::roiAlign);
        r.register("NonMaxSuppression", NnNms::nonMaxSuppression);
        r.register("LRN", NnLrn::lrn);
    }
}
