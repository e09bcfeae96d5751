package dev.kiln.compress.quant;

import dev.kiln.tensor.DType;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

/** Affine int8 quantization: parameters, rounding, saturation, per-channel axes, round trips. */
class QParamsTest {

    @Test
    void asymmetricRoundTripWithinHalfStep() {
        Tensor x = Tensor.rand(new Generator(1), 1000).mul(4.0).sub(1.0); // [-1, 3)
        QParams q = QParams.fromRange(-1, 3, false);
        assertEquals(4.0 / 255, q.scale0(), 1e-7);
        Tensor back = q.dequantize(q.quantize(x));
        float[] a = x.toFloatArray(), b = back.toFloatArray();
        for (int i = 0; i < a.length; i++) assertEquals(a[i], b[i], q.scale0() / 2 + 1e-6);
        // real 0 is exactly representable
        assertEquals(0f, q.dequantize(q.quantize(Tensor.zeros(1))).toFloatArray()[0]);
    }

    @Test
    void symmetricRoundHalfEvenAndSaturation() {
        QParams q = QParams.perTensor(0.5f, 0, -127, 127);
        Tensor x = Tensor.fromArray(new float[]{0.25f, 0.75f, 1.25f, -0.25f, -0.75f, 1000f, -1000f}, 7);
        Tensor qt = q.quantize(x);
        assertEquals(DType.I8, qt.dtype());
        assertArrayEquals(new long[]{0, 2, 2, 0, -2, 127, -127}, qt.toLongArray());
        QParams a = QParams.perTensor(0.5f, -100, -128, 127);
        assertArrayEquals(new long[]{-100, -98, -98, -100, -102, 127, -128}, a.quantize(x).toLongArray());
    }

    @Test
    void perChannelAlongAxis1() {
        Tensor w = Tensor.fromArray(new float[]{1, 10, -2, -20, 0.5f, 5}, 3, 2);
        QParams q = QParams.symmetricPerChannel(w, 1);
        assertEquals(2, q.scale().length);
        assertEquals(2f / 127, q.scale()[0], 1e-7);
        assertEquals(20f / 127, q.scale()[1], 1e-6);
        assertArrayEquals(new long[]{64, 64, -127, -127, 32, 32}, q.quantize(w).toLongArray());
        float[] back = q.dequantize(q.quantize(w)).toFloatArray(), orig = w.toFloatArray();
        for (int i = 0; i < 6; i++) assertEquals(orig[i], back[i], q.scale()[i % 2] / 2 + 1e-6);
    }

    @Test
    void uint8ShiftDocumented() {
        QParams q = QParams.fromRange(0, 255, false); // scale 1, uint8 zero 0
        assertEquals(1f, q.scale0(), 1e-7);
        assertEquals(-128, q.zero0());
        assertEquals(0, q.toUint8Zero(0));
        assertArrayEquals(new long[]{-128, 127}, q.quantize(Tensor.fromArray(new float[]{0, 255}, 2)).toLongArray());
    }

    @Test
    void badParametersRejected() {
        assertThrows(IllegalArgumentException.class, () -> QParams.perTensor(0f, 0, -128, 127));
        QParams q = QParams.symmetricPerChannel(Tensor.ones(4, 3), 0);
        assertThrows(IllegalArgumentException.class, () -> q.quantize(Tensor.ones(3, 4)));
    }
}
