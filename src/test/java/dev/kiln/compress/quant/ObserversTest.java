package dev.kiln.compress.quant;

import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

/** Calibration observers on known distributions. */
class ObserversTest {

    private static Tensor gaussianWithOutlier(int n, float outlier) {
        float[] v = Tensor.randn(new Generator(3), n).toFloatArray();
        v[0] = outlier;
        return Tensor.fromArray(v, n);
    }

    @Test
    void minMaxTracksExtremes() {
        Observer o = Observer.Kind.MINMAX.create();
        o.observe(Tensor.fromArray(new float[]{-1, 2}, 2));
        o.observe(Tensor.fromArray(new float[]{0.5f, 3}, 2));
        assertArrayEquals(new double[]{-1, 3}, o.range(), 1e-9);
    }

    @Test
    void movingAverageSmooths() {
        Observer o = new Observers.MovingAverage(0.5);
        o.observe(Tensor.fromArray(new float[]{-2, 2}, 2));
        o.observe(Tensor.fromArray(new float[]{-4, 6}, 2));
        assertArrayEquals(new double[]{-3, 4}, o.range(), 1e-9);
    }

    @Test
    void percentileClipsOutliers() {
        Observer o = new Observers.Percentile(99.9);
        o.observe(gaussianWithOutlier(20000, 100f));
        double[] r = o.range();
        assertEquals(3.09, r[1], 0.3); // the 99.9% quantile of N(0, 1), from 20000 samples
        assertEquals(-3.09, r[0], 0.3);
    }

    @Test
    void mseClipsOutliersAndBeatsMinMax() {
        Tensor x = gaussianWithOutlier(20000, 40f);
        Observer mse = Observer.Kind.MSE.create(), mm = Observer.Kind.MINMAX.create();
        mse.observe(x);
        mm.observe(x);
        QParams qm = mse.qparams(false), qx = mm.qparams(false);
        assertTrue(mse.range()[1] < 40, "MSE range should clip the outlier: " + mse.range()[1]);
        float[] v = x.toFloatArray();
        assertTrue(Observers.Mse.mse(v, qm) < Observers.Mse.mse(v, qx));
        // on a uniform distribution there is nothing to clip
        Observer u = Observer.Kind.MSE.create();
        u.observe(Tensor.rand(new Generator(5), 20000));
        assertTrue(u.range()[1] > 0.95, "uniform range " + u.range()[1]);
    }
}
