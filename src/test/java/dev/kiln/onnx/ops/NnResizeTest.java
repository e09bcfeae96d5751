package dev.kiln.onnx.ops;

import dev.kiln.onnx.ElemType;
import dev.kiln.onnx.Value;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static dev.kiln.onnx.ops.NnTestSupport.*;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** Resize and Upsample against direct 2-d float64 reference formulas. */
class NnResizeTest {
    private final Random rnd = new Random(5);

    /** Keys' cubic kernel at distance d. */
    private static double keys(double d, double a) {
        d = Math.abs(d);
        if (d <= 1) return ((a + 2) * d - (a + 3)) * d * d + 1;
        if (d < 2) return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a;
        return 0;
    }

    private static double at(double[] x, int h, int w, int i, int j) {
        i = Math.max(0, Math.min(h - 1, i));
        j = Math.max(0, Math.min(w - 1, j));
        return x[i * w + j];
    }

    /** Reference 2-d resize of one plane; mode 0 linear, 1 cubic; coordinates half_pixel or align_corners. */
    private static double[] ref(double[] x, int h, int w, int oh, int ow, int mode, boolean align) {
        double[] y = new double[oh * ow];
        for (int i = 0; i < oh; i++)
            for (int j = 0; j < ow; j++) {
                double sy = align ? i * (h - 1.0) / (oh - 1) : (i + 0.5) * h / oh - 0.5;
                double sx = align ? j * (w - 1.0) / (ow - 1) : (j + 0.5) * w / ow - 0.5;
                double v = 0;
                if (mode == 0) {
                    sy = Math.max(0, Math.min(h - 1, sy));
                    sx = Math.max(0, Math.min(w - 1, sx));
                    int y0 = (int) Math.floor(sy), x0 = (int) Math.floor(sx);
                    double ty = sy - y0, tx = sx - x0;
                    v = at(x, h, w, y0, x0) * (1 - ty) * (1 - tx) + at(x, h, w, y0, x0 + 1) * (1 - ty) * tx
                            + at(x, h, w, y0 + 1, x0) * ty * (1 - tx) + at(x, h, w, y0 + 1, x0 + 1) * ty * tx;
                } else {
                    int y0 = (int) Math.floor(sy), x0 = (int) Math.floor(sx);
                    for (int a = -1; a <= 2; a++)
                        for (int b = -1; b <= 2; b++)
                            v += keys(sy - (y0 + a), -0.75) * keys(sx - (x0 + b), -0.75) * at(x, h, w, y0 + a, x0 + b);
                }
                y[i * ow + j] = v;
            }
        return y;
    }

    private void check(String mode, String coord, int h, int w, int oh, int ow) {
        double[] x = rand(rnd, h * w);
        Value y = run1("Resize", 13, attrs().s("mode", mode).s("coordinate_transformation_mode", coord),
                f32(x, 1, 1, h, w), null, null, i64(1, 1, oh, ow));
        assertClose(ref(x, h, w, oh, ow, mode.equals("linear") ? 0 : 1, coord.equals("align_corners")),
                new int[]{1, 1, oh, ow}, y, 1e-5);
    }

    @Test
    void linearAndCubicBySizes() {
        check("linear", "half_pixel", 5, 7, 9, 4);
        check("linear", "align_corners", 6, 3, 4, 8);
        check("cubic", "half_pixel", 5, 6, 11, 4);
        check("cubic", "align_corners", 4, 7, 9, 5);
    }

    @Test
    void nearestModesAndScales() {
        double[] x = {1, 2, 3, 4, 5, 6};
        // asymmetric, floor: 3 * 2.5 -> 7 columns, column j reads floor(j / 2.5)
        Value y = run1("Resize", 13, attrs().s("mode", "nearest").s("coordinate_transformation_mode", "asymmetric")
                .s("nearest_mode", "floor"), f32(x, 1, 2, 3), null, f32(new double[]{1, 1, 2.5}, 3));
        assertClose(new double[]{1, 1, 1, 2, 2, 3, 3, 4, 4, 4, 5, 5, 6, 6}, new int[]{1, 2, 7}, y, 0);
        // half_pixel, round_prefer_floor, downsample 6 -> 3 by scale 0.5: source 0.5, 2.5, 4.5 -> 0, 2, 4
        Value d = run1("Resize", 13, attrs().s("mode", "nearest"), f32(new double[]{0, 1, 2, 3, 4, 5}, 6), null,
                f32(new double[]{0.5}, 1));
        assertClose(new double[]{0, 2, 4}, new int[]{3}, d, 0);
    }


    @Test
    void integerInputsAndUpsample() {
        Value.TensorValue y = run1("Upsample", 9, attrs().s("mode", "nearest"),
                typed(ElemType.UINT8, new double[]{10, 250}, 1, 2), f32(new double[]{2, 1.5}, 2));
        assertEquals(ElemType.UINT8, y.type());
        assertClose(new double[]{10, 10, 250, 10, 10, 250}, new int[]{2, 3}, y, 0);
    }

    @Test
    void cropAndResizeExtrapolates() {
        double[] x = rand(rnd, 16);
        // roi covers rows 0.5..1.5 (outside beyond 1.0 -> extrapolation) and all columns
        Value y = run1("Resize", 13, attrs().s("mode", "linear").s("coordinate_transformation_mode", "tf_crop_and_resize")
                        .f("extrapolation_value", 7f), f32(x, 4, 4),
                f32(new double[]{0.5, 0, 1.5, 1}, 4), null, i64(3, 4));
        double[] want = new double[12];
        for (int i = 0; i < 3; i++) {
            double sy = (0.5 + i * 0.5) * 3;
            for (int j = 0; j < 4; j++) {
                if (sy > 3) { want[i * 4 + j] = 7; continue; }
                int y0 = (int) Math.floor(sy);
                double t = sy - y0;
                want[i * 4 + j] = x[y0 * 4 + j] * (1 - t) + (t == 0 ? 0 : t * x[(y0 + 1) * 4 + j]);
            }
        }
        assertClose(want, new int[]{3, 4}, y, 1e-5);
    }

    @Test
    void keepAspectRatioPolicy() {
        double[] x = rand(rnd, 4 * 6);
        // not_larger: scale = min(3/4, 6/6) = 0.75 -> 3 x round(4.5) = 3 x 5 (Math.round)
        Value y = run1("Resize", 18, attrs().s("mode", "nearest").s("keep_aspect_ratio_policy", "not_larger")
                .ints("axes", 1, 2), f32(x, 1, 4, 6), null, null, i64(3, 6));
        assertEquals(3, y.tensor().size(1));
        assertEquals(5, y.tensor().size(2));
    }
}
