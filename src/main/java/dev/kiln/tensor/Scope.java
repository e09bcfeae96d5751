package dev.kiln.tensor;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;

/**
 * Deterministic release for a block of tensor code: every tensor created on this thread while the
 * scope is open is closed when the scope closes, except those passed to {@link #keep}. Scopes nest.
 * <pre>
 * try (Scope s = Scope.open()) {
 *     Tensor y = x.matmul(w).relu();
 *     return s.keep(y);          // y survives; the matmul temporary is freed here
 * }
 * </pre>
 */
public final class Scope implements AutoCloseable {
    private static final ThreadLocal<ArrayDeque<Scope>> STACK = ThreadLocal.withInitial(ArrayDeque::new);

    private final List<Tensor> owned = new ArrayList<>();
    private final Set<Tensor> kept = Collections.newSetFromMap(new IdentityHashMap<>());
    private boolean closed;

    private Scope() {}

    public static Scope open() {
        Scope s = new Scope();
        STACK.get().push(s);
        return s;
    }

    static void track(Tensor t) {
        Scope s = STACK.get().peek();
        if (s != null) s.owned.add(t);
    }

    /** Removes t from every open scope of this thread: the caller owns it (e.g. gradients, parameters). */
    public static <T extends Tensor> T escape(T t) {
        for (Scope s : STACK.get()) s.owned.remove(t);
        return t;
    }

    /** Whether t was created while this scope was the innermost open one (and not escaped): this scope will close it. */
    public boolean owns(Tensor t) {
        for (Tensor o : owned) if (o == t) return true;
        return false;
    }

    /** Keeps t alive past this scope; it moves to the enclosing scope, if any. */
    public <T extends Tensor> T keep(T t) {
        kept.add(t);
        return t;
    }

    @Override
    public void close() {
        if (closed) return;
        ArrayDeque<Scope> stack = STACK.get();
        if (stack.peek() != this) throw new IllegalStateException("scopes must be closed in reverse order of opening");
        closed = true;
        stack.pop();
        Scope parent = stack.peek();
        for (Tensor t : owned) {
            if (kept.contains(t)) {
                if (parent != null) parent.owned.add(t);
            } else {
                t.close();
            }
        }
        owned.clear();
    }
}
