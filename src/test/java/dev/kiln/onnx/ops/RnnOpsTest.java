package dev.kiln.onnx.ops;

import dev.kiln.onnx.ElemType;
import dev.kiln.onnx.Value;
import org.junit.jupiter.api.Test;

import java.util.List;

import static dev.kiln.onnx.ops.NormTestKit.*;

/** RNN, GRU and LSTM vs straightforward double-precision loops over the ONNX equations. */
class RnnOpsTest {
    private static final int SEQ = 3, BATCH = 2, IN = 3, H = 2;

    /** Row g*H + j of W [G*H, K] times v [K] (one gate unit). */
    private static double dot(double[] w, int row, int k, double[] v, int off) {
        double s = 0;
        for (int i = 0; i < k; i++) s += w[row * k + i] * v[off + i];
        return s;
    }

    private static double sigmoid(double v) { return 1 / (1 + Math.exp(-v)); }

    @Test
    void bidirectionalRnnWithSequenceLengths() {
        int dirs = 2;
        double[] x = values(SEQ * BATCH * IN, 21), w = values(dirs * H * IN, 22), r = values(dirs * H * H, 23);
        double[] b = values(dirs * 2 * H, 24), h0 = values(dirs * BATCH * H, 25);
        int[] lens = {3, 1};
        List<Value> out = op("RNN").opset(14).i("hidden_size", H).s("direction", "bidirectional").outputs(2)
                .in(f32(x, SEQ, BATCH, IN), f32(w, dirs, H, IN), f32(r, dirs, H, H), f32(b, dirs, 2 * H),
                        NormArrays.value(new long[]{3, 1}, ElemType.INT32, 2), f32(h0, dirs, BATCH, H)).run();
        double[] y = new double[SEQ * dirs * BATCH * H], yh = new double[dirs * BATCH * H];
        for (int d = 0; d < dirs; d++)
            for (int bt = 0; bt < BATCH; bt++) {
                double[] h = new double[H];
                System.arraycopy(h0, (d * BATCH + bt) * H, h, 0, H);
                for (int s = 0; s < lens[bt]; s++) {
                    int t = d == 0 ? s : lens[bt] - 1 - s;
                    double[] nh = new double[H];
                    for (int j = 0; j < H; j++)
                        nh[j] = Math.tanh(dot(w, d * H + j, IN, x, (t * BATCH + bt) * IN) + dot(r, d * H + j, H, h, 0)
                                + b[d * 2 * H + j] + b[d * 2 * H + H + j]);
                    h = nh;
                    System.arraycopy(h, 0, y, ((t * dirs + d) * BATCH + bt) * H, H);
                }
                System.arraycopy(h, 0, yh, (d * BATCH + bt) * H, H);
            }
        assertShape(out.get(0), ElemType.FLOAT, SEQ, dirs, BATCH, H);
        assertClose(y, out.get(0).tensor(), 1e-5);
        assertClose(yh, out.get(1).tensor(), 1e-5);
    }

    @Test
    void gruBothResetModes() {
        for (int lbr = 0; lbr <= 1; lbr++) {
            double[] x = values(SEQ * BATCH * IN, 31), w = values(3 * H * IN, 32), r = values(3 * H * H, 33);
            double[] b = values(6 * H, 34);
            Value yh = op("GRU").opset(14).i("hidden_size", H).i("linear_before_reset", lbr).outputs(2)
                    .in(f32(x, SEQ, BATCH, IN), f32(w, 1, 3 * H, IN), f32(r, 1, 3 * H, H), f32(b, 1, 6 * H)).run(1);
            double[] want = new double[BATCH * H];
            for (int bt = 0; bt < BATCH; bt++) {
                double[] h = new double[H];
                for (int t = 0; t < SEQ; t++) {
                    int xo = (t * BATCH + bt) * IN;
                    double[] z = new double[H], rr = new double[H], rh = new double[H], nh = new double[H];
                    for (int j = 0; j < H; j++) {
                        z[j] = sigmoid(dot(w, j, IN, x, xo) + dot(r, j, H, h, 0) + b[j] + b[3 * H + j]);
                        rr[j] = sigmoid(dot(w, H + j, IN, x, xo) + dot(r, H + j, H, h, 0) + b[H + j] + b[4 * H + j]);
                        rh[j] = rr[j] * h[j];
                    }
                    for (int j = 0; j < H; j++) {
                        double rec = lbr == 1 ? rr[j] * (dot(r, 2 * H + j, H, h, 0) + b[5 * H + j])
                                : dot(r, 2 * H + j, H, rh, 0) + b[5 * H + j];
                        double cand = Math.tanh(dot(w, 2 * H + j, IN, x, xo) + b[2 * H + j] + rec);
                        nh[j] = (1 - z[j]) * cand + z[j] * h[j];
                    }
                    h = nh;
                }
                System.arraycopy(h, 0, want, bt * H, H);
            }
            assertClose(want, yh.tensor(), 1e-5);
        }
    }

    @Test
    void batchFirstLstmWithPeepholesAndInitialState() {
        double[] x = values(BATCH * SEQ * IN, 41), w = values(4 * H * IN, 42), r = values(4 * H * H, 43);
        double[] b = values(8 * H, 44), p = values(3 * H, 45), h0 = values(BATCH * H, 46), c0 = values(BATCH * H, 47);
        List<Value> out = op("LSTM").opset(14).i("hidden_size", H).i("layout", 1).outputs(3)
                .in(f32(x, BATCH, SEQ, IN), f32(w, 1, 4 * H, IN), f32(r, 1, 4 * H, H), f32(b, 1, 8 * H), null,
                        f32(h0, BATCH, 1, H), f32(c0, BATCH, 1, H), f32(p, 1, 3 * H)).run();
        double[] y = new double[BATCH * SEQ * H], yh = new double[BATCH * H], yc = new double[BATCH * H];
        for (int bt = 0; bt < BATCH; bt++) {
            double[] h = new double[H], c = new double[H];
            System.arraycopy(h0, bt * H, h, 0, H);
            System.arraycopy(c0, bt * H, c, 0, H);
            for (int t = 0; t < SEQ; t++) {
                int xo = (bt * SEQ + t) * IN;
                double[] nh = new double[H], nc = new double[H];
                for (int j = 0; j < H; j++) {
                    double[] g = new double[4];
                    for (int k = 0; k < 4; k++)
                        g[k] = dot(w, k * H + j, IN, x, xo) + dot(r, k * H + j, H, h, 0) + b[k * H + j] + b[4 * H + k * H + j];
                    double i = sigmoid(g[0] + p[j] * c[j]), f = sigmoid(g[2] + p[2 * H + j] * c[j]);
                    nc[j] = f * c[j] + i * Math.tanh(g[3]);
                    nh[j] = sigmoid(g[1] + p[H + j] * nc[j]) * Math.tanh(nc[j]);
                }
                h = nh;
                c = nc;
                System.arraycopy(h, 0, y, (bt * SEQ + t) * H, H);
            }
            System.arraycopy(h, 0, yh, bt * H, H);
            System.arraycopy(c, 0, yc, bt * H, H);
        }
        assertShape(out.get(0), ElemType.FLOAT, BATCH, SEQ, 1, H);
        assertClose(y, out.get(0).tensor(), 1e-5);
        assertShape(out.get(1), ElemType.FLOAT, BATCH, 1, H);
        assertClose(yh, out.get(1).tensor(), 1e-5);
        assertClose(yc, out.get(2).tensor(), 1e-5);
    }
}
