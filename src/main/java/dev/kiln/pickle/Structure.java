package dev.kiln.pickle;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collection;
import java.util.IdentityHashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * Checks an unpickled value before anyone walks it: no container contains itself (the memo lets a
 * pickle build cycles) and containers nest at most maxDepth deep. Iterative and linear in the
 * number of containers and references, so a hostile graph cannot overflow the stack here either.
 */
final class Structure {
    private Structure() {}

    private static final class Frame {
        final Object node;
        final Iterator<Object> children;
        int height = 1;

        Frame(Object node) {
            this.node = node;
            this.children = childrenOf(node).iterator();
        }
    }

    /** Null when the value is fine, else the reason it is refused. */
    static String check(Object root, int maxDepth) {
        if (!isContainer(root)) return null;
        IdentityHashMap<Object, Integer> height = new IdentityHashMap<>();
        IdentityHashMap<Object, Boolean> onPath = new IdentityHashMap<>();
        ArrayDeque<Frame> path = new ArrayDeque<>();
        path.push(new Frame(root));
        onPath.put(root, Boolean.TRUE);
        while (!path.isEmpty()) {
            Frame f = path.peek();
            if (f.children.hasNext()) {
                Object c = f.children.next();
                if (!isContainer(c)) continue;
                Integer h = height.get(c);
                if (h != null) {
                    f.height = Math.max(f.height, h + 1);
                    if (path.size() + h > maxDepth) return tooDeep(maxDepth);
                } else if (onPath.containsKey(c)) {
                    return "cyclic structure: a " + Unpickler.typeName(c) + " contains itself (not supported)";
                } else if (path.size() >= maxDepth) {
                    return tooDeep(maxDepth);
                } else {
                    path.push(new Frame(c));
                    onPath.put(c, Boolean.TRUE);
                }
            } else {
                path.pop();
                onPath.remove(f.node);
                height.put(f.node, f.height);
                if (!path.isEmpty()) path.peek().height = Math.max(path.peek().height, f.height + 1);
            }
        }
        return null;
    }

    private static String tooDeep(int maxDepth) { return "containers nested more than " + maxDepth + " deep"; }

    private static boolean isContainer(Object o) {
        return o instanceof Collection<?> || o instanceof Map<?, ?> || o instanceof PyTuple || o instanceof PyObject;
    }

    private static List<Object> childrenOf(Object o) {
        List<Object> out = new ArrayList<>();
        switch (o) {
            case PyTuple t -> out.addAll(t.items());
            case PyObject p -> { out.addAll(p.args()); out.addAll(p.state().values()); }
            case PyOrderedDict d -> { addEntries(d, out); out.addAll(d.attributes().values()); }
            case Map<?, ?> m -> addEntries(m, out);
            case Collection<?> c -> out.addAll(c);
            default -> { }
        }
        return out;
    }

    private static void addEntries(Map<?, ?> m, List<Object> out) {
        for (Map.Entry<?, ?> e : m.entrySet()) {
            out.add(e.getKey());
            out.add(e.getValue());
        }
    }
}
