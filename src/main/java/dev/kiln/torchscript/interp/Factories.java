package dev.kiln.torchscript.interp;

import dev.kiln.pickle.PyTuple;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;

/**
 * Tensor factories: zeros/ones/empty/full (and their _like and new_ forms), arange, linspace,
 * scalar_tensor, tensor(data). Every overload torch prints takes the keyword-only dtype, layout,
 * device, pin_memory (and memory_format, names) arguments; layout must be strided, device and
 * pin_memory are accepted and ignored (Kiln runs the program on its own device). Without a dtype:
 * float32 for floating values, int64 for integral ones, bool for bools, as torch 1.13+ does.
 */
final class Factories {
    private static final String OPTS = "dtype, layout, device, pin_memory";

    private Factories() {}

    static void register(OpTable t) {
        t.add("zeros", "size, " + OPTS + ", names", a -> fill(a, 0, 1, 0, DType.F32));
        t.add("ones", "size, " + OPTS + ", names", a -> fill(a, 0, 1, 1, DType.F32));
        t.add("empty", "size, " + OPTS + ", memory_format, names", a -> fill(a, 0, 1, 0, DType.F32));
        t.add("empty_strided", "size, stride, " + OPTS, a -> fill(a, 0, 2, 0, DType.F32));
        t.add("full", "size, fill_value, " + OPTS + ", names", a -> {
            Object v = number(a, 1);
            return fill(a, 0, 2, Values.toDouble(v, "full"), defaultType(v));
        });
        t.add("zeros_like", "self, " + OPTS + ", memory_format", a -> like(a, 1, 0));
        t.add("ones_like", "self, " + OPTS + ", memory_format", a -> like(a, 1, 1));
        t.add("empty_like", "self, " + OPTS + ", memory_format", a -> like(a, 1, 0));
        t.add("full_like", "self, fill_value, " + OPTS + ", memory_format", a -> like(a, 2, Values.toDouble(number(a, 1), "full_like")));
        t.add("new_zeros", "self, size, " + OPTS, a -> fill(a, 1, 2, 0, a.tensor(0).dtype()));
        t.add("new_ones", "self, size, " + OPTS, a -> fill(a, 1, 2, 1, a.tensor(0).dtype()));
        t.add("new_empty", "self, size, " + OPTS, a -> fill(a, 1, 2, 0, a.tensor(0).dtype()));
        t.add("new_full", "self, size, fill_value, " + OPTS, a -> fill(a, 1, 3, Values.toDouble(number(a, 2), "new_full"), a.tensor(0).dtype()));
        t.add("scalar_tensor", "s, " + OPTS, a -> {
            checkOptions(a, 1);
            return Tensor.scalar(Values.toDouble(number(a, 0), "scalar_tensor"), dtype(a, 1, DType.F32));
        });
        t.add("arange", "start, end, step, " + OPTS, Factories::arange);
        t.add("linspace", "start, end, steps, " + OPTS, Factories::linspace);
        t.add("tensor", "data, dtype, device, requires_grad", Factories::tensor);
    }

    /** A tensor of the size at argument sizeAt filled with value; the options (dtype, ...) start at optsAt. */
    private static Tensor fill(Args a, int sizeAt, int optsAt, double value, DType dflt) {
        checkOptions(a, optsAt);
        return Tensor.full(value, dtype(a, optsAt, dflt), checkShape(a, a.ints(sizeAt)));
    }

    private static Tensor like(Args a, int optsAt, double value) {
        checkOptions(a, optsAt);
        Tensor self = a.tensor(0);
        return Tensor.full(value, dtype(a, optsAt, self.dtype()), self.shape());
    }

    /** layout (after dtype) must be None or torch.strided (0); names, if the schema has it, None. */
    private static void checkOptions(Args a, int dtypeAt) {
        Object layout = a.get(dtypeAt + 1, null);
        if (layout != null && Values.toLong(layout, a.op() + " layout") != 0)
            throw a.error("layout " + layout + " is not supported (only torch.strided)");
        for (int i = dtypeAt + 4; a.has(i); i++)
            if (a.get(i, null) instanceof List<?> l && !l.isEmpty()) throw a.error("named tensors are not supported");
    }

    private static int[] checkShape(Args a, int[] shape) {
        long n = 1;
        for (int d : shape) {
            if (d < 0) throw a.error("negative dimension in size " + java.util.Arrays.toString(shape));
            n *= d;
            if (n > Integer.MAX_VALUE) throw a.error("too many elements in size " + java.util.Arrays.toString(shape));
        }
        return shape;
    }

    private static DType dtype(Args a, int i, DType dflt) {
        DType d = a.dtype(i);
        return d == null ? dflt : d;
    }

    /** Argument i as a Python number; a one-element tensor (traced size arithmetic) gives its value. */
    private static Object number(Args a, int i) {
        Object v = a.get(i);
        return v instanceof Tensor t ? PrimOps.item(t) : v;
    }

    private static DType defaultType(Object v) {
        return v instanceof Double ? DType.F32 : v instanceof Boolean ? DType.BOOL : DType.I64;
    }

    /**
     * arange(end), arange(start, end), arange(start, end, step), each with keyword-only dtype,
     * layout, device, pin_memory. The positional numbers (or one-element tensors) pick the overload.
     */
    private static Object arange(Args a) {
        List<Object> pos = a.positional();
        List<Object> nums = new ArrayList<>();
        for (Object v : pos) {
            if (v instanceof Tensor t && t.numel() == 1) v = PrimOps.item(t);
            if (!(v instanceof Long || v instanceof Double) || nums.size() == 3)
                throw a.error("start, end and step must be numbers, got " + Values.typeName(v) + " as argument " + (nums.size() + 1));
            nums.add(v);
        }
        if (nums.isEmpty()) throw a.error("expected an end value");
        double start = 0, end, step = 1;
        if (nums.size() == 1) end = Values.toDouble(nums.get(0), "arange");
        else {
            start = Values.toDouble(nums.get(0), "arange");
            end = Values.toDouble(nums.get(1), "arange");
            if (nums.size() == 3) step = Values.toDouble(nums.get(2), "arange");
        }
        checkOptions(a, 3); // keyword-only, as torch prints them
        boolean anyFloat = nums.stream().anyMatch(v -> v instanceof Double);
        DType out = dtype(a, 3, anyFloat ? DType.F32 : DType.I64);
        if (step == 0 || Double.isNaN(step)) throw a.error("step must be nonzero");
        if (!Double.isFinite(start) || !Double.isFinite(end)) throw a.error("unsupported range " + start + " to " + end);
        if ((end - start) / step < 0) throw a.error("upper bound and larger bound inconsistent with step sign (" + start + ", " + end + ", " + step + ")");
        long n = (long) Math.ceil((end - start) / step);
        if (n > 100_000_000L) throw a.error("too many elements: " + n);
        return Tensor.arange(start, end, step, out);
    }

    /** linspace(start, end, steps, *, dtype, layout, device, pin_memory): steps evenly spaced values, ends included. */
    private static Object linspace(Args a) {
        checkOptions(a, 3);
        double start = Values.toDouble(number(a, 0), "linspace"), end = Values.toDouble(number(a, 1), "linspace");
        long steps = Values.toLong(number(a, 2), "linspace steps");
        if (steps < 0 || steps > 100_000_000L) throw a.error("steps must be in [0, 1e8], got " + steps);
        DType out = dtype(a, 3, DType.F32);
        double[] v = new double[(int) steps];
        double step = steps > 1 ? (end - start) / (steps - 1) : 0;
        int half = (int) (steps / 2);
        for (int i = 0; i < steps; i++) v[i] = i < half ? start + step * i : end - step * (steps - 1 - i); // torch's symmetric form
        return Tensor.fromDoubles(out, v, (int) steps);
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
