package dev.kiln.autograd;

import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Shape;
import dev.kiln.tensor.Tensor;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reverse-mode differentiation: walks the graph below a root in reverse topological order,
 * calling each node's gradient rule once with the summed gradient of its output, and accumulates
 * into the {@code grad} of leaf tensors that require gradients.
 */
public final class Engine {
    private Engine() {}

    public static void backward(Tensor root, Tensor seed, boolean retainGraph) {
        if (!root.requiresGrad())
            throw new IllegalStateException("backward: tensor does not require grad and has no grad_fn");
        if (seed == null) {
            if (root.numel() != 1)
                throw new IllegalArgumentException("backward: gradient can be implicit only for one-element outputs, got shape " + Shape.str(root.shape()));
            seed = Tensor.ones(root.dtype(), root.shape());
        } else if (!Arrays.equals(seed.shape(), root.shape())) {
            throw new IllegalArgumentException("backward: gradient shape " + Shape.str(seed.shape()) + " != output shape " + Shape.str(root.shape()));
        }
        try (GradMode.Guard g = GradMode.noGrad(); Scope scope = Scope.open()) {
            if (root.gradFn() == null) {
                accumulateLeaf(root, seed);
                return;
            }
            List<Node> order = topoOrder(root.gradFn());
            Map<Node, Tensor> pending = new IdentityHashMap<>();
            pending.put(root.gradFn(), seed);
            for (Node node : order) {
                Tensor gOut = pending.remove(node);
                if (gOut == null) continue;
                Tensor[] gIn = node.backward(gOut);
                for (int i = 0; i < node.inputs.length; i++) {
                    Tensor in = node.inputs[i];
                    if (in == null || gIn[i] == null || !in.requiresGrad()) continue;
                    Node fn = in.gradFn();
                    if (fn == null) {
                        accumulateLeaf(in, gIn[i]);
                    } else {
                        Tensor prev = pending.get(fn);
                        pending.put(fn, prev == null ? gIn[i] : prev.add(gIn[i]));
                    }
                }
                if (!retainGraph) node.release();
            }
        }
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
            cur.copyFrom(cur.add(g));
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
