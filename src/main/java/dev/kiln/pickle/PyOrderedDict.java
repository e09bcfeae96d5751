package dev.kiln.pickle;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A {@code collections.OrderedDict}: a LinkedHashMap (so code that expects a pickled dict reads it
 * the same way) that also keeps the instance attributes BUILD set on it. {@code torch.save} of a
 * state dict stores the per-module versions there as the attribute {@code _metadata}.
 */
public final class PyOrderedDict extends LinkedHashMap<Object, Object> {
    private final Map<String, Object> attributes = new LinkedHashMap<>();

    /** Instance attributes (e.g. "_metadata"), empty for most dicts. */
    public Map<String, Object> attributes() { return attributes; }

    @Override
    public boolean equals(Object o) { return super.equals(o); }

    @Override
    public int hashCode() { return super.hashCode(); }
}
