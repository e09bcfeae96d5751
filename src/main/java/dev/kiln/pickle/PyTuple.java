package dev.kiln.pickle;

import java.util.List;

/** A Python tuple (immutable, ordered). */
public record PyTuple(List<Object> items) {
    public Object get(int i) { return items.get(i); }

    public int size() { return items.size(); }
}
