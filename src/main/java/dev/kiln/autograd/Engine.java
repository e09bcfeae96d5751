package dev.kiln.autograd;

import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Shape;
import dev.kiln.tensor.Tensor;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Reverse-mode differentiation: walks the graph below a root in reverse topological order,
 * calling each node's gradient rule once with the summed gradient of its output, and accumulates
 * into the {@code grad} of leaf tensors that require gradients. Memory: each rule runs in its own
 * {@link Scope} (its temporaries are freed when it returns), a gradient is freed as soon as the
 * nodes that needed it have run (only the frontier of pending gradients stays alive), and a node's
 * saved activations are released right after its rule (unless the graph is retained).
 */
public final class Engine {
    private Engine() {}

    /** Per gradient rule (node name) nanoseconds, summed over passes; null unless -Dkiln.autograd.profile=true. */
    private static final Map<String, Long> PROFILE = Boolean.getBoolean("kiln.autograd.profile")
            ? new java.util.concurrent.ConcurrentHashMap<>() : null;

    /**
     * The time each kind of gradient rule took, summed over every backward pass since the last call
     * (and reset by it), largest first; empty unless the JVM runs with {@code -Dkiln.autograd.profile=true}.
     */
    public static List<Map.Entry<String, Long>> takeProfile() {
        if (PROFILE == null) return List.of();
        List<Map.Entry<String, Long>> out = new ArrayList<>(Map.copyOf(PROFILE).entrySet());
        PROFILE.clear();
        out.sort(Map.Entry.<String, Long>comparingByValue().reversed());
        return out;
    }

    public static void backward(Tensor root, Tensor seed, boolean retainGraph) {
        if (!root.requiresGrad())
            throw new IllegalStateException("backward: tensor does not require grad and has no grad_fn");
        if (seed == null) {
            if (root.numel() != 1)
                throw new IllegalArgumentException("backward: gradient can be implicit only for one-element outputs, got shape " + Shape.str(root.shape()));
        } else if (!Arrays.equals(seed.shape(), root.shape())) {
            throw new IllegalArgumentException("backward: gradient shape " + Shape.str(seed.shape()) + " != output shape " + Shape.str(root.shape()));
        }
        boolean seedIsOurs = seed == null;
        try (GradMode.Guard g = GradMode.noGrad(); Scope scope = Scope.open()) {
            if (seedIsOurs) seed = Tensor.ones(root.dtype(), root.shape());
            if (root.gradFn() == null) {
                accumulateLeaf(root, seed);
                return;
            }
            List<Node> order = topoOrder(root.gradFn());
            Map<Node, Tensor> pending = new IdentityHashMap<>();
            // gradient tensors this pass made: each is closed as soon as no pending entry holds it,
            // so the pass keeps only the frontier of the graph alive, not every gradient it computed
            Set<Tensor> ours = Collections.newSetFromMap(new IdentityHashMap<>());
            if (seedIsOurs) ours.add(seed);
            pending.put(root.gradFn(), seed);
            for (Node node : order) {
                Tensor gOut = pending.remove(node);
                if (gOut == null) continue;
                Tensor[] gIn;
                long t0 = PROFILE == null ? 0 : System.nanoTime();
                try (Scope step = Scope.open()) {        // the rule's temporaries end with it
                    gIn = node.backward(gOut);
                    for (Tensor t : gIn) {
                        if (t != null && step.owns(t)) {
                            step.keep(t);
                            ours.add(t);
                        }
                    }
                }
                if (PROFILE != null) PROFILE.merge(node.name(), System.nanoTime() - t0, Long::sum);
                List<Tensor> finished = new ArrayList<>();
                finished.add(gOut);
                for (int i = 0; i < node.inputs.length; i++) {
                    Tensor in = node.inputs[i];
                    if (gIn[i] != null) finished.add(gIn[i]);
                    if (in == null || gIn[i] == null || !in.requiresGrad()) continue;
                    Node fn = in.gradFn();
                    if (fn == null) {
                        if (adoptable(in, gIn, i, gOut, ours, pending)) {
                            ours.remove(gIn[i]);                 // the leaf's gradient now: no copy, not closed here
                            Scope.escape(gIn[i]);
                            in.setGrad(gIn[i]);
                            in.runGradHooks();
                        } else {
                            accumulateLeaf(in, gIn[i]);
                        }
                    } else {
                        Tensor prev = pending.get(fn);
                        if (prev == null) {
                            pending.put(fn, gIn[i]);
                        } else {
                            Tensor sum = prev.add(gIn[i]);
                            ours.add(sum);
                            pending.put(fn, sum);
                            finished.add(prev);
                        }
                    }
                }
                if (!retainGraph) node.release();
                for (Tensor t : finished) {
                    if (ours.contains(t) && !held(pending, t)) {
                        ours.remove(t);
                        t.close();
                    }
                }
            }
        }
    }

    /**
     * Whether gIn[i] can become leaf's first gradient as it is, instead of a copy: this pass made it
     * (and nothing else holds its memory: no view, no other pending or returned gradient, not the
     * incoming gradient), whole, contiguous, of the leaf's dtype, shape and device.
     */
    private static boolean adoptable(Tensor leaf, Tensor[] gIn, int i, Tensor gOut, Set<Tensor> ours, Map<Node, Tensor> pending) {
        Tensor g = gIn[i];
        if (leaf.grad() != null || g == gOut || !ours.contains(g) || g.dtype() != leaf.dtype() || g.backend() != leaf.backend()
                || !Arrays.equals(g.shape(), leaf.shape()) || !g.isContiguous() || g.offset() != 0 || g.storage().isShared()
                || held(pending, g))
            return false;
        for (int j = 0; j < gIn.length; j++) if (j != i && gIn[j] == g) return false;
        return true;
    }

    /** Whether a pending gradient is t itself. */
    private static boolean held(Map<Node, Tensor> pending, Tensor t) {
        for (Tensor p : pending.values()) if (p == t) return true;
        return false;
    }

    private static void accumulateLeaf(Tensor leaf, Tensor g) {
        if (!Arrays.equals(g.shape(), leaf.shape()))
            throw new IllegalStateException("autograd: gradient of shape " + Shape.str(g.shape()) + " for tensor of shape " + Shape.str(leaf.shape()));
        Tensor cur = leaf.grad();
        if (cur == null) {
            Tensor copy = g.dtype() == leaf.dtype() ? g.clone() : g.to(leaf.dtype());
            Scope.escape(copy);
            leaf.setGrad(copy);
        } else {
            try (Tensor sum = cur.add(g)) {
                cur.copyFrom(sum);
            }
        }
        leaf.runGradHooks();
    }

    /** Nodes reachable from root, each after every node that feeds it gradient. */
    private static List<Node> topoOrder(Node root) {
        List<Node> post = new ArrayList<>();
        Map<Node, Boolean> seen = new IdentityHashMap<>();
        ArrayDeque<Object[]> stack = new ArrayDeque<>();
        stack.push(new Object[]{root, 0});
        seen.put(root, true);
        while (!stack.isEmpty()) {
            Object[] top = stack.peek();
            Node n = (Node) top[0];
            int i = (Integer) top[1];
            if (i < n.inputs.length) {
                top[1] = i + 1;
                Tensor in = n.inputs[i];
                Node child = in == null ? null : in.gradFn();
                if (child != null && seen.put(child, true) == null) stack.push(new Object[]{child, 0});
            } else {
                stack.pop();
                post.add(n);
            }
        }
        java.util.Collections.reverse(post);
        return post;
    }
}
