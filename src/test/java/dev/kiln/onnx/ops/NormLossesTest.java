package dev.kiln.onnx.ops;

import dev.kiln.onnx.ElemType;
import dev.kiln.onnx.OnnxException;
import dev.kiln.onnx.Value;
import org.junit.jupiter.api.Test;

import java.util.List;

import static dev.kiln.onnx.ops.NormTestKit.*;
import static org.junit.jupiter.api.Assertions.*;

/** NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss vs double references. */
class NormLossesTest {
    private static final int N = 2, C = 3, D = 2;
    private static final long[] TARGET = {0, 2, 1, 1};   // [N, D]
    private static final double[] WEIGHT = {0.5, 2, 1.5};

    @Test
    void nllWeightedMeanSkipsIgnoredTargets() {
        double[] x = values(N * C * D, 11);
        Value loss = op("NegativeLogLikelihoodLoss").opset(13).i("ignore_index", 2)
                .in(f32(x, N, C, D), NormArrays.value(TARGET, ElemType.INT64, N, D), f32(WEIGHT, C)).run(0);
        double num = 0, den = 0;
        for (int n = 0; n < N; n++)
            for (int d = 0; d < D; d++) {
                int t = (int) TARGET[n * D + d];
                if (t == 2) continue;
                num -= x[(n * C + t) * D + d] * WEIGHT[t];
                den += WEIGHT[t];
            }
        assertShape(loss, ElemType.FLOAT);
        assertClose(new double[]{num / den}, loss.tensor(), 1e-6);
    }

    @Test
    void nllNoneKeepsTargetShapeAndSumAdds() {
        double[] x = values(N * C * D, 12);
        Value none = op("NegativeLogLikelihoodLoss").opset(13).s("reduction", "none")
                .in(f32(x, N, C, D), NormArrays.value(TARGET, ElemType.INT64, N, D)).run(0);
        double[] want = new double[N * D];
        for (int k = 0; k < want.length; k++) want[k] = -x[((k / D) * C + (int) TARGET[k]) * D + k % D];
        assertShape(none, ElemType.FLOAT, N, D);
        assertClose(want, none.tensor(), 1e-6);
        Value sum = op("NegativeLogLikelihoodLoss").opset(13).s("reduction", "sum")
                .in(f32(x, N, C, D), NormArrays.value(TARGET, ElemType.INT64, N, D)).run(0);
        assertClose(new double[]{want[0] + want[1] + want[2] + want[3]}, sum.tensor(), 1e-6);
    }

    @Test
    void softmaxCrossEntropyReturnsLossAndLogProb() {
        double[] x = values(N * C * D, 13);
        List<Value> out = op("SoftmaxCrossEntropyLoss").opset(13).s("reduction", "none").outputs(2)
                .in(f32(x, N, C, D), NormArrays.value(TARGET, ElemType.INT64, N, D), f32(WEIGHT, C)).run();
        double[] logp = new double[x.length], loss = new double[N * D];
        for (int n = 0; n < N; n++)
            for (int d = 0; d < D; d++) {
                double sum = 0;
                for (int c = 0; c < C; c++) sum += Math.exp(x[(n * C + c) * D + d]);
                for (int c = 0; c < C; c++) logp[(n * C + c) * D + d] = x[(n * C + c) * D + d] - Math.log(sum);
                int t = (int) TARGET[n * D + d];
                loss[n * D + d] = -logp[(n * C + t) * D + d] * WEIGHT[t];
            }
        assertClose(loss, out.get(0).tensor(), 1e-5);
        assertShape(out.get(1), ElemType.FLOAT, N, C, D);
        assertClose(logp, out.get(1).tensor(), 1e-5);
    }

    @Test
    void targetOutsideClassesIsAnError() {
        OnnxException e = assertThrows(OnnxException.class, () -> op("NegativeLogLikelihoodLoss").opset(13)
                .in(f32(values(6, 1), 2, 3), i64(0, 3)).run());
        assertTrue(e.getMessage().contains("target value 3"), e.getMessage());
    }
}
