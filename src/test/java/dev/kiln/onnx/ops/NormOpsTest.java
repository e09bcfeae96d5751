package dev.kiln.onnx.ops;

import dev.kiln.onnx.ElemType;
import dev.kiln.onnx.OnnxException;
import dev.kiln.onnx.Value;
import org.junit.jupiter.api.Test;

import dev.kiln.tensor.Storage;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

import static dev.kiln.onnx.ops.NormTestKit.*;
import static org.junit.jupiter.api.Assertions.*;

/** BatchNormalization, InstanceNormalization, LayerNormalization, MVN and Dropout vs double references. */
class NormOpsTest {

    @Test
    void batchNormInferenceMatchesFormula() {
        int n = 2, c = 3, hw = 4;
        double[] x = values(n * c * hw, 1), s = {1.5, -0.5, 2}, b = {0.1, 0.2, -0.3}, m = {0.05, -0.1, 0.2}, v = {0.5, 1.2, 0.9};
        Value y = op("BatchNormalization").opset(15).f("epsilon", 1e-3)
                .in(f32(x, n, c, 2, 2), f32(s, c), f32(b, c), f32(m, c), f32(v, c)).run(0);
        double[] want = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            int ch = (i / hw) % c;
            want[i] = (x[i] - m[ch]) / Math.sqrt(v[ch] + 1e-3) * s[ch] + b[ch];
        }
        assertShape(y, ElemType.FLOAT, n, c, 2, 2);
        assertClose(want, y.tensor(), 1e-5);
    }

    @Test
    void batchNormTrainingModeUpdatesRunningStats() {
        int n = 3, c = 2, hw = 5;
        double[] x = values(n * c * hw, 2), s = {1, 2}, b = {0, 1}, m = {0.5, -0.5}, v = {1, 2};
        List<Value> out = op("BatchNormalization").opset(15).i("training_mode", 1).f("momentum", 0.8).outputs(3)
                .in(f32(x, n, c, hw), f32(s, c), f32(b, c), f32(m, c), f32(v, c)).run();
        double[] mean = new double[c], var = new double[c];
        for (int i = 0; i < x.length; i++) mean[(i / hw) % c] += x[i] / (n * hw);
        for (int i = 0; i < x.length; i++) var[(i / hw) % c] += Math.pow(x[i] - mean[(i / hw) % c], 2) / (n * hw);
        double[] y = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            int ch = (i / hw) % c;
            y[i] = (x[i] - mean[ch]) / Math.sqrt(var[ch] + 1e-5) * s[ch] + b[ch];
        }
        assertClose(y, out.get(0).tensor(), 1e-5);
        assertClose(new double[]{m[0] * 0.8 + mean[0] * 0.2, m[1] * 0.8 + mean[1] * 0.2}, out.get(1).tensor(), 1e-6);
        assertClose(new double[]{v[0] * 0.8 + var[0] * 0.2, v[1] * 0.8 + var[1] * 0.2}, out.get(2).tensor(), 1e-6);
    }

    @Test
    void instanceNormNormalizesEachChannelOfEachSample() {
        int n = 2, c = 2, hw = 6;
        double[] x = values(n * c * hw, 3), s = {2, 0.5}, b = {-1, 1};
        Value y = op("InstanceNormalization").opset(6).in(f32(x, n, c, 2, 3), f32(s, c), f32(b, c)).run(0);
        double[] want = new double[x.length];
        for (int g = 0; g < n * c; g++) {
            double mean = 0, var = 0;
            for (int k = 0; k < hw; k++) mean += x[g * hw + k] / hw;
            for (int k = 0; k < hw; k++) var += Math.pow(x[g * hw + k] - mean, 2) / hw;
            for (int k = 0; k < hw; k++) want[g * hw + k] = (x[g * hw + k] - mean) / Math.sqrt(var + 1e-5) * s[g % c] + b[g % c];
        }
        assertClose(want, y.tensor(), 1e-5);
    }

    @Test
    void layerNormOverTrailingAxesWithStatsOutputs() {
        int rows = 2, cols = 12; // X [2, 3, 4], axis 1 normalizes the last 12 values of each row
        double[] x = values(rows * cols, 4), w = values(cols, 5), b = values(cols, 6);
        List<Value> out = op("LayerNormalization").i("axis", 1).f("epsilon", 1e-2).outputs(3)
                .in(f32(x, 2, 3, 4), f32(w, 3, 4), f32(b, 3, 4)).run();
        double[] y = new double[x.length], means = new double[rows], inv = new double[rows];
        for (int r = 0; r < rows; r++) {
            for (int k = 0; k < cols; k++) means[r] += x[r * cols + k] / cols;
            double var = 0;
            for (int k = 0; k < cols; k++) var += Math.pow(x[r * cols + k] - means[r], 2) / cols;
            inv[r] = 1 / Math.sqrt(var + 1e-2);
            for (int k = 0; k < cols; k++) y[r * cols + k] = (x[r * cols + k] - means[r]) * inv[r] * w[k] + b[k];
        }
        assertClose(y, out.get(0).tensor(), 1e-5);
        assertShape(out.get(1), ElemType.FLOAT, 2, 1, 1);
        assertClose(means, out.get(1).tensor(), 1e-6);
        assertClose(inv, out.get(2).tensor(), 1e-5);
    }

    @Test
    void layerNormBroadcastsScaleAndRejectsBadAxis() {
        double[] x = values(8, 7);
        Value y = op("LayerNormalization").in(f32(x, 2, 4), f32(new double[]{2}, 1)).run(0);
        double[] want = new double[8];
        for (int r = 0; r < 2; r++) {
            double mean = 0, var = 0;
            for (int k = 0; k < 4; k++) mean += x[r * 4 + k] / 4;
            for (int k = 0; k < 4; k++) var += Math.pow(x[r * 4 + k] - mean, 2) / 4;
            for (int k = 0; k < 4; k++) want[r * 4 + k] = 2 * (x[r * 4 + k] - mean) / Math.sqrt(var + 1e-5);
        }
        assertClose(want, y.tensor(), 1e-5);
        OnnxException e = assertThrows(OnnxException.class,
                () -> op("LayerNormalization").i("axis", 2).in(f32(x, 2, 4), f32(new double[]{1}, 1)).run());
        assertTrue(e.getMessage().contains("axis 2"), e.getMessage());
    }

    @Test
    void meanVarianceNormalizationUsesAxes023() {
        double[] x = values(2 * 3 * 2, 8);
        Value y = op("MeanVarianceNormalization").opset(13).in(f32(x, 2, 3, 2, 1)).run(0);
        double[] want = new double[x.length];
        for (int c = 0; c < 3; c++) {
            double mean = 0, sq = 0;
            for (int n = 0; n < 2; n++) for (int k = 0; k < 2; k++) mean += x[(n * 3 + c) * 2 + k] / 4;
            for (int n = 0; n < 2; n++) for (int k = 0; k < 2; k++) sq += Math.pow(x[(n * 3 + c) * 2 + k], 2) / 4;
            double std = Math.sqrt(sq - mean * mean);
            for (int n = 0; n < 2; n++) for (int k = 0; k < 2; k++) want[(n * 3 + c) * 2 + k] = (x[(n * 3 + c) * 2 + k] - mean) / (std + 1e-9);
        }
        assertClose(want, y.tensor(), 1e-4);
    }

    @Test
    void dropoutInferenceIsIdentityWithTrueMask() {
        double[] x = values(6, 9);
        List<Value> out = op("Dropout").opset(13).outputs(2).in(f32(x, 2, 3), scalar(0.3, ElemType.FLOAT)).run();
        assertClose(x, out.get(0).tensor(), 1e-7);
        assertShape(out.get(1), ElemType.BOOL, 2, 3);
        assertClose(new double[]{1, 1, 1, 1, 1, 1}, out.get(1).tensor(), 0);
    }

    @Test
    void dropoutTrainingDrawsNumpyCompatibleMask() {
        // NumPy: np.random.seed(0); np.random.uniform(0, 1, 4) = [0.5488135, 0.71518937, 0.60276338, 0.54488318]
        double[] x = {1, 2, 3, 4};
        List<Value> out = op("Dropout").opset(13).i("seed", 0).outputs(2)
                .in(f32(x, 4), scalar(0.6, ElemType.FLOAT), scalar(1, ElemType.BOOL)).run();
        assertClose(new double[]{0, 2 / 0.4, 3 / 0.4, 0}, out.get(0).tensor(), 1e-6);
        assertClose(new double[]{0, 1, 1, 0}, out.get(1).tensor(), 0);
    }

    @Test
    void mersenneTwisterMatchesReferenceStream() {
        MersenneTwister mt = new MersenneTwister(5489);
        assertEquals(3499211612L, mt.nextInt() & 0xffffffffL); // first output of the reference MT19937, seed 5489
        MersenneTwister zero = new MersenneTwister(0);
        assertEquals(0.5488135039273248, zero.nextDouble(), 1e-15);
        assertEquals(0.7151893663724195, zero.nextDouble(), 1e-15);
    }

    @Test
    void opsReleaseTheirTemporaries() {
        List<Supplier<NormTestKit.Node>> cases = List.of(
                () -> op("BatchNormalization").opset(15).i("training_mode", 1).outputs(3).in(f32(values(12, 1), 2, 2, 3),
                        f32(new double[]{1, 2}, 2), f32(new double[]{0, 1}, 2), f32(new double[]{0, 0}, 2), f32(new double[]{1, 1}, 2)),
                () -> op("LayerNormalization").outputs(3).in(f32(values(12, 2), 3, 4), f32(values(4, 3), 4), f32(values(4, 4), 4)),
                () -> op("InstanceNormalization").opset(6).in(f32(values(12, 5), 1, 2, 6), f32(new double[]{1, 2}, 2), f32(new double[]{0, 1}, 2)),
                () -> op("SoftmaxCrossEntropyLoss").opset(13).outputs(2).in(f32(values(6, 6), 2, 3), i64(0, 2)),
                () -> op("LSTM").opset(14).i("hidden_size", 2).s("direction", "bidirectional").outputs(3)
                        .in(f32(values(12, 7), 2, 2, 3), f32(values(48, 8), 2, 8, 3), f32(values(32, 9), 2, 8, 2)),
                () -> op("MatMulInteger").opset(10).in(typed(ElemType.UINT8, new double[]{1, 2, 3, 4}, 2, 2),
                        typed(ElemType.UINT8, new double[]{5, 6, 7, 8}, 2, 2)),
                () -> op("DFT").in(f32(values(16, 10), 1, 8, 2)));
        for (Supplier<NormTestKit.Node> c : cases) {
            int before = Storage.liveCount();
            NormTestKit.Node node = c.get();
            List<Value> out = new ArrayList<>(node.run());
            node.closeInputs();
            out.forEach(v -> v.tensor().close());
            assertTrue(Storage.liveCount() <= before, "live storages " + Storage.liveCount() + " > " + before);
        }
    }
}
