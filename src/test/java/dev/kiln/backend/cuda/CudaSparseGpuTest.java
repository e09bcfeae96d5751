package dev.kiln.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kiln.compress.sparse.CsrMatrix;
import dev.kiln.compress.sparse.Sparse24Matrix;
import dev.kiln.compress.sparse.SparseMatmul;
import dev.kiln.compress.sparse.SparseMatrix;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * kernels/sparse.cu and the cuSPARSE peer on a real device, against the CPU sparse kernels: CSR
 * (batch 64 and 1) and 2:4 (batch 64) on odd shapes, then a 4096 x 4096, 90%-sparse timing of
 * Kiln's CSR kernel vs cusparseSpMM (printed; tagged "timing" so that tools/gpu-check runs it without
 * CUDA_LAUNCH_BLOCKING). The cuSPARSE peer is optional: without libcusparse its checks are skipped
 * with the reason and Kiln's own kernels are still checked. Tagged gpu; skips without a device.
 */
@Tag("gpu")
class CudaSparseGpuTest {
    @BeforeAll
    static void needsCuda() {
        if (!CudaAvailability.isAvailable()) System.out.println("CudaSparseGpuTest skipped: " + CudaAvailability.reason());
        Assumptions.assumeTrue(CudaAvailability.isAvailable(), CudaAvailability.reason());
    }

    private static float[] random(long seed, int n, double sparsity) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = r.nextDouble() < sparsity ? 0 : (float) (r.nextDouble() * 2 - 1);
        return v;
    }

    private static void assertClose(float[] ref, float[] got, String what) {
        double worst = 0;
        for (int i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(ref[i] - got[i]) / (1 + Math.abs(ref[i])));
        assertTrue(worst < 1e-4, what + ": max rel error " + worst);
    }

    @Test
    void kernelsMatchTheCpu() {
        try (CudaSparse gpu = new CudaSparse(0)) {
            forEachCase((x, batch, n, k, csr, s24) -> {
                try (CudaSparse.Uploaded w = gpu.upload(csr)) {
                    assertClose(SparseMatmul.linear(x, batch, csr), gpu.linear(x, batch, w), "csr " + n + "x" + k + " b" + batch);
                }
                try (CudaSparse.Uploaded w = gpu.upload(s24)) {
                    assertClose(SparseMatmul.linear(x, batch, s24), gpu.linear(x, batch, w), "2:4 " + n + "x" + k + " b" + batch);
                }
            });
        }
    }

    @Test
    void cusparsePeerMatchesTheCpu() {
        try (CudaSparse gpu = new CudaSparse(0)) {
            CusparseSpmm peer = peerOrSkip(gpu);
            try (peer) {
                forEachCase((x, batch, n, k, csr, s24) -> {
                    try (CudaSparse.Uploaded w = gpu.upload(csr)) {
                        assertClose(SparseMatmul.linear(x, batch, csr), peer.linear(x, batch, w), "cusparse " + n + "x" + k + " b" + batch);
                    }
                });
            }
        }
    }

    private static CusparseSpmm peerOrSkip(CudaSparse gpu) {
        try {
            return new CusparseSpmm(gpu);
        } catch (IllegalStateException e) { // libcusparse or one of its symbols is missing
            System.out.println("CudaSparseGpuTest: cuSPARSE peer skipped: " + e.getMessage());
            Assumptions.abort("cuSPARSE peer unavailable: " + e.getMessage());
            throw e;
        }
    }

    interface Case {
        void run(float[] x, int batch, int n, int k, SparseMatrix csr, SparseMatrix s24);
    }

    private static void forEachCase(Case c) {
        int[][] shapes = {{1, 1}, {37, 129}, {300, 513}};
        for (int[] s : shapes)
            for (int batch : new int[] {1, 64, 130}) {
                int n = s[0], k = s[1];
                float[] d = random(n * 31L + k, n * k, 0.8);
                float[] x = random(batch, batch * k, 0);
                SparseMatrix csr = CsrMatrix.fromDense(d, n, k);
                SparseMatrix s24 = Sparse24Matrix.fromDense(Sparse24Matrix.keepLargestTwoOfFour(d.clone(), n, k), n, k);
                c.run(x, batch, n, k, csr, s24);
            }
    }

    @Test
    @Tag("timing")
    void timingKilnCsrVsCusparse() {
        int n = 4096, batch = 64;
        try (CudaSparse gpu = new CudaSparse(0)) {
            CsrMatrix csr = CsrMatrix.fromDense(random(1, n * n, 0.9), n, n);
            try (CudaSparse.Uploaded w = gpu.upload(csr)) {
                long dx = gpu.upload(random(2, n * batch, 0)), dy = gpu.memory().malloc(4L * n * batch);
                try {
                    double kiln = time(() -> gpu.launch(w, dx, dy, batch), gpu);
                    String peer;
                    try (CusparseSpmm cus = new CusparseSpmm(gpu)) {
                        double t = time(() -> cus.run(csr, w, dx, dy, batch), gpu);
                        peer = String.format("cusparseSpMM %.3f ms (%.2fx)", t, t / kiln);
                    } catch (IllegalStateException e) {
                        peer = "cusparseSpMM unavailable (" + e.getMessage() + ")";
                    }
                    System.out.printf("sparse GPU 4096x4096 90%% batch 64: kiln csr %.3f ms, %s%n", kiln, peer);
                } finally {
                    gpu.memory().free(dx);
                    gpu.memory().free(dy);
                }
            }
        }
    }

    private static double time(Runnable r, CudaSparse gpu) {
        for (int i = 0; i < 3; i++) r.run();
        gpu.stream().synchronize();
        long t0 = System.nanoTime();
        int reps = 20;
        for (int i = 0; i < reps; i++) r.run();
        gpu.stream().synchronize();
        return (System.nanoTime() - t0) / 1e6 / reps;
    }
}
