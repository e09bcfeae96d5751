package dev.kiln.torchscript.interp;

import dev.kiln.pickle.PyTuple;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;

/** Tensor factories: zeros/ones/full/empty (and their _like forms), arange, tensor(data). Float32 by default. */
final class Factories {
    private Factories() {}

    static void register(OpTable t) {
        t.add("zeros", "size, dtype, layout, device, pin_memory", a -> Tensor.full(0, dtype(a, 1, DType.F32), a.ints(0)));
        t.add("ones", "size, dtype, layout, device, pin_memory", a -> Tensor.full(1, dtype(a, 1, DType.F32), a.ints(0)));
        t.add("empty", "size, dtype, layout, device, pin_memory, memory_format",
                a -> Tensor.full(0, dtype(a, 1, DType.F32), a.ints(0)));
        t.add("full", "size, fill_value, dtype, layout, device, pin_memory", a -> Tensor.full(a.getDouble(1),
                dtype(a, 2, a.get(1) instanceof Double ? DType.F32 : a.get(1) instanceof Boolean ? DType.BOOL : DType.I64),
                a.ints(0)));
        t.add("zeros_like", "self, dtype, layout, device, pin_memory, memory_format",
                a -> Tensor.full(0, dtype(a, 1, a.tensor(0).dtype()), a.tensor(0).shape()));
        t.add("ones_like", "self, dtype, layout, device, pin_memory, memory_format",
                a -> Tensor.full(1, dtype(a, 1, a.tensor(0).dtype()), a.tensor(0).shape()));
        t.add("empty_like", "self, dtype, layout, device, pin_memory, memory_format",
                a -> Tensor.full(0, dtype(a, 1, a.tensor(0).dtype()), a.tensor(0).shape()));
        t.add("full_like", "self, fill_value, dtype, layout, device, pin_memory, memory_format",
                a -> Tensor.full(a.getDouble(1), dtype(a, 2, a.tensor(0).dtype()), a.tensor(0).shape()));
        t.add("arange", "start, end, step, dtype, layout, device, pin_memory", Factories::arange);
        t.add("tensor", "data, dtype, device, requires_grad", Factories::tensor);
    }

    private static DType dtype(Args a, int i, DType dflt) {
        DType d = a.dtype(i);
        return d == null ? dflt : d;
    }

    private static Object arange(Args a) {
        // arange(end, dtype=...) or arange(start, end, step=1, dtype=...): the positional numbers decide
        List<Object> nums = new ArrayList<>();
        for (Object v : a.positional()) if (Values.isNumber(v)) nums.add(v);
        double start = 0, end, step = 1;
        if (nums.size() == 1) end = Values.toDouble(nums.get(0), "arange");
        else if (nums.size() >= 2) {
            start = Values.toDouble(nums.get(0), "arange");
            end = Values.toDouble(nums.get(1), "arange");
            if (nums.size() >= 3) step = Values.toDouble(nums.get(2), "arange");
        } else throw a.error("expected an end value");
        boolean anyFloat = nums.stream().anyMatch(v -> v instanceof Double);
        Object dt = a.get(3, null);
        DType out = dt instanceof Long code && nums.size() > 1 ? ScalarTypes.dtype(code) : anyFloat ? DType.F32 : DType.I64;
        if (step == 0) throw a.error("step must be nonzero");
        long n = (long) Math.ceil((end - start) / step);
        if (n > 100_000_000L) throw a.error("too many elements: " + n);
        return Tensor.arange(start, end, step, out);
    }

    private static Object tensor(Args a) {
        List<Double> flat = new ArrayList<>();
        List<Integer> shape = new ArrayList<>();
        boolean[] isFloat = {false};
        collect(a.get(0), flat, shape, 0, isFloat);
        double[] data = flat.stream().mapToDouble(Double::doubleValue).toArray();
        DType dt = a.dtype(1);
        if (dt == null) dt = isFloat[0] ? DType.F32 : a.get(0) instanceof Boolean ? DType.BOOL : DType.I64;
        return Tensor.fromDoubles(dt, data, shape.stream().mapToInt(Integer::intValue).toArray());
    }

    private static void collect(Object v, List<Double> flat, List<Integer> shape, int depth, boolean[] isFloat) {
        if (v instanceof List<?> || v instanceof PyTuple) {
            List<Object> items = Values.items(v, "tensor");
            if (shape.size() == depth) shape.add(items.size());
            else if (shape.get(depth) != items.size()) throw new ScriptException("tensor: ragged nested list");
            for (Object x : items) collect(x, flat, shape, depth + 1, isFloat);
        } else {
            if (v instanceof Double) isFloat[0] = true;
            flat.add(Values.toDouble(v, "tensor"));
        }
    }
}
