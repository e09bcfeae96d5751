package dev.kiln.backend.cpu;

import dev.kiln.ops.Conv;
import dev.kiln.ops.Conv2dParams;
import dev.kiln.ops.Pool2dParams;
import dev.kiln.ops.PoolOp;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Shape;
import dev.kiln.tensor.Tensor;

import java.util.Arrays;

/**
 * CPU backward kernels of conv2d and pool2d: checks the operands (errors name the op and the
 * shapes), handles empty and non-contiguous outputs, and picks the path:
 * <ul>
 *   <li>input gradient: GEMM + col2im ({@link ConvBackwardInput});</li>
 *   <li>weight gradient: im2col + GEMM summed over the batch ({@link ConvBackwardWeight});</li>
 *   <li>both: the direct scalar loops of {@link ConvBackwardScalar} when {@link CpuConfig#scalar()}
 *   is set or the dtypes are not all F32 or all F64;</li>
 *   <li>pooling: {@link PoolBackward}.</li>
 * </ul>
 * Outputs are always overwritten, never accumulated into.
 */
final class CpuConvGrad {
    private CpuConvGrad() {}

    static void backwardInput(Tensor gy, Tensor w, Conv2dParams p, Tensor gx) {
        ConvGeometry g = check("conv2d backward (input)", gx, w, p, gy);
        if (gx.numel() == 0) return;
        if (!gx.isContiguous()) {
            try (Tensor tmp = Tensor.empty(gx.backend(), gx.dtype(), gx.shape())) {
                backwardInput(gy, w, p, tmp);
                gx.copyFrom(tmp);
            }
            return;
        }
        if (gy.numel() == 0) zero(gx);
        else if (fast(gy, w, gx)) ConvBackwardInput.run(gy, w, g, gx);
        else ConvBackwardScalar.input(gy, w, g, gx);
    }

    static void backwardWeight(Tensor x, Tensor gy, Conv2dParams p, Tensor gw) {
        ConvGeometry g = check("conv2d backward (weight)", x, gw, p, gy);
        if (gw.numel() == 0) return;
        if (!gw.isContiguous()) {
            try (Tensor tmp = Tensor.empty(gw.backend(), gw.dtype(), gw.shape())) {
                backwardWeight(x, gy, p, tmp);
                gw.copyFrom(tmp);
            }
            return;
        }
        if (gy.numel() == 0) zero(gw);
        else if (fast(x, gy, gw)) ConvBackwardWeight.run(x, gy, g, gw);
        else ConvBackwardScalar.weight(x, gy, g, gw);
    }

    static void poolBackward(PoolOp op, Tensor gy, Tensor indices, Pool2dParams p, Tensor gx) {
        String name = op == PoolOp.MAX ? "max_pool2d backward" : "avg_pool2d backward";
        checkPool(name, op, gy, indices, p, gx);
        if (gx.numel() == 0) return;
        DType t = gx.dtype();
        boolean direct = gx.isContiguous() && (t == DType.F32 || t == DType.F64) && gy.dtype() == t;
        if (direct) {
            if (gy.numel() == 0) zero(gx);
            else PoolBackward.run(op, gy, indices, p, gx);
            return;
        }
        try (Tensor y64 = gy.to(DType.F64); Tensor tmp = Tensor.empty(gx.backend(), DType.F64, gx.shape())) {
            poolBackward(op, y64, indices, p, tmp);
            gx.copyFrom(tmp);
        }
    }

    /** The GEMM path takes F32 or F64 when all operands share it. */
    private static boolean fast(Tensor a, Tensor b, Tensor out) {
        DType t = out.dtype();
        return !CpuConfig.scalar() && (t == DType.F32 || t == DType.F64) && a.dtype() == t && b.dtype() == t;
    }

    private static void zero(Tensor t) {
        t.segment().asSlice(t.offset() * t.dtype().byteSize(), t.numel() * t.dtype().byteSize()).fill((byte) 0);
    }

    /** Checks x [N,C,H,W], w [O,C/groups,kh,kw] and gy [N,O,OH,OW] against each other; returns the geometry. */
    private static ConvGeometry check(String op, Tensor x, Tensor w, Conv2dParams p, Tensor gy) {
        if (x.dim() != 4 || w.dim() != 4 || gy.dim() != 4)
            throw new IllegalArgumentException(op + ": expected 4-d tensors, got " + shapes(x, w, gy));
        int[] expect;
        try {
            expect = Conv.conv2dShape(x.shape(), w.shape(), null, p);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(op + ": " + e.getMessage(), e);
        }
        if (!Arrays.equals(expect, gy.shape()))
            throw new IllegalArgumentException(op + ": grad_output must be " + Shape.str(expect) + " for " + shapes(x, w, gy));
        return ConvGeometry.of(x, w, p, gy);
    }

    private static String shapes(Tensor x, Tensor w, Tensor gy) {
        return "x " + Shape.str(x.shape()) + ", weight " + Shape.str(w.shape()) + ", grad_output " + Shape.str(gy.shape());
    }

    private static void checkPool(String op, PoolOp kind, Tensor gy, Tensor indices, Pool2dParams p, Tensor gx) {
        if (gx.dim() != 4 || gy.dim() != 4)
            throw new IllegalArgumentException(op + ": expected 4-d tensors, got " + poolShapes(gy, gx));
        int[] expect = Conv.poolShape(op, gx.shape(), p);
        if (!Arrays.equals(expect, gy.shape()))
            throw new IllegalArgumentException(op + ": grad_output must be " + Shape.str(expect) + " for " + poolShapes(gy, gx));
        if (kind == PoolOp.MAX && (indices == null || indices.dtype() != DType.I64
                || !Arrays.equals(indices.shape(), gy.shape())))
            throw new IllegalArgumentException(op + ": needs int64 indices shaped like grad_output, got "
                    + (indices == null ? "none" : indices.dtype().pyName() + " " + Shape.str(indices.shape())) + " for " + poolShapes(gy, gx));
    }

    private static String poolShapes(Tensor gy, Tensor gx) {
        return "grad_output " + Shape.str(gy.shape()) + ", grad_input " + Shape.str(gx.shape());
    }
}
