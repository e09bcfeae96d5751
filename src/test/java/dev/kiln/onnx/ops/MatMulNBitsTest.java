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

    private static void check(Random r, int bits, int m, int k, int n, int bs, boolean withZp) {
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
        float[] got = run(bits, bs, k, n, Tensor.fromArray(a, m, k), codes, new int[]{n, kb, blob}, scales, withZp ? zps : null, bias);
        String what = bits + " bits, " + m + "x" + k + "x" + n + " block " + bs + (withZp ? " with zero points" : "");
        for (int i = 0; i < ref.length; i++)
            assertTrue(Math.abs(ref[i] - got[i]) <= 1e-4 * (1 + Math.abs(ref[i])), what + ": element " + i + " " + got[i] + " vs " + ref[i]);
    }

    private static float[] run(int bits, int bs, int k, int n, Tensor a, int[] codes, int[] bShape, float[] scales, int[] zps, float[] bias) {
        Map<String, Value> init = new LinkedHashMap<>();
        init.put("B", Value.of(Tensor.fromArray(codes, bShape), ElemType.UINT8));
        init.put("S", Value.of(Tensor.fromArray(scales, scales.length), ElemType.FLOAT));
        if (zps != null) init.put("Z", Value.of(Tensor.fromArray(zps, zps.length), ElemType.UINT8));
        init.put("bias", Value.of(Tensor.fromArray(bias, n), ElemType.FLOAT));
        List<String> ins = new ArrayList<>(List.of("a", "B", "S", zps == null ? "" : "Z", "", "bias"));
        OnnxNode node = new OnnxNode("nb", "MatMulNBits", "com.microsoft", ins, List.of("y"),
                Map.of("K", intAttr("K", k), "N", intAttr("N", n), "bits", intAttr("bits", bits), "block_size", intAttr("block_size", bs)));
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
