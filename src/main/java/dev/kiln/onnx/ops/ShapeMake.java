package dev.kiln.onnx.ops;

import dev.kiln.onnx.ElemType;
import dev.kiln.onnx.Value;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Shape;
import dev.kiln.tensor.Storage;
import dev.kiln.tensor.Tensor;

import java.lang.foreign.MemorySegment;
import java.util.List;

import static dev.kiln.onnx.ops.ShapeElems.one;
import static dev.kiln.onnx.ops.ShapeElems.toInt;

/**
 * ONNX ops that make tensors from attributes or small inputs: Constant, ConstantOfShape, Range,
 * EyeLike, and the masking op Trilu. Registered by {@link ShapeOps}.
 */
final class ShapeMake {
    private ShapeMake() {}

    static void register(OpRegistry r) {
        r.register("Constant", ShapeMake::constant);
        r.register("ConstantOfShape", ShapeMake::constantOfShape);
        r.register("Range", ShapeMake::range);
        r.register("EyeLike", ShapeMake::eyeLike);
        r.register("Trilu", ShapeMake::trilu);
    }

    private static List<Value> constant(OpCall call) {
        if (call.attrValue("value") instanceof Value.StringTensorValue st) return List.of(st);
        if (call.hasAttr("value")) {
            Value.TensorValue tv = call.attrTensor("value");
            return one(ShapeElems.alias(tv.tensor()), tv.type());
        }
        if (call.hasAttr("value_float")) return one(Tensor.full(call.attrFloat("value_float", 0), DType.F32), ElemType.FLOAT);
        if (call.hasAttr("value_floats")) {
            float[] f = call.attrFloats("value_floats", new float[0]);
            return one(Tensor.fromArray(f, f.length), ElemType.FLOAT);
        }
        if (call.hasAttr("value_int")) return one(ShapeElems.longs(new long[]{call.attrInt("value_int", 0)}), ElemType.INT64);
        if (call.hasAttr("value_ints")) {
            long[] v = call.attrInts("value_ints", new long[0]);
            return one(ShapeElems.longs(v, v.length), ElemType.INT64);
        }
        if (call.hasAttr("sparse_value")) throw call.error("sparse_value constants are not supported");
        if (call.hasAttr("value_string")) return List.of(Value.strings(new String[]{call.attrString("value_string", "")}));
        if (call.hasAttr("value_strings")) {
            String[] v = call.attr("value_strings").strings().stream()
                    .map(b -> new String(b, java.nio.charset.StandardCharsets.UTF_8)).toArray(String[]::new);
            return List.of(Value.strings(v, v.length));
        }
        throw call.error("no value attribute");
    }

    private static List<Value> constantOfShape(OpCall call) {
        long[] dims = call.longs(0);
        int[] shape = new int[dims.length];
        for (int i = 0; i < shape.length; i++) {
            if (dims[i] < 0) throw call.error("negative dimension in shape " + java.util.Arrays.toString(dims));
            shape[i] = toInt(call, dims[i], "dimension");
        }
        Value.TensorValue value = call.attrTensor("value");
        if (value == null) return one(Tensor.zeros(DType.F32, shape), ElemType.FLOAT);
        Tensor v = value.tensor();
        if (v.numel() != 1) throw call.error("value must hold one element, got shape " + Shape.str(v.shape()));
        Tensor out = Tensor.zeros(v.dtype(), shape);
        try (Tensor src = ShapeElems.host(v)) {
            fill(out, src.segment(), src.offset());
        }
        return one(out, value.type());
    }

    /** Writes element {@code at} of src into every element of the contiguous out. */
    static void fill(Tensor out, MemorySegment src, long at) {
        int es = out.dtype().byteSize();
        MemorySegment dst = out.segment();
        long n = out.numel(), base = out.offset();
        for (long i = 0; i < n; i++) ShapeElems.move(src, at, dst, base + i, es);
    }

    private static List<Value> range(OpCall call) {
        ElemType type = call.type(0);
        DType dt = type.storage();
        if (type.isFloat()) {
            double start = ShapeElems.scalar(call, 0), limit = ShapeElems.scalar(call, 1), delta = ShapeElems.scalar(call, 2);
            if (delta == 0) throw call.error("delta is 0");
            long n = Math.max((long) Math.ceil((limit - start) / delta), 0);
            Tensor out = Tensor.zeros(dt, toInt(call, n, "length"));
            Storage s = out.storage();
            for (int i = 0; i < n; i++) s.setDouble(dt, i, start + i * delta);
            return one(out, type);
        }
        long start = ShapeElems.scalarLong(call, 0), limit = ShapeElems.scalarLong(call, 1), delta = ShapeElems.scalarLong(call, 2);
        if (delta == 0) throw call.error("delta is 0");
        long n = Math.max(Math.ceilDiv(limit - start, delta), 0);
        Tensor out = Tensor.zeros(dt, toInt(call, n, "length"));
        Storage s = out.storage();
        for (int i = 0; i < n; i++) s.setLong(dt, i, start + i * delta);
        return one(out, type);
    }

    private static List<Value> eyeLike(OpCall call) {
        int[] shape = call.in(0).shape();
        if (shape.length != 2) throw call.error("input must be 2-D, got shape " + Shape.str(shape));
        ElemType type = call.hasAttr("dtype") ? ElemType.fromCode((int) call.attrInt("dtype", 1)) : call.type(0);
        if (type.storage() == null) throw call.error("unsupported dtype " + type);
        long k = call.attrInt("k", 0);
        Tensor out = Tensor.zeros(type.storage(), shape);
        Storage s = out.storage();
        for (long i = 0; i < shape[0]; i++) {
            long j = i + k;
            if (j >= 0 && j < shape[1]) s.setDouble(type.storage(), i * shape[1] + j, 1);
        }
        return one(out, type);
    }

    /** Trilu: keeps the upper (j - i >= k) or lower (j - i <= k) triangle of each trailing matrix. */
    private static List<Value> trilu(OpCall call) {
        Tensor x = call.in(0);
        int[] s = x.shape();
        if (s.length < 2) throw call.error("input must have rank >= 2, got shape " + Shape.str(s));
        long k = call.has(1) ? ShapeElems.scalarLong(call, 1) : 0;
        boolean upper = call.attrInt("upper", 1) != 0;
        Tensor out = x.backend().isHost() ? x.clone() : x.to(dev.kiln.backend.Backends.cpu());
        int rows = s[s.length - 2], cols = s[s.length - 1];
        long mats = ShapeElems.prod(s, 0, s.length - 2);
        int es = out.dtype().byteSize();
        MemorySegment seg = out.segment();
        for (long m = 0; m < mats; m++) {
            for (long i = 0; i < rows; i++) {
                long from, to; // zeroed columns [from, to)
                if (upper) { from = 0; to = Math.clamp(i + k, 0, cols); }
                else { from = Math.clamp(i + k + 1, 0, cols); to = cols; }
                long row = out.offset() + (m * rows + i) * cols;
                if (to > from) seg.asSlice((row + from) * es, (to - from) * es).fill((byte) 0);
            }
        }
        return one(call, out);
    }
}
