package dev.kiln.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kiln.autograd.GradMode;
import dev.kiln.backend.Backends;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The fused kernels reached through CudaBackend's public methods (bias+GELU, softmax / log-softmax
 * backward, layer-norm backward), on the device against the CPU backend's forward + autograd on
 * odd shapes (45x65, 7x1025, 3x5x33), f32 and f64; tolerance atol + rtol |ref|. The shape rules run
 * without a GPU (untagged tests); the device tests are tagged gpu and skip with the reason.
 */
class CudaFusedGpuTest {
    private static Tensor rand(long seed, DType t, int... shape) {
        return Tensor.uniform(new Generator(seed), -2, 2, t, shape);
    }

    private static void assertClose(Tensor ref, Tensor got, double tol, String what) {
        double[] r = ref.toDoubleArray(), g = got.to(Backends.cpu()).toDoubleArray();
        assertEquals(r.length, g.length, what);
        for (int i = 0; i < r.length; i++)
            assertTrue(Math.abs(r[i] - g[i]) <= tol + tol * Math.abs(r[i]), what + " [" + i + "]: " + g[i] + " vs " + r[i]);
    }

    private static CudaBackend cuda() {
        if (!CudaAvailability.isAvailable()) System.out.println("CudaFusedGpuTest skipped: " + CudaAvailability.reason());
        Assumptions.assumeTrue(CudaAvailability.isAvailable(), CudaAvailability.reason());
        return CudaBackend.of(0);
    }

    @Test
    void shapeRules() {
        assertArrayEquals(new long[] {15, 33}, CudaOpsFused.rowsCols("op", new int[] {3, 5, 33}, 1));
        assertArrayEquals(new long[] {3, 165}, CudaOpsFused.rowsCols("op", new int[] {3, 5, 33}, 2));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> CudaOpsFused.rowsCols("layerNormBackward", new int[] {4}, 2));
        assertEquals("cuda layerNormBackward: needs at least 2 dims, got [4]", e.getMessage());
    }

    @Test
    @Tag("gpu")
    void biasGeluMatchesTheCpu() {
        CudaBackend cuda = cuda();
        for (boolean tanh : new boolean[] {false, true})
            for (int[] shape : new int[][] {{45, 65}, {7, 1024}, {3, 5, 33}})
                try (Scope s = Scope.open()) {
                    int cols = shape[shape.length - 1];
                    Tensor x = rand(1, DType.F32, shape), bias = rand(2, DType.F32, cols);
                    Tensor ref = tanh ? x.add(bias).geluTanh() : x.add(bias).gelu();
                    Tensor out = Tensor.empty(cuda, DType.F32, shape);
                    cuda.biasGelu(x.to(cuda), bias.to(cuda), tanh, out);
                    assertClose(ref, out, 1e-5, "biasGelu tanh=" + tanh + " " + java.util.Arrays.toString(shape));
                }
    }

    @Test
    @Tag("gpu")
    void softmaxBackwardMatchesAutograd() {
        CudaBackend cuda = cuda();
        for (DType t : new DType[] {DType.F32, DType.F64})
            for (boolean log : new boolean[] {false, true})
                for (int[] shape : new int[][] {{45, 65}, {7, 1025}, {3, 5, 33}})
                    try (Scope s = Scope.open()) {
                        Tensor x = rand(3, t, shape).requiresGrad(true), g = rand(4, t, shape);
                        Tensor y = log ? x.logSoftmax(-1) : x.softmax(-1);
                        y.backward(g);
                        Tensor dx = Tensor.empty(cuda, t, shape);
                        try (GradMode.Guard ng = GradMode.noGrad()) {
                            cuda.softmaxBackward(y.detach().to(cuda), g.to(cuda), log, dx);
                        }
                        assertClose(x.grad(), dx, t == DType.F32 ? 1e-5 : 1e-12, (log ? "log_" : "") + "softmax backward " + t.pyName());
                    }
    }

    @Test
    @Tag("gpu")
    void layerNormBackwardMatchesAutograd() {
        CudaBackend cuda = cuda();
        for (DType t : new DType[] {DType.F32, DType.F64})
            for (int[] shape : new int[][] {{45, 65}, {7, 1025}, {3, 5, 33}})
                try (Scope s = Scope.open()) {
                    int cols = shape[shape.length - 1];
                    Tensor x = rand(5, t, shape).requiresGrad(true), g = rand(6, t, shape);
                    Tensor w = rand(7, t, cols).requiresGrad(true), b = rand(8, t, cols).requiresGrad(true);
                    x.layerNorm(new int[] {cols}, w, b, 1e-5).backward(g);
                    Tensor dx = Tensor.empty(cuda, t, shape), dw = Tensor.empty(cuda, t, cols), db = Tensor.empty(cuda, t, cols);
                    try (GradMode.Guard ng = GradMode.noGrad()) {
                        cuda.layerNormBackward(g.to(cuda), x.detach().to(cuda), w.detach().to(cuda), 1, 1e-5, dx, dw, db);
                    }
                    double tol = t == DType.F32 ? 1e-4 : 1e-10;
                    assertClose(x.grad(), dx, tol, "layerNorm dx " + t.pyName());
                    assertClose(w.grad(), dw, tol, "layerNorm dw " + t.pyName());
                    assertClose(b.grad(), db, tol, "layerNorm db " + t.pyName());
                }
    }
}
