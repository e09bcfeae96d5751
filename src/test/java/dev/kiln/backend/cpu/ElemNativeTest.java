package dev.kiln.backend.cpu;

import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * native/cpu/gelu.c's GELU and tanh GELU give {@link ElemVecF32}'s three-pass result bit for bit (NaN for NaN,
 * payloads aside): one float in
 * every 509 over the whole bit range (both signs, subnormals, NaNs, infinities), a dense sweep of
 * [-10, 10], and row lengths that leave a tail for the scalar code.
 */
class ElemNativeTest {
    private static boolean tanhForm;

    private static float[] geluOf(float[] v, boolean nat) {
        boolean old = ElemNative.setEnabled(nat);
        try (Tensor x = Tensor.fromArray(v, v.length); Tensor y = tanhForm ? x.geluTanh() : x.gelu()) {
            return y.toFloatArray();
        } finally {
            ElemNative.setEnabled(old);
        }
    }

    private static void same(float[] v) {
        float[] java = geluOf(v, false), nat = geluOf(v, true);
        for (int i = 0; i < v.length; i++) {
            int at = i;
            if (Float.isNaN(java[i])) {                               // NaN for NaN; which payload survives is the hardware's
                assertEquals(true, Float.isNaN(nat[i]), () -> (tanhForm ? "gelu_tanh(" : "gelu(") + v[at] + "): NaN expected, got " + nat[at]);
                continue;
            }
            assertEquals(Float.floatToRawIntBits(java[i]), Float.floatToRawIntBits(nat[i]),
                    () -> (tanhForm ? "gelu_tanh(" : "gelu(") + v[at] + ") = " + java[at] + " (Vector API) vs " + nat[at] + " (native), element " + at + " of " + v.length);
        }
    }

    @Test
    void geluMatchesTheVectorApiBitForBit() {
        if (!ElemNative.available()) return;                       // nothing native on this CPU
        tanhForm = false;
        sweep();
    }

    @Test
    void tanhGeluMatchesTheVectorApiBitForBit() {
        if (!ElemNative.available()) return;
        tanhForm = true;
        sweep();
    }

    /**
     * elementwise.c's softmax rows with plain stores give ReduceNorm's F32 row kernel bit for bit:
     * row lengths 16..4096, causal -inf masks, a NaN row, large offsets.
     */
    @Test
    void softmaxRowsMatchTheVectorApiBitForBit() {
        if (!ElemNative.available()) return;
        java.util.SplittableRandom r = new java.util.SplittableRandom(3);
        for (int d : new int[]{16, 48, 128, 1024, 4096}) {
            int rows = 37;
            float[] v = new float[rows * d];
            for (int i = 0; i < v.length; i++) v[i] = (float) (r.nextDouble() * 60 - 30);
            for (int i = 0; i < rows; i++)                                    // a causal mask on the first rows
                for (int j = i + 1; j < d && i < 8; j++) v[i * d + j] = Float.NEGATIVE_INFINITY;
            v[9 * d + 3] = Float.NaN;
            for (int j = 0; j < d; j++) v[10 * d + j] += 1e4f;
            float[][] out = new float[2][];
            for (int k = 0; k < 2; k++) {
                boolean old = ElemNative.setEnabled(k == 1);
                try (Tensor x = Tensor.fromArray(v, rows, d); Tensor y = x.softmax(-1)) {
                    out[k] = y.toFloatArray();
                } finally {
                    ElemNative.setEnabled(old);
                }
            }
            for (int i = 0; i < v.length; i++) {
                int at = i;
                if (Float.isNaN(out[0][i])) assertEquals(true, Float.isNaN(out[1][i]), () -> "softmax NaN row, element " + at);
                else assertEquals(Float.floatToRawIntBits(out[0][i]), Float.floatToRawIntBits(out[1][i]),
                        () -> "softmax d=" + d + " element " + at + ": " + out[0][at] + " (Vector API) vs " + out[1][at]);
            }
        }
    }

    private static void sweep() {
        int n = (int) ((1L << 32) / 509) + 1;
        float[] all = new float[n];
        for (int i = 0; i < n; i++) all[i] = Float.intBitsToFloat((int) (i * 509L));
        same(all);
        float[] dense = new float[2_000_003];
        for (int i = 0; i < dense.length; i++) dense[i] = -10f + 20f * i / (dense.length - 1);
        same(dense);
        for (int len : new int[]{1, 15, 16, 17, 33, 1000})
            same(java.util.Arrays.copyOf(dense, len));
        same(new float[]{0f, -0f, Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 6f, Math.nextUp(6f), -6f, 1e-45f, -1e-45f,
                Float.MAX_VALUE, -Float.MAX_VALUE, 1e19f, -1e19f, 5.9999995f, 1e-20f, -13.2f, 13.2f});
    }
}
