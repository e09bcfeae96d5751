package dev.kiln.onnx.ops;

import dev.kiln.onnx.ElemType;
import dev.kiln.onnx.OnnxAttribute;
import dev.kiln.onnx.OnnxException;
import dev.kiln.onnx.OnnxExecutor;
import dev.kiln.onnx.OnnxGraph;
import dev.kiln.onnx.OnnxModel;
import dev.kiln.onnx.OnnxNode;
import dev.kiln.onnx.Value;
import dev.kiln.onnx.ValueInfo;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * com.microsoft.MatMulNBits against a float64 reference (dequantize, then matmul): 4 and 8 bits,
 * K not a multiple of the block, default and packed zero points, a bias, one row (the
 * matrix-vector kernel) and several (dequantize + GEMM), and a clear error for a bad B.
 */
class MatMulNBitsTest {
    private static ValueInfo info(String name, ElemType t) { return new ValueInfo(name, ValueInfo.Kind.TENSOR, t, null, null); }

    private static OnnxAttribute intAttr(String name, long v) {
        return new OnnxAttribute(name, OnnxAttribute.Type.INT, 0, v, null, null, null, new float[0], new long[0], List.of(), List.of(), List.of(), null);
    }

    @Test
    void matchesTheFloat64Reference() {
        Random r = new Random(3);
        for (int bits : new int[]{4, 8})
            for (int[] s : new int[][]{{1, 70, 33, 32}, {1, 128, 64, 16}, {3, 70, 33, 32}, {1, 768, 40, 64}})
                for (boolean zp : new boolean[]{false, true})
                    check(r, bits, s[0], s[1], s[2], s[3], zp);
    }

    /**
     * accuracy_level 4 (int8 activations, per sub-block of 32) where the native VNNI kernel runs:
     * against a float64 model of that arithmetic (activations quantized as the kernel does, then
     * exact), and within 1% (relative L2) of the float reference.
     */
    @Test
    void accuracyLevel4UsesInt8Activations() {
        Random r = new Random(5);
        for (int bits : new int[]{4, 8})
            for (int[] s : new int[][]{{1, 70, 33, 32}, {2, 768, 300, 32}, {1, 256, 40, 128}, {17, 64, 9, 64}})
                for (boolean zp : new boolean[]{false, true})
                    check(r, bits, s[0], s[1], s[2], s[3], zp, 4);
    }

    private static void check(Random r, int bits, int m, int k, int n, int bs, boolean withZp) {
        check(r, bits, m, k, n, bs, withZp, 0);
    }

    private static void check(Random r, int bits, int m, int k, int n, int bs, boolean withZp, int level) {
        int kb = (k + bs - 1) / bs, blob = bs * bits / 8, levels = 1 << bits;
        int[] codes = new int[n * kb * blob];
        int[][] code = new int[n][kb * bs];
        for (int j = 0; j < n; j++)
            for (int i = 0; i < kb * bs; i++) {
                int c = r.nextInt(levels);
                code[j][i] = c;
                int q = i / bs, t = i % bs, at = (j * kb + q) * blob;
                if (bits == 8) codes[at + t] = c;
                else codes[at + t / 2] |= c << (4 * (t & 1));
            }
        float[] scales = new float[n * kb];
        for (int i = 0; i < scales.length; i++) scales[i] = 0.01f + r.nextFloat() * 0.1f;
        int perCol = bits == 4 ? (kb + 1) / 2 : kb;
        int[] zps = new int[n * perCol];
        int[][] zero = new int[n][kb];
        for (int j = 0; j < n; j++)
            for (int q = 0; q < kb; q++) {
                int z = withZp ? r.nextInt(levels) : levels / 2;
                zero[j][q] = z;
                if (bits == 8) zps[j * perCol + q] = z;
                else zps[j * perCol + q / 2] |= z << (4 * (q & 1));
            }
        float[] bias = new float[n], a = new float[m * k];
        for (int j = 0; j < n; j++) bias[j] = r.nextFloat() - 0.5f;
        for (int i = 0; i < a.length; i++) a[i] = (float) r.nextGaussian();
        double[] ref = new double[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) {
                double s = bias[j];
                for (int p = 0; p < k; p++) s += a[i * k + p] * (double) (code[j][p] - zero[j][p / bs]) * scales[j * kb + p / bs];
                ref[i * n + j] = s;
            }
        float[] got = run(bits, bs, k, n, Tensor.fromArray(a, m, k), codes, new int[]{n, kb, blob}, scales, withZp ? zps : null, bias, level);
        String what = bits + " bits, " + m + "x" + k + "x" + n + " block " + bs + (withZp ? " with zero points" : "") + ", accuracy_level " + level;
        boolean int8 = level == 4 && m <= 16 && dev.kiln.backend.cpu.NBitsVnni.available();
        if (int8) {
            double err = 0, norm = 0;
            for (int i = 0; i < ref.length; i++) {
                err += (ref[i] - got[i]) * (ref[i] - got[i]);
                norm += ref[i] * ref[i];
            }
            assertTrue(Math.sqrt(err / norm) < 0.01, what + ": relative L2 error " + Math.sqrt(err / norm));
            // the int8 arithmetic itself: activations quantized per 32 as the kernel does, then exact sums
            for (int i = 0; i < m; i++) {
                float[] xq = new float[k];
                for (int s0 = 0; s0 < k; s0 += 32) {
                    float amax = 0;
                    for (int p = s0; p < Math.min(k, s0 + 32); p++) amax = Math.max(amax, Math.abs(a[i * k + p]));
                    for (int p = s0; p < Math.min(k, s0 + 32); p++)
                        xq[p] = amax == 0 ? 0 : Math.round(a[i * k + p] * (127f / amax)) * (amax / 127f);
                }
                for (int j = 0; j < n; j++) {
                    double s0 = bias[j];
                    for (int p = 0; p < k; p++) s0 += (double) xq[p] * (code[j][p] - zero[j][p / bs]) * scales[j * kb + p / bs];
                    ref[i * n + j] = s0;
                }
            }
        }
        for (int i = 0; i < ref.length; i++)
            assertTrue(Math.abs(ref[i] - got[i]) <= 1e-4 * (1 + Math.abs(ref[i])), what + ": element " + i + " " + got[i] + " vs " + ref[i]);
    }

    private static float[] run(int bits, int bs, int k, int n, Tensor a, int[] codes, int[] bShape, float[] scales, int[] zps, float[] bias) {
        return run(bits, bs, k, n, a, codes, bShape, scales, zps, bias, 0);
    }

    private static float[] run(int bits, int bs, int k, int n, Tensor a, int[] codes, int[] bShape, float[] scales, int[] zps, float[] bias,
                               int accuracyLevel) {
        Map<String, Value> init = new LinkedHashMap<>();
        init.put("B", Value.of(Tensor.fromArray(codes, bShape), ElemType.UINT8));
        init.put("S", Value.of(Tensor.fromArray(scales, scales.length), ElemType.FLOAT));
        if (zps != null) init.put("Z", Value.of(Tensor.fromArray(zps, zps.length), ElemType.UINT8));
        init.put("bias", Value.of(Tensor.fromArray(bias, n), ElemType.FLOAT));
        List<String> ins = new ArrayList<>(List.of("a", "B", "S", zps == null ? "" : "Z", "", "bias"));
        OnnxNode node = new OnnxNode("nb", "MatMulNBits", "com.microsoft", ins, List.of("y"),
                Map.of("K", intAttr("K", k), "N", intAttr("N", n), "bits", intAttr("bits", bits), "block_size", intAttr("block_size", bs),
                        "accuracy_level", intAttr("accuracy_level", accuracyLevel)));
        OnnxGraph g = new OnnxGraph("t", List.of(node), List.of(info("a", ElemType.FLOAT)), List.of(info("y", ElemType.FLOAT)), List.of(), init);
        try (OnnxExecutor ex = new OnnxExecutor(new OnnxModel(8, "test", "", Map.of("", 17L, "com.microsoft", 1L), g)); a) {
            Map<String, Value> out = ex.run(Map.of("a", Value.of(a)));
            float[] y = out.get("y").tensor().toFloatArray();
            assertEquals(a.size(0) * n, y.length);
            out.values().forEach(v -> v.tensor().close());
            return y;
        }
    }

    @Test
    void badWeightShapeIsOneLineNamingTheOp() {
        OnnxException e = assertThrows(OnnxException.class, () -> run(4, 32, 64, 8, Tensor.fromArray(new float[64], 1, 64),
                new int[8 * 2 * 15], new int[]{8, 2, 15}, new float[16], null, new float[8]));
        assertTrue(e.getMessage().contains("MatMulNBits") && e.getMessage().contains("B must be uint8 [8, 2, 16]"), e.getMessage());
    }
}
