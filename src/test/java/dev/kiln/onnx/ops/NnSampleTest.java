package dev.kiln.onnx.ops;

import dev.kiln.onnx.Value;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static dev.kiln.onnx.ops.NnTestSupport.*;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;

/** GridSample, RoiAlign, NonMaxSuppression and LRN against hand-derived expectations and reference loops. */
class NnSampleTest {
    private final Random rnd = new Random(3);

    /** A grid [1, ho, wo, 2] whose (x, y) are given per output position. */
    private static Value grid(double[][] xy, int ho, int wo) {
        double[] g = new double[ho * wo * 2];
        for (int p = 0; p < ho * wo; p++) {
            g[2 * p] = xy[p][0];
            g[2 * p + 1] = xy[p][1];
        }
        return f32(g, 1, ho, wo, 2);
    }

    @Test
    void gridSampleIdentityGridReturnsTheInput() {
        int h = 4, w = 5;
        double[] x = rand(rnd, 2 * h * w);
        for (boolean align : new boolean[]{true, false}) {
            double[][] xy = new double[h * w][];
            for (int i = 0; i < h; i++)
                for (int j = 0; j < w; j++)
                    xy[i * w + j] = align ? new double[]{-1 + 2.0 * j / (w - 1), -1 + 2.0 * i / (h - 1)}
                            : new double[]{(2.0 * j + 1) / w - 1, (2.0 * i + 1) / h - 1};
            for (String mode : new String[]{"bilinear", "nearest", "bicubic"}) {
                Value y = run1("GridSample", 16, attrs().s("mode", mode).i("align_corners", align ? 1 : 0),
                        f32(x, 1, 2, h, w), grid(xy, h, w));
                assertClose(x, new int[]{1, 2, h, w}, y, 1e-5);
            }
        }
    }

    @Test
    void gridSamplePaddingModes() {
        double[] x = {1, 2, 3, 4, 5, 6}; // 2 x 3
        double[][] xy = {{3.0, -1.0}, {-1.0 - 2.0 / 2, 1.0}}; // far right of row 0; one step left of column 0, row 1
        Value border = run1("GridSample", 16, attrs().s("padding_mode", "border").i("align_corners", 1),
                f32(x, 1, 1, 2, 3), grid(xy, 1, 2));
        assertClose(new double[]{3, 4}, new int[]{1, 1, 1, 2}, border, 1e-6);
        Value zeros = run1("GridSample", 16, attrs().i("align_corners", 1), f32(x, 1, 1, 2, 3), grid(xy, 1, 2));
        assertClose(new double[]{0, 0}, new int[]{1, 1, 1, 2}, zeros, 1e-6);
        // reflection about the corner centres: x = -2 (one column left of 0) reflects onto column 1
        Value refl = run1("GridSample", 16, attrs().s("padding_mode", "reflection").i("align_corners", 1),
                f32(x, 1, 1, 2, 3), grid(new double[][]{{-2.0, 1.0}}, 1, 1));
        assertClose(new double[]{5}, new int[]{1, 1, 1, 1}, refl, 1e-6);
    }

    @Test
    void roiAlignAveragesALinearRampAtBinCentres() {
        int h = 10, w = 12;
        double[] x = new double[h * w];
        for (int i = 0; i < h; i++) for (int j = 0; j < w; j++) x[i * w + j] = 2 * i + 3 * j + 1;
        double[] rois = {3, 2, 11, 8};  // in input pixels at spatial_scale 0.5: (1.5, 1) .. (5.5, 4)
        Value y = run1("RoiAlign", 16, attrs().i("output_height", 3).i("output_width", 2).i("sampling_ratio", 2)
                .f("spatial_scale", 0.5f), f32(x, 1, 1, h, w), f32(rois, 1, 4), i64(0));
        double y0 = 1 - 0.5, x0 = 1.5 - 0.5, bh = 3.0 / 3, bw = 4.0 / 2;
        double[] want = new double[6];
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 2; j++) want[i * 2 + j] = 2 * (y0 + (i + 0.5) * bh) + 3 * (x0 + (j + 0.5) * bw) + 1;
        assertClose(want, new int[]{1, 1, 3, 2}, y, 1e-5);
    }

    @Test
    void nonMaxSuppressionKeepsBestNonOverlapping() {
        double[] boxes = {0, 0, 1, 1, 0, 0.1, 1, 1.1, 0, 2, 1, 3, 1, 3, 0, 2};  // D is C flipped
        double[] scores = {0.9, 0.8, 0.7, 0.95, 0.1, 0.2, 0.3, 0.4};           // two classes
        Value sel = NnTestSupport.run("NonMaxSuppression", 11, attrs(), 1, f32(boxes, 1, 4, 4), f32(scores, 1, 2, 4),
                i64(5), f32(new double[]{0.5}, 1), f32(new double[]{0.25}, 1)).get(0);
        assertArrayEquals(new int[]{3, 3}, sel.tensor().shape());
        assertArrayEquals(new long[]{0, 0, 3, 0, 0, 0, 0, 1, 3}, sel.tensor().toLongArray());
    }

    @Test
    void lrnMatchesReference() {
        int[] xs = {2, 5, 3, 2};
        double[] x = rand(rnd, numel(xs)), want = new double[x.length];
        int size = 4;
        double alpha = 0.01, beta = 0.6, bias = 1.5;
        for (int n = 0; n < 2; n++)
            for (int c = 0; c < 5; c++)
                for (int p = 0; p < 6; p++) {
                    double s = 0;
                    for (int cc = 0; cc < 5; cc++)
                        if (cc >= c - 1 && cc <= c + 2) s += x[(n * 5 + cc) * 6 + p] * x[(n * 5 + cc) * 6 + p];
                    want[(n * 5 + c) * 6 + p] = x[(n * 5 + c) * 6 + p] / Math.pow(bias + alpha / size * s, beta);
                }
        Value y = run1("LRN", 13, attrs().i("size", size).f("alpha", (float) alpha).f("beta", (float) beta)
                .f("bias", (float) bias), f32(x, xs));
        assertClose(want, xs, y, 1e-5);
    }
}
