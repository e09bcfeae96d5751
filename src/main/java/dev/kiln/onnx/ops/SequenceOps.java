package dev.kiln.onnx.ops;

import dev.kiln.onnx.ElemType;
import dev.kiln.onnx.OnnxGraph;
import dev.kiln.onnx.Value;
import dev.kiln.onnx.Values;
import dev.kiln.ops.Join;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;

/**
 * ONNX sequence and optional ops (registered by {@link ControlOps}): SequenceEmpty/Construct/
 * Insert/Erase/At/Length, SplitToSequence, ConcatFromSequence, SequenceMap, Optional,
 * OptionalHasElement, OptionalGetElement. Sequences share their element tensors (the executor
 * counts references per tensor object), so inserting or reading an element never copies it.
 */
final class SequenceOps {
    private SequenceOps() {}

    static void register(OpRegistry r) {
        r.register("SequenceEmpty", SequenceOps::empty);
        r.register("SequenceConstruct", SequenceOps::construct);
        r.register("SequenceInsert", SequenceOps::insert);
        r.register("SequenceErase", SequenceOps::erase);
        r.register("SequenceAt", SequenceOps::at);
        r.register("SequenceLength", c -> List.of(Value.of(Tensor.scalar(seq(c, 0).items().size(), DType.I64), ElemType.INT64)));
        r.register("SplitToSequence", SequenceOps::splitToSequence);
        r.register("ConcatFromSequence", SequenceOps::concatFromSequence);
        r.register("SequenceMap", SequenceOps::sequenceMap);
        r.register("Optional", c -> List.of(new Value.OptionalValue(c.valueOrNull(0))));
        r.register("OptionalHasElement", SequenceOps::hasElement);
        r.register("OptionalGetElement", SequenceOps::getElement);
    }

    static Value.SequenceValue seq(OpCall c, int i) {
        if (c.value(i) instanceof Value.SequenceValue s) return s;
        throw c.error("input " + i + " must be a sequence, got " + Values.describe(c.value(i)));
    }

    private static List<Value> empty(OpCall c) {
        ElemType t = ElemType.fromCode((int) c.attrInt("dtype", ElemType.FLOAT.code()));
        return List.of(new Value.SequenceValue(List.of(), t));
    }

    private static List<Value> construct(OpCall c) {
        List<Value> items = new ArrayList<>();
        for (int i = 0; i < c.inputCount(); i++) items.add(c.value(i));
        ElemType t = items.isEmpty() ? ElemType.UNDEFINED : c.type(0);
        for (int i = 1; i < items.size(); i++)
            if (c.type(i) != t) throw c.error("inputs have different element types " + t + " and " + c.type(i));
        return List.of(new Value.SequenceValue(items, t));
    }

    /** A position input (scalar int) normalized against {@code size}; {@code inclusiveEnd} allows == size. */
    private static int position(OpCall c, int input, int size, int def, boolean inclusiveEnd) {
        if (!c.has(input)) return def;
        long p = c.longs(input)[0];
        long q = p < 0 ? p + size : p;
        if (q < 0 || q > size || (!inclusiveEnd && q == size))
            throw c.error("position " + p + " out of range for a sequence of " + size);
        return (int) q;
    }

    private static List<Value> insert(OpCall c) {
        Value.SequenceValue s = seq(c, 0);
        Value.TensorValue t = (Value.TensorValue) c.value(1);
        if (!s.items().isEmpty() && s.elemType() != ElemType.UNDEFINED && s.elemType() != t.type())
            throw c.error("cannot insert a " + t.type() + " tensor into a sequence of " + s.elemType());
        List<Value> items = new ArrayList<>(s.items());
        items.add(position(c, 2, items.size(), items.size(), true), t);
        return List.of(new Value.SequenceValue(items, t.type()));
    }

    private static List<Value> erase(OpCall c) {
        Value.SequenceValue s = seq(c, 0);
        if (s.items().isEmpty()) throw c.error("cannot erase from an empty sequence");
        List<Value> items = new ArrayList<>(s.items());
        items.remove(position(c, 1, items.size(), items.size() - 1, false));
        return List.of(new Value.SequenceValue(items, s.elemType()));
    }

    private static List<Value> at(OpCall c) {
        Value.SequenceValue s = seq(c, 0);
        return List.of(s.items().get(position(c, 1, s.items().size(), 0, false)));
    }

    private static List<Value> splitToSequence(OpCall c) {
        Tensor x = c.in(0);
        int axis = (int) c.attrInt("axis", 0);
        int a = axis < 0 ? axis + x.dim() : axis;
        if (a < 0 || a >= x.dim()) throw c.error("axis " + axis + " out of range for shape " + java.util.Arrays.toString(x.shape()));
        int dim = x.size(a);
        int[] sizes;
        boolean squeeze = false;
        if (!c.has(1)) {
            sizes = new int[dim];
            java.util.Arrays.fill(sizes, 1);
            squeeze = c.attrInt("keepdims", 1) == 0;
        } else if (c.in(1).dim() == 0) {
            int chunk = c.ints(1)[0];
            if (chunk <= 0) throw c.error("split size must be positive, got " + chunk);
            int n = (dim + chunk - 1) / chunk;
            sizes = new int[n];
            for (int i = 0; i < n; i++) sizes[i] = Math.min(chunk, dim - i * chunk);
        } else {
            sizes = c.ints(1);
        }
        Tensor[] parts = Join.split(x, sizes, a);
        List<Value> items = new ArrayList<>();
        for (Tensor p : parts) {
            Tensor q = squeeze ? p.squeeze(a) : p;
            Tensor own = q.contiguous();
            if (q != p) q.close();
            p.close();
            items.add(Value.of(own, c.type(0)));
        }
        return List.of(new Value.SequenceValue(items, c.type(0)));
    }

    private static List<Value> concatFromSequence(OpCall c) {
        Value.SequenceValue s = seq(c, 0);
        if (s.items().isEmpty()) throw c.error("cannot concatenate an empty sequence");
        int axis = (int) c.attrInt("axis", 0);
        boolean newAxis = c.attrInt("new_axis", 0) == 1;
        List<Tensor> parts = new ArrayList<>();
        for (Value v : s.items()) parts.add(v.tensor());
        int rank = parts.getFirst().dim() + (newAxis ? 1 : 0);
        int a = axis < 0 ? axis + rank : axis;
        if (a < 0 || a >= rank) throw c.error("axis " + axis + " out of range for rank " + rank);
        Tensor out = newAxis ? ControlOps.stack(parts, a) : Join.cat(parts.toArray(Tensor[]::new), a);
        return List.of(Value.of(out, s.elemType() == ElemType.UNDEFINED ? ElemType.of(out.dtype()) : s.elemType()));
    }

    /** SequenceMap(seq, extra...): runs the body once per element; sequence inputs are indexed, tensors passed whole. */
    private static List<Value> sequenceMap(OpCall c) {
        OnnxGraph body = c.attrGraph("body");
        int len = seq(c, 0).items().size();
        for (int i = 1; i < c.inputCount(); i++)
            if (c.value(i) instanceof Value.SequenceValue s && s.items().size() != len)
                throw c.error("input sequences have lengths " + len + " and " + s.items().size());
        int k = body.outputs().size();
        List<List<Value>> outs = new ArrayList<>();
        for (int j = 0; j < k; j++) outs.add(new ArrayList<>());
        try {
            for (int t = 0; t < len; t++) {
                List<Value> ins = new ArrayList<>();
                for (int i = 0; i < c.inputCount(); i++)
                    ins.add(c.value(i) instanceof Value.SequenceValue s ? s.items().get(t) : c.value(i));
                List<Value> r = c.runGraph(body, ins);
                for (int j = 0; j < k; j++) outs.get(j).add(r.get(j));
            }
        } catch (RuntimeException e) {
            for (List<Value> l : outs) l.forEach(Values::close);
            throw e;
        }
        List<Value> result = new ArrayList<>();
        for (int j = 0; j < k; j++) {
            ElemType t = body.outputs().get(j).elemType();
            if (!outs.get(j).isEmpty() && outs.get(j).getFirst() instanceof Value.TensorValue tv) t = tv.type();
            result.add(new Value.SequenceValue(outs.get(j), t == null ? ElemType.UNDEFINED : t));
        }
        return result;
    }

    private static List<Value> hasElement(OpCall c) {
        boolean has = c.has(0) && !(c.value(0) instanceof Value.OptionalValue o && o.value() == null);
        return List.of(Value.of(Tensor.full(has ? 1 : 0, DType.BOOL), ElemType.BOOL));
    }

    private static List<Value> getElement(OpCall c) {
        Value v = c.value(0);
        if (v instanceof Value.OptionalValue o) {
            if (o.value() == null) throw c.error("the optional is empty");
            return List.of(o.value());
        }
        return List.of(v);
    }
}
