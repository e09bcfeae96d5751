package dev.kiln.onnx.ops;

import dev.kiln.onnx.Value;
import dev.kiln.ops.Join;
import dev.kiln.tensor.Shape;
import dev.kiln.tensor.Tensor;

import java.util.Arrays;
import java.util.List;

import static dev.kiln.onnx.ops.ShapeElems.axis;
import static dev.kiln.onnx.ops.ShapeElems.one;

/**
 * The stack of stacks a decoder writes for its present key/values, and the Concats that fill it
 * in place (dev.kiln ops written by {@code dev.kiln.onnx.StackFusion}):
 * <ul>
 *   <li>{@code StackNested(w_00, ..., w_(n-1)(m-1); inner = m, dest)}: y [n, m, ...] with
 *       y[i, j] = w_(im+j), all w of one shape.</li>
 *   <li>{@code ConcatSlot(x_0, ..., x_k; axis, dest, slot, count, inner)}: a Concat whose result
 *       is w_slot of the StackNested named dest. The first one of a run allocates dest's whole
 *       output and leaves it with the run ({@link OpCall.RunTensors}); each writes its result
 *       straight into its slot and returns that slot (a view). StackNested then takes the tensor
 *       and copies only the inputs that are not already its slots.</li>
 * </ul>
 * A GPT-2 decode step thus writes each layer's keys and values once (into the present output),
 * where the Concat then the stack wrote and read the 9.4 MB cache twice more. Where a slot does
 * not fit (another dtype or shape, no run tensors) ConcatSlot is a plain Concat and StackNested
 * copies it; the result is the same either way.
 */
final class ShapeSlots {
    private ShapeSlots() {}

    static void register(OpRegistry r) {
        r.register("dev.kiln", "StackNested", ShapeSlots::stackNested);
        r.register("dev.kiln", "ConcatSlot", ShapeSlots::concatSlot);
    }

    private static List<Value> stackNested(OpCall call) {
        int inner = (int) call.attrInt("inner", 0), count = call.inputCount();
        if (inner < 1 || count % inner != 0) throw call.error("StackNested: " + count + " inputs do not split into groups of " + inner);
        Tensor[] parts = new Tensor[count];
        for (int i = 0; i < count; i++) parts[i] = call.in(i);
        for (Tensor p : parts)
            if (!Arrays.equals(p.shape(), parts[0].shape()) || p.dtype() != parts[0].dtype())
                throw call.error("StackNested: inputs differ: " + Shape.str(parts[0].shape()) + " and " + Shape.str(p.shape()));
        int[] out = stackedShape(count, inner, parts[0].shape());
        String dest = call.attrString("dest", "");
        Tensor y = dest.isEmpty() || call.runTensors() == null ? null : call.runTensors().take(dest);
        if (y != null && (!Arrays.equals(y.shape(), out) || y.dtype() != parts[0].dtype() || y.backend() != parts[0].backend())) {
            y.close();                                               // slots of another shape: stack by copying
            y = null;
        }
        if (y == null) {
            try (Tensor flat = Join.stack(parts, 0)) {
                return one(call, flat.reshape(out));                  // a view of the stacked copy
            }
        }
        for (int i = 0; i < count; i++)
            try (Tensor slot = slot(y, i, inner)) {
                if (!sameView(slot, parts[i])) slot.copyFrom(parts[i]);
            }
        return one(call, y);
    }

    private static List<Value> concatSlot(OpCall call) {
        OpCall.RunTensors run = call.runTensors();
        String dest = call.attrString("dest", "");
        int slot = (int) call.attrInt("slot", -1), count = (int) call.attrInt("count", 0), inner = (int) call.attrInt("inner", 0);
        if (run == null || dest.isEmpty() || inner < 1 || count % inner != 0 || slot < 0 || slot >= count) return ShapeOps.concat(call);
        Tensor[] parts = new Tensor[call.inputCount()];
        for (int i = 0; i < parts.length; i++) {
            if (!call.has(i)) return ShapeOps.concat(call);
            parts[i] = call.in(i);
            if (parts[i].dtype() != parts[0].dtype() || parts[i].backend() != parts[0].backend())
                return ShapeOps.concat(call);                         // promotion: Concat's own handling
        }
        if (parts.length == 0 || !call.hasAttr("axis")) return ShapeOps.concat(call);
        int[] shape;
        int a = axis(call, call.attrInt("axis", 0), parts[0].dim());
        try {
            shape = Join.catShape(parts, a);
        } catch (IllegalArgumentException e) {
            return ShapeOps.concat(call);                             // Concat's own error, naming the node
        }
        int[] whole = stackedShape(count, inner, shape);
        Tensor y = run.get(dest);
        if (y == null) {
            y = Tensor.uninitialized(parts[0].backend(), parts[0].dtype(), whole);   // StackNested fills any slot not written here
            run.put(dest, y);
        } else if (!Arrays.equals(y.shape(), whole) || y.dtype() != parts[0].dtype() || y.backend() != parts[0].backend()) {
            return ShapeOps.concat(call);
        }
        Tensor out = slot(y, slot, inner);
        try {
            Join.catInto(parts, a, out);
        } catch (RuntimeException e) {
            out.close();
            throw e;
        }
        return one(call, out);
    }

    /** [count / inner, inner, s...]. */
    private static int[] stackedShape(int count, int inner, int[] s) {
        int[] out = new int[s.length + 2];
        out[0] = count / inner;
        out[1] = inner;
        System.arraycopy(s, 0, out, 2, s.length);
        return out;
    }

    /** y[i / inner, i % inner] as a view (the caller closes it). */
    private static Tensor slot(Tensor y, int i, int inner) {
        try (Tensor row = y.select(0, i / inner)) {
            return row.select(0, i % inner);
        }
    }

    /** Whether two tensors are the same elements of the same memory. */
    private static boolean sameView(Tensor a, Tensor b) {
        return a.storage() == b.storage() && a.offset() == b.offset() && a.dtype() == b.dtype()
                && Arrays.equals(a.shape(), b.shape()) && Arrays.equals(a.strides(), b.strides());
    }
}
