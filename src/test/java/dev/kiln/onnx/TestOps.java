package dev.kiln.onnx;

import dev.kiln.onnx.ops.OnnxOp;
import dev.kiln.onnx.ops.OpRegistry;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Tensor;

import java.util.List;

/**
 * Test-only stand-ins for a few simple ops (Add, Mul, Relu, Identity, Constant, Shape, Unsqueeze,
 * Slice on one axis, Not), so executor and control-flow tests run before the op families land.
 * An op the standard registry already has is left as it is.
 */
final class TestOps {
    private TestOps() {}

    static OpRegistry registry() {
        OpRegistry r = OpRegistry.standard().copy();
        add(r, "Add", c -> List.of(Value.of(c.in(0).add(c.in(1)), c.type(0))));
        add(r, "Mul", c -> List.of(Value.of(c.in(0).mul(c.in(1)), c.type(0))));
        add(r, "Relu", c -> List.of(Value.of(c.in(0).relu(), c.type(0))));
        add(r, "Identity", c -> List.of(c.value(0)));
        add(r, "Constant", c -> List.of(c.attrTensor("value")));
        add(r, "Not", c -> List.of(Value.of(Tensor.full(1, DType.BOOL, c.in(0).shape()).sub(c.in(0).to(DType.I32)).to(DType.BOOL), ElemType.BOOL)));
        add(r, "Shape", c -> {
            int[] s = c.in(0).shape();
            long[] l = new long[s.length];
            for (int i = 0; i < s.length; i++) l[i] = s[i];
            return List.of(Value.of(Tensor.fromArray(l, s.length), ElemType.INT64));
        });
        add(r, "Unsqueeze", c -> {
            int[] axes = c.has(1) ? c.ints(1) : c.attrIntArray("axes", null);
            Tensor t = c.in(0);
            for (int a : axes) t = t.unsqueeze(a < 0 ? a + t.dim() + 1 : a);
            return List.of(Value.of(t.contiguous(), c.type(0)));
        });
        add(r, "Slice", c -> { // one axis, step 1
            long start = c.longs(1)[0], end = c.longs(2)[0];
            int axis = c.has(3) ? c.ints(3)[0] : 0;
            Tensor x = c.in(0);
            int n = x.size(axis);
            int s = (int) Math.max(0, Math.min(n, start < 0 ? start + n : start));
            int e = (int) Math.max(s, Math.min(n, end < 0 ? end + n : end));
            return List.of(Value.of(x.narrow(axis, s, e - s).contiguous(), c.type(0)));
        });
        return r;
    }

    private static void add(OpRegistry r, String name, OnnxOp op) {
        if (!r.has("", name)) r.register(name, op);
    }
}
