package dev.kiln.torchscript.interp;

import dev.kiln.pickle.PyObject;
import dev.kiln.pickle.PyTuple;
import dev.kiln.tensor.Tensor;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;

/** What a for loop may iterate: lists, tuples, range(), dict keys, strings, tensors (dim 0), module lists. */
final class Iteration {
    private Iteration() {}

    /** range(start, stop, step), iterated lazily. */
    record Range(long start, long stop, long step) implements Iterable<Object> {
        Range {
            if (step == 0) throw new ScriptException("range() arg 3 must not be zero");
        }

        long length() {
            if (step > 0) return start < stop ? (stop - start + step - 1) / step : 0;
            return start > stop ? (start - stop - step - 1) / -step : 0;
        }

        @Override
        public Iterator<Object> iterator() {
            return new Iterator<>() {
                long next = start;

                @Override public boolean hasNext() { return step > 0 ? next < stop : next > stop; }

                @Override public Object next() {
                    if (!hasNext()) throw new NoSuchElementException();
                    long v = next;
                    next += step;
                    return v;
                }
            };
        }
    }

    static Iterable<Object> of(Object v, Interpreter in) {
        return switch (v) {
            case Range r -> r;
            case PyTuple t -> List.copyOf(t.items());
            case List<?> l -> new ArrayList<Object>(l);
            case Map<?, ?> m -> new ArrayList<Object>(m.keySet());
            case String s -> s.chars().mapToObj(c -> (Object) String.valueOf((char) c)).toList();
            case Tensor t -> {
                if (t.dim() == 0) throw new ScriptException("iteration over a 0-d tensor");
                List<Object> rows = new ArrayList<>();
                for (int i = 0; i < t.shape()[0]; i++) rows.add(t.select(0, i));
                yield rows;
            }
            case PyObject o -> submodules(o, in);
            case null, default -> throw new ScriptException("'" + Values.typeName(v) + "' object is not iterable");
        };
    }

    /** The numbered children "0", "1", ... of a ModuleList / Sequential. */
    private static List<Object> submodules(PyObject o, Interpreter in) {
        List<Object> out = new ArrayList<>();
        for (int i = 0; o.state().containsKey(String.valueOf(i)); i++) out.add(o.state().get(String.valueOf(i)));
        if (out.isEmpty()) throw new ScriptException("'" + o.className() + "' object is not iterable");
        return out;
    }

    /** A Python index (negative from the end) checked against size. */
    static int index(long i, int size) {
        long j = i < 0 ? i + size : i;
        if (j < 0 || j >= size) throw new ScriptException("index " + i + " is out of range for size " + size);
        return (int) j;
    }
}
