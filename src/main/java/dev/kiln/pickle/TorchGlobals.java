package dev.kiln.pickle;

import dev.kiln.backend.Backends;
import dev.kiln.io.KilnFormatException;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Shape;
import dev.kiln.tensor.Tensor;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;

/**
 * The allow-list entries for what {@code torch.save} and {@code torch.jit.save} (PyTorch 1.x-2.x)
 * write, as Java handlers:
 * <ul>
 * <li>{@code torch._utils._rebuild_tensor_v2 / _rebuild_tensor}: a Kiln tensor viewing the
 *     storage with the saved offset, size and strides (int16 / uint8 storages: an int32 copy).
 *     requires_grad and backward hooks are read and dropped: loaded tensors are plain data.</li>
 * <li>{@code _rebuild_parameter(_with_state)}, {@code torch._tensor._rebuild_from_type_v2}: the
 *     tensor itself.</li>
 * <li>storage classes ({@code torch.FloatStorage}, ...), dtypes ({@code torch.float32}, ...),
 *     {@code torch.Tensor}, {@code torch.nn.parameter.Parameter}: marker values.</li>
 * <li>{@code collections.OrderedDict} -> {@link PyOrderedDict}; {@code builtins.set/frozenset};
 *     {@code torch.device} -> PyObject("torch.device", [type(, index)]);
 *     {@code _codecs.encode(str, "latin1")} -> bytes.</li>
 * <li>TorchScript: {@code torch.jit._pickle.restore_type_tag} and {@code build_*list} (their
 *     value), and every class under {@code __torch__} -> {@link PyObject}.</li>
 * </ul>
 */
public final class TorchGlobals {
    private TorchGlobals() {}

    private static final String[] DTYPES = {"float32", "float", "float64", "double", "float16", "half", "bfloat16",
        "int64", "long", "int32", "int", "int16", "short", "int8", "uint8", "bool", "complex64", "complex128"};

    /** Adds the torch entries to an allow-list. */
    public static void register(Globals g) {
        g.allow("torch._utils", "_rebuild_tensor_v2", TorchGlobals::rebuildTensorV2);
        g.allow("torch._utils", "_rebuild_tensor", TorchGlobals::rebuildTensor);
        g.allow("torch._utils", "_rebuild_parameter", a -> tensorArg(a, 0, 3, "_rebuild_parameter"));
        g.allow("torch._utils", "_rebuild_parameter_with_state", a -> tensorArg(a, 0, 4, "_rebuild_parameter_with_state"));
        g.allow("torch._tensor", "_rebuild_from_type_v2", TorchGlobals::rebuildFromType);
        for (StorageType t : StorageType.values()) g.allowMarker("torch", t.className());
        for (String d : DTYPES) g.allowMarker("torch", d);
        g.allowMarker("torch", "Tensor");
        g.allowMarker("torch._tensor", "Tensor");
        g.allowMarker("torch.nn.parameter", "Parameter");
        g.allow("collections", "OrderedDict", TorchGlobals::orderedDict);
        for (String m : new String[]{"builtins", "__builtin__"}) {
            g.allow(m, "set", a -> new LinkedHashSet<>(items(a, "set")));
            g.allow(m, "frozenset", a -> Collections.unmodifiableSet(new LinkedHashSet<>(items(a, "frozenset"))));
        }
        g.allow("torch", "device", a -> new PyObject("torch.device", a.items(), new LinkedHashMap<>()));
        g.allow("_codecs", "encode", TorchGlobals::encode);
        g.allow("torch.jit._pickle", "restore_type_tag", a -> arity(a, 2, "restore_type_tag").get(0));
        for (String f : new String[]{"build_intlist", "build_floatlist", "build_doublelist", "build_boollist", "build_tensorlist"})
            g.allow("torch.jit._pickle", f, a -> arity(a, 1, f).get(0));
        g.allowClasses("__torch__");
    }

    // ------------------------------------------------------------------ tensors

    /** _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata]) */
    private static Object rebuildTensorV2(PyTuple a) throws KilnFormatException {
        if (a.size() != 6 && a.size() != 7) throw new KilnFormatException("_rebuild_tensor_v2 takes 6 or 7 arguments, got " + a.size());
        if (!(a.get(4) instanceof Boolean)) throw new KilnFormatException("_rebuild_tensor_v2: requires_grad is a " + Unpickler.typeName(a.get(4)));
        if (a.get(5) instanceof Map<?, ?> hooks && !hooks.isEmpty())
            throw new KilnFormatException("_rebuild_tensor_v2: tensors with backward hooks are not supported");
        return rebuild(a);
    }

    /** _rebuild_tensor(storage, storage_offset, size, stride) */
    private static Object rebuildTensor(PyTuple a) throws KilnFormatException {
        arity(a, 4, "_rebuild_tensor");
        return rebuild(a);
    }

    private static Tensor rebuild(PyTuple a) throws KilnFormatException {
        if (!(a.get(0) instanceof TorchStorage s)) throw new KilnFormatException("tensor storage is a " + Unpickler.typeName(a.get(0)));
        if (!(a.get(1) instanceof Long offset) || offset < 0) throw new KilnFormatException("bad storage offset " + Unpickler.typeName(a.get(1)));
        int[] size = sizes(a.get(2));
        long[] stride = strides(a.get(3), size.length);
        return tensor(s, offset, size, stride);
    }

    /** A tensor over s (a view; int16/uint8 as an int32 copy), every element checked to lie inside s. */
    static Tensor tensor(TorchStorage s, long offset, int[] size, long[] stride) throws KilnFormatException {
        long count = Shape.numel(size);
        if (count > 0) {
            long last = offset;
            try {
                for (int i = 0; i < size.length; i++) last = Math.addExact(last, Math.multiplyExact(size[i] - 1L, stride[i]));
            } catch (ArithmeticException e) {
                last = Long.MAX_VALUE;
            }
            if (last >= s.numel())
                throw new KilnFormatException("tensor of size " + Arrays.toString(size) + ", stride " + Arrays.toString(stride) + " and offset "
                        + offset + " reaches element " + last + " of storage " + s.key() + " which has " + s.numel());
        }
        StorageType type = s.type();
        if (!type.widened())
            return s.owner().track(Tensor.of(s.bytes().storage(), type.dtype(), size, stride, offset));
        Tensor out = s.owner().track(Tensor.empty(Backends.cpu(), DType.I32, size));
        int[] idx = new int[size.length];
        long at = offset;
        for (long flat = 0; flat < count; flat++) {
            out.storage().setLong(DType.I32, flat, type.rawLong(s.bytes().segment(), at));
            for (int d = size.length - 1; d >= 0; d--) { // odometer step over the saved strides
                at += stride[d];
                if (++idx[d] < size[d]) break;
                at -= stride[d] * size[d];
                idx[d] = 0;
            }
        }
        return out;
    }

    private static int[] sizes(Object o) throws KilnFormatException {
        List<Object> items = intItems(o, "size");
        int[] out = new int[items.size()];
        for (int i = 0; i < out.length; i++) {
            long v = (Long) items.get(i);
            if (v < 0 || v > Integer.MAX_VALUE) throw new KilnFormatException("tensor size " + v + " out of range");
            out[i] = (int) v;
        }
        return out;
    }

    private static long[] strides(Object o, int rank) throws KilnFormatException {
        List<Object> items = intItems(o, "stride");
        if (items.size() != rank) throw new KilnFormatException(items.size() + " strides for a tensor of rank " + rank);
        long[] out = new long[rank];
        for (int i = 0; i < rank; i++) {
            out[i] = (Long) items.get(i);
            if (out[i] < 0) throw new KilnFormatException("negative stride " + out[i]);
        }
        return out;
    }

    private static List<Object> intItems(Object o, String what) throws KilnFormatException {
        if (!(o instanceof PyTuple t)) throw new KilnFormatException("tensor " + what + " is a " + Unpickler.typeName(o) + ", not a tuple");
        if (t.size() > 64) throw new KilnFormatException("tensor " + what + " has " + t.size() + " dimensions");
        for (Object v : t.items()) if (!(v instanceof Long)) throw new KilnFormatException("tensor " + what + " holds a " + Unpickler.typeName(v));
        return t.items();
    }

    private static Object tensorArg(PyTuple a, int i, int n, String fn) throws KilnFormatException {
        arity(a, n, fn);
        if (!(a.get(i) instanceof Tensor t)) throw new KilnFormatException(fn + ": data is a " + Unpickler.typeName(a.get(i)));
        return t;
    }

    /** _rebuild_from_type_v2(func, new_type, args, state): tensor subclasses; Kiln keeps the tensor. */
    private static Object rebuildFromType(PyTuple a) throws KilnFormatException {
        arity(a, 4, "_rebuild_from_type_v2");
        if (!(a.get(0) instanceof PyGlobal f) || f.handler() == null || !(a.get(2) instanceof PyTuple args))
            throw new KilnFormatException("_rebuild_from_type_v2: bad function or arguments");
        if (!(a.get(1) instanceof PyGlobal type) || !(type.name().equals("Tensor") || type.name().equals("Parameter")))
            throw new KilnFormatException("_rebuild_from_type_v2: unsupported tensor type " + Unpickler.typeName(a.get(1)));
        return f.handler().call(args);
    }

    // ------------------------------------------------------------------ containers and small values

    private static Object orderedDict(PyTuple a) throws KilnFormatException {
        PyOrderedDict d = new PyOrderedDict();
        if (a.size() == 0) return d;
        for (Object pair : items(a, "OrderedDict")) {
            List<Object> kv = pair instanceof PyTuple t ? t.items() : pair instanceof List<?> l ? new ArrayList<>(l) : null;
            if (kv == null || kv.size() != 2) throw new KilnFormatException("OrderedDict item is not a (key, value) pair");
            d.put(Unpickler.key(kv.get(0)), kv.get(1));
        }
        return d;
    }

    /** The single list (or tuple) argument of a set-like constructor, its items checked as keys. */
    private static List<Object> items(PyTuple a, String fn) throws KilnFormatException {
        if (a.size() == 0) return List.of();
        arity(a, 1, fn);
        List<Object> items = a.get(0) instanceof PyTuple t ? t.items() : a.get(0) instanceof List<?> l ? new ArrayList<>(l) : null;
        if (items == null) throw new KilnFormatException(fn + " of a " + Unpickler.typeName(a.get(0)));
        for (Object k : items) if (!fn.equals("OrderedDict")) Unpickler.key(k);
        return items;
    }

    private static Object encode(PyTuple a) throws KilnFormatException {
        arity(a, 2, "_codecs.encode");
        if (!(a.get(0) instanceof String s) || !("latin1".equals(a.get(1)) || "latin-1".equals(a.get(1))))
            throw new KilnFormatException("_codecs.encode: only (str, 'latin1') is supported");
        return s.getBytes(StandardCharsets.ISO_8859_1);
    }

    private static List<Object> arity(PyTuple a, int n, String fn) throws KilnFormatException {
        if (a.size() != n) throw new KilnFormatException(fn + " takes " + n + " arguments, got " + a.size());
        return a.items();
    }
}
