package dev.kiln.onnx.ops;

import dev.kiln.onnx.ElemType;
import dev.kiln.backend.GemmEpilogue;
import dev.kiln.onnx.Value;
import dev.kiln.ops.UnaryOp;
import dev.kiln.ops.MatMul;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Shape;
import dev.kiln.tensor.Tensor;

import java.util.Arrays;
import java.util.List;

/**
 * Matrix ops (registered by {@link ReduceOps}): MatMul (NumPy semantics, the engine's batched
 * matmul), Gemm (alpha op(A) op(B) + beta C with C broadcast to [M, N], the engine's gemm) and Det
 * (LU with partial pivoting in double, per matrix of a [..., n, n] batch). Integer matmuls run in
 * float64 (exact below 2^53) and are cast back.
 */
final class ReduceMatOps {
    private ReduceMatOps() {}

    static void register(OpRegistry r) {
        r.register("MatMul", ReduceMatOps::matmul);
        r.register("Gemm", ReduceMatOps::gemm);
        r.register("Det", ReduceMatOps::det);
        r.register("dev.kiln", "MatMulBias", ReduceMatOps::matMulBias); // GraphOptimizer's fused Linear layer (MatMulBiasFusion)
    }

    /** Attribute "activation" of a fused node (MatMulBias, QuantMatMul): "", Relu, Gelu or GeluTanh; null for none. */
    static UnaryOp fusedActivation(OpCall c) {
        String name = c.attrString("activation", "");
        return switch (name) {
            case "" -> null;
            case "Relu" -> UnaryOp.RELU;
            case "Gelu" -> UnaryOp.GELU;
            case "GeluTanh" -> UnaryOp.GELU_TANH;
            default -> throw c.error("unknown activation '" + name + "'");
        };
    }

    /**
     * act(MatMul(A, W) + bias): inputs A, W [k, n], bias [n] or [1, n] (or none); attributes
     * activation ("", Relu, Gelu or GeluTanh) and precision ("" or "bf16", see OnnxExecutor.Precision).
     */
    private static List<Value> matMulBias(OpCall c) {
        ElemType t = MathOps.sameType(c, 0, 1);
        UnaryOp act = fusedActivation(c);
        String precision = c.attrString("precision", "");
        if (!precision.isEmpty() && !precision.equals("bf16")) throw c.error("unknown precision '" + precision + "'");
        Tensor a = c.in(0), w = c.in(1), bias = c.inOrNull(2), residual = c.inputCount() > 3 ? c.inOrNull(3) : null;
        if (t != ElemType.FLOAT || bias != null && c.type(2) != ElemType.FLOAT)
            throw c.error("expects float inputs, got " + t + (bias == null ? "" : " and bias " + c.type(2)));
        if (w.dim() != 2 || bias != null && bias.numel() != w.size(1))
            throw c.error("weight must be [k, n] with a bias of n values, got " + Shape.str(w.shape())
                    + (bias == null ? "" : " and " + Shape.str(bias.shape())));
        if (residual != null && c.type(3) != ElemType.FLOAT) throw c.error("expects a float residual, got " + c.type(3));
        if (a.dim() < 2) {   // a vector input: NumPy shapes (a [1, n] bias makes the result [1, n]), done by the separate ops
            try (Scope s = Scope.open()) {
                Tensor y = MatMul.matmul(a, w);
                if (bias != null) y = y.add(bias);
                if (act != null) y = dev.kiln.ops.Elementwise.unary(act, y, 0, 0);
                return MathOps.one(s.keep(residual == null ? y : y.add(residual)), t);
            }
        }
        try (Tensor b1 = bias == null || bias.dim() == 1 ? null : bias.view(w.size(1))) {
            // a residual of another shape (a broadcast Add) is added by MatMul.linear as a separate, broadcasting add
            return MathOps.one(MatMul.linear(a, w, b1 == null ? bias : b1, act, precision.equals("bf16"), residual), t);
        }
    }

    private static List<Value> matmul(OpCall c) {
        ElemType t = MathOps.sameType(c, 0, 1);
        Tensor a = c.in(0), b = c.in(1);
        if (t.isFloat()) return MathOps.one(MatMul.matmul(a, b), t);
        try (Scope s = Scope.open()) {
            Tensor r = MatMul.matmul(a.to(DType.F64), b.to(DType.F64));
            return MathOps.one(s.keep(MathKernels.cast(r, ElemType.DOUBLE, t)), t);
        }
    }

    private static List<Value> gemm(OpCall c) {
        ElemType t = MathOps.sameType(c, 0, 1);
        Tensor a = c.in(0), b = c.in(1);
        boolean ta = c.attrInt("transA", 0) != 0, tb = c.attrInt("transB", 0) != 0;
        double alpha = c.attrFloat("alpha", 1f), beta = c.attrFloat("beta", 1f);
        if (a.dim() != 2 || b.dim() != 2)
            throw c.error("A and B must be 2-D, got " + Shape.str(a.shape()) + " and " + Shape.str(b.shape()));
        int m = a.size(ta ? 1 : 0), k = a.size(ta ? 0 : 1), kb = b.size(tb ? 1 : 0), n = b.size(tb ? 0 : 1);
        if (k != kb)
            throw c.error("inner dimensions differ: A " + Shape.str(a.shape()) + (ta ? " (transposed)" : "") + ", B "
                    + Shape.str(b.shape()) + (tb ? " (transposed)" : ""));
        DType compute = t == ElemType.DOUBLE || !t.isFloat() ? DType.F64 : DType.F32;
        try (Scope s = Scope.open()) {
            Tensor out = Tensor.uninitialized(a.backend(), compute, m, n); // bias copy or beta 0 writes it all
            Tensor cIn = c.inOrNull(2);
            GemmEpilogue bias = null;
            if (cIn != null && beta == 1 && compute == DType.F32 && cIn.numel() == n && n > 1 && cIn.size(cIn.dim() - 1) == n
                    && cIn.dim() <= 2) {
                // a bias row ([n] or [1, n]): added by the GEMM as it stores each block, not copied into out first
                bias = new GemmEpilogue((cIn.dtype() == compute ? cIn : cIn.to(compute)).view(n), null);
                beta = 0;
            } else if (cIn != null && beta != 0) {
                if (!Arrays.equals(Shape.broadcast("Gemm", cIn.shape(), new int[]{m, n}), new int[]{m, n}))
                    throw c.error("C of shape " + Shape.str(cIn.shape()) + " does not broadcast to [" + m + ", " + n + "]");
                out.copyFrom(cIn.dtype() == compute ? cIn : cIn.to(compute));
            } else {
                beta = 0;
            }
            // operands already in the compute type go in as they are (a copy of a weight per call
            // cost as much as the GEMM itself at batch 1)
            if (m > 0 && n > 0) MatMul.gemm(ta, tb, alpha, as(a, compute), as(b, compute), beta, out, bias);
            Tensor r = ElemType.of(compute) == t ? out : MathKernels.cast(out, ElemType.of(compute), t);
            return MathOps.one(s.keep(r), t);
        }
    }

    /** t itself when it already has dtype d, else a converted copy (closed by the caller's scope). */
    private static Tensor as(Tensor t, DType d) { return t.dtype() == d ? t : t.to(d); }

    private static List<Value> det(OpCall c) {
        Tensor x = c.in(0);
        ElemType t = c.type(0);
        int[] s = x.shape();
        if (s.length < 2 || s[s.length - 1] != s[s.length - 2])
            throw c.error("input must be [..., n, n], got " + Shape.str(s));
        int n = s[s.length - 1];
        double[] v = MathKernels.doubles(x, t);
        int batch = (int) Shape.numel(Arrays.copyOf(s, s.length - 2));
        double[] out = new double[batch];
        for (int i = 0; i < batch; i++) out[i] = luDet(Arrays.copyOfRange(v, i * n * n, (i + 1) * n * n), n);
        return MathOps.one(MathKernels.fromDoubles(out, t, Arrays.copyOf(s, s.length - 2)), t);
    }

    /** Determinant of a row-major n x n matrix (destroyed) by LU with partial pivoting. */
    static double luDet(double[] m, int n) {
        double det = 1;
        for (int col = 0; col < n; col++) {
            int p = col;
            for (int r = col + 1; r < n; r++) if (Math.abs(m[r * n + col]) > Math.abs(m[p * n + col])) p = r;
            if (m[p * n + col] == 0) return 0;
            if (p != col) {
                for (int j = 0; j < n; j++) {
                    double tmp = m[col * n + j];
                    m[col * n + j] = m[p * n + j];
                    m[p * n + j] = tmp;
                }
                det = -det;
            }
            double piv = m[col * n + col];
            det *= piv;
            for (int r = col + 1; r < n; r++) {
                double f = m[r * n + col] / piv;
                for (int j = col + 1; j < n; j++) m[r * n + j] -= f * m[col * n + j];
            }
        }
        return det;
    }
}
