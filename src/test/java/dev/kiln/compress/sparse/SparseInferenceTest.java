package dev.kiln.compress.sparse;

import dev.kiln.nn.Activation;
import dev.kiln.nn.Linear;
import dev.kiln.nn.Sequential;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Storage;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The sparse inference view of a pruned MLP gives the dense model's outputs and frees only its own copies. */
class SparseInferenceTest {
    @Test
    void matchesTheDenseModelAndClosesOnlyItsCopies() {
        Generator g = new Generator(3);
        try (Sequential mlp = new Sequential(new Linear(64, 48, true, g), Activation.relu(), new Linear(48, 10, true, g));
             Tensor x = Tensor.randn(g, 7, 64)) {
            Linear first = (Linear) mlp.get(0);
            float[] w = first.weight().toFloatArray();
            for (int i = 0; i < w.length; i++) if (i % 10 != 0) w[i] = 0;   // 90% zeros in the first layer only
            try (Tensor pruned = Tensor.fromArray(w, 48, 64)) { first.weight().copyFrom(pruned); }
            float[] b;
            try (Scope s = Scope.open()) { b = mlp.forward(x).toFloatArray(); }
            long live = Storage.liveCount();
            try (SparseInference fast = SparseInference.of(mlp); Tensor got = fast.forward(x)) {
                assertEquals(1, fast.kernels(7).size(), "only the layer with zeros runs sparse");
                float[] a = got.toFloatArray();
                for (int i = 0; i < a.length; i++) assertEquals(b[i], a[i], 1e-5 * (1 + Math.abs(b[i])), "output " + i);
                assertTrue(fast.describe().contains("64 -> 48: 90.0% zeros"), fast.describe());
            }
            assertEquals(live, Storage.liveCount(), "the view freed its copies and left the model's tensors alone");
            try (Scope s = Scope.open()) { assertEquals(70, mlp.forward(x).numel(), "the model still runs"); }
        }
    }
}
