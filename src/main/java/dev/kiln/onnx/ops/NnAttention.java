package dev.kiln.onnx.ops;

import dev.kiln.backend.cpu.CpuAttention;
import dev.kiln.onnx.ElemType;
import dev.kiln.onnx.Value;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Shape;
import dev.kiln.tensor.Tensor;

import java.util.Arrays;
import java.util.List;

/**
 * The fused "Attention" node of GraphOptimizer (domain dev.kiln; AttentionFusion): inputs Q, Kt,
 * V, an optional additive mask, an optional divisor computed at run time (input 4, a one-element
 * tensor: the scale GPT-2 computes from the head size) and an optional bool keep mask (input 5:
 * scores where it is false become attribute fill, GPT-2's causal Where); attributes div and mul
 * (a constant scale). Float32 tensors on the CPU
 * run {@link CpuAttention}; anything else runs the ops the node replaced (MatMul, Div, Mul, Add,
 * Softmax, MatMul), with the same results.
 */
final class NnAttention {
    private NnAttention() {}

    static List<Value> attention(OpCall c) {
        Tensor q = c.in(0), kt = c.in(1), v = c.in(2), mask = c.inOrNull(3), divisor = c.inOrNull(4), keep = c.inOrNull(5);
        float div = c.attrFloat("div", 1f), mul = c.attrFloat("mul", 1f), fill = c.attrFloat("fill", 0f);
        ElemType t = c.type(0);
        int r = q.dim();
        if (divisor != null && divisor.numel() == 1 && divisor.dtype() == DType.F32) {   // a scale computed at run time (GPT-2: sqrt of the head size)
            div = (float) divisor.toDoubleArray()[0];
            divisor = null;
        }
        boolean fused = t == ElemType.FLOAT && r >= 2 && kt.dim() == r && v.dim() == r && q.backend() == v.backend()
                && q.backend().name().equals("cpu") && kt.dtype() == DType.F32 && v.dtype() == DType.F32
                && (mask == null || mask.dtype() == DType.F32 && mask.dim() <= r) && divisor == null
                && (keep == null || keep.dtype() == DType.BOOL && keep.dim() <= r);
        if (fused) {
            int[] lead = Shape.broadcast("Attention", Shape.broadcast("Attention", Arrays.copyOf(q.shape(), r - 2),
                    Arrays.copyOf(kt.shape(), r - 2)), Arrays.copyOf(v.shape(), r - 2));
            int[] shape = Arrays.copyOf(lead, r);
            shape[r - 2] = q.size(-2);
            shape[r - 1] = v.size(-1);
            Tensor out;   // every element written
            if (r == 4) {
                // written head by head into a [batch, T, heads, Dv] buffer, returned as its [batch, heads, T, Dv]
                // view: the Transpose(0, 2, 1, 3) + Reshape that merge the heads after attention (BERT, GPT-2)
                // are then views instead of a copy of the whole output
                try (Tensor buf = Tensor.uninitialized(q.backend(), DType.F32, shape[0], shape[2], shape[1], shape[3])) {
                    out = buf.permute(0, 2, 1, 3);
                }
            } else {
                out = Tensor.uninitialized(q.backend(), DType.F32, shape);
            }
            try {
                CpuAttention.attention(q, kt, v, div, mul, mask, keep, fill, out);
            } catch (IllegalArgumentException e) {
                out.close();
                throw c.error(e.getMessage());
            }
            return MathOps.one(out, t);
        }
        try (Scope s = Scope.open()) {
            Tensor scores = q.matmul(kt);
            if (divisor != null) scores = scores.div(divisor);
            else if (div != 1f) scores = scores.div(Tensor.scalar(div, scores.dtype()));
            if (mul != 1f) scores = scores.mul(Tensor.scalar(mul, scores.dtype()));
            if (mask != null) scores = scores.add(mask);
            if (keep != null) scores = Tensor.where(keep, scores, Tensor.scalar(fill, scores.dtype()));
            return MathOps.one(s.keep(scores.softmax(-1).matmul(v)), t);
        }
    }
}
