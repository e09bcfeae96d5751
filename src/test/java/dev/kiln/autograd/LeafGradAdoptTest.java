package dev.kiln.autograd;

import dev.kiln.tensor.DType;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;

/**
 * A leaf's first gradient is the tensor the pass made for it, not a copy, where nothing else holds
 * that memory; these check that no two leaves (or a leaf and a later gradient) end up sharing it.
 */
class LeafGradAdoptTest {
    @Test
    void gradientsStayIndependentAndAccumulate() {
        Generator g = new Generator(3);
        Tensor a = Tensor.uniform(g, -1, 1, DType.F32, 4, 5).requiresGrad(true);
        Tensor b = Tensor.uniform(g, -1, 1, DType.F32, 4, 5).requiresGrad(true);
        Tensor w = Tensor.uniform(g, -1, 1, DType.F32, 5, 3).requiresGrad(true);
        a.add(b).matmul(w).sum().backward();                     // add's rule may hand both inputs one tensor
        double[] ga = a.grad().toDoubleArray(), gb = b.grad().toDoubleArray(), gw = w.grad().toDoubleArray();
        assertArrayEquals(ga, gb);
        assertNotSame(a.grad().storage(), b.grad().storage());
        a.grad().copyFrom(Tensor.zeros(4, 5));
        assertArrayEquals(ga, b.grad().toDoubleArray(), "b's gradient must not be a's memory");
        a.zeroGrad();
        a.add(b).matmul(w).sum().backward();                     // b and w accumulate onto the adopted tensors
        double[] two = new double[gb.length], twoW = new double[gw.length];
        for (int i = 0; i < gb.length; i++) two[i] = 2 * gb[i];
        for (int i = 0; i < gw.length; i++) twoW[i] = 2 * gw[i];
        assertArrayEquals(ga, a.grad().toDoubleArray(), 1e-6);
        assertArrayEquals(two, b.grad().toDoubleArray(), 1e-6);
        assertArrayEquals(twoW, w.grad().toDoubleArray(), 1e-6);
    }

    @Test
    void aViewOfAnotherGradientIsCopied() {
        Generator g = new Generator(5);
        Tensor x = Tensor.uniform(g, -1, 1, DType.F32, 6).requiresGrad(true);
        Tensor y = Tensor.uniform(g, -1, 1, DType.F32, 2, 3).requiresGrad(true);
        Tensor s = x.reshape(2, 3).mul(y);                      // x's gradient is a reshape (a view) of the product's
        s.sum().backward();
        assertArrayEquals(y.toDoubleArray(), x.grad().toDoubleArray(), 1e-7);
        assertArrayEquals(x.toDoubleArray(), y.grad().toDoubleArray(), 1e-7);
    }
}
