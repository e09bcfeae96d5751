package dev.kiln.backend.cuda;

import static org.bytedeco.cuda.global.cublas.CUBLASLT_MATMUL_DESC_TRANSA;
import static org.bytedeco.cuda.global.cublas.CUBLASLT_MATMUL_DESC_TRANSB;
import static org.bytedeco.cuda.global.cublas.CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES;
import static org.bytedeco.cuda.global.cublas.CUBLAS_COMPUTE_32F;
import static org.bytedeco.cuda.global.cublas.CUBLAS_COMPUTE_32I;
import static org.bytedeco.cuda.global.cublas.CUBLAS_GEMM_DEFAULT;
import static org.bytedeco.cuda.global.cublas.CUBLAS_OP_N;
import static org.bytedeco.cuda.global.cublas.CUBLAS_OP_T;
import static org.bytedeco.cuda.global.cublas.CUBLAS_STATUS_SUCCESS;
import static org.bytedeco.cuda.global.cudart.CUDA_R_16BF;
import static org.bytedeco.cuda.global.cudart.CUDA_R_32I;
import static org.bytedeco.cuda.global.cudart.CUDA_R_8I;

import java.util.HashMap;
import java.util.Map;
import org.bytedeco.cuda.cublas.cublasContext;
import org.bytedeco.cuda.cublas.cublasLtContext;
import org.bytedeco.cuda.cublas.cublasLtMatmulDescOpaque_t;
import org.bytedeco.cuda.cublas.cublasLtMatmulHeuristicResult_t;
import org.bytedeco.cuda.cublas.cublasLtMatmulPreferenceOpaque_t;
import org.bytedeco.cuda.cublas.cublasLtMatrixLayoutOpaque_t;
import org.bytedeco.cuda.global.cublas;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerPointer;

/**
 * The NVIDIA peers of {@link CudaInt8Gemm}, on its stream and memory: cuBLASLt int8 GEMM (IMMA,
 * {@code cublasLtMatmul} with CUDA_R_8I inputs, CUDA_R_32I output, CUBLAS_COMPUTE_32I, int32
 * alpha = 1 / beta = 0) and a cuBLAS bf16 GEMM ({@code cublasGemmEx}, bf16 in and out, fp32
 * compute) for the same C [M, N] = A [M, K] B [N, K]^T, all row-major.
 *
 * <p>cuBLAS is column-major: row-major C [M, N] is column-major C^T [N, M] = B A^T, where row-major
 * B [N, K] is column-major [K, N] (ld K) used transposed, and row-major A [M, K] is column-major
 * [K, M] (ld K) used as is: the "TN" form, the only one cuBLASLt's IMMA kernels take with the
 * regular (column) ordering. They also need the cuBLAS m (our N) and k multiples of 4, leading
 * dimensions (K, K, N) multiples of 4 and 4-byte aligned pointers: {@link #unsupported} says when a
 * shape falls outside. The heuristic's first algorithm is cached per shape; the workspace is
 * 32 MiB. GPU host only (compile-only elsewhere).
 */
public final class CublasLtInt8 implements AutoCloseable {
    static final long WORKSPACE_BYTES = 32L << 20;

    private final CudaInt8Gemm gpu;
    private final cublasLtContext lt = new cublasLtContext();
    private final cublasContext blas = new cublasContext();
    private final long workspace;
    private final Map<String, Plan> plans = new HashMap<>();

    public CublasLtInt8(CudaInt8Gemm gpu) {
        this.gpu = gpu;
        status(cublas.cublasLtCreate(lt), "cublasLtCreate");
        status(cublas.cublasCreate_v2(blas), "cublasCreate");
        status(cublas.cublasSetStream_v2(blas, gpu.stream().handle()), "cublasSetStream");
        workspace = gpu.malloc(WORKSPACE_BYTES);
    }

    /**
     * Why cuBLASLt's IMMA path cannot take C [m, n] = A [m, k] B [n, k]^T in this layout, or null
     * when it can (sizes only; cudaMalloc'd pointers are aligned).
     */
    public static String unsupported(int m, int n, int k) {
        if (m < 1 || n < 1 || k < 1) return "empty or negative size " + m + " x " + n + " x " + k;
        if (n % 4 != 0) return "N = " + n + " is not a multiple of 4 (cuBLASLt IMMA, TN form)";
        if (k % 4 != 0) return "K = " + k + " is not a multiple of 4 (cuBLASLt IMMA, TN form)";
        return null;
    }

    /** Queues C (int32 [m, n]) = A (int8 [m, k]) B (int8 [n, k])^T with cublasLtMatmul. */
    public void matmulT(long a, long b, long c, int m, int n, int k) {
        String why = unsupported(m, n, k);
        if (why != null) throw new IllegalArgumentException("cublasLt int8: " + why);
        Plan p = plans.computeIfAbsent(m + "x" + n + "x" + k, key -> new Plan(m, n, k));
        CudaContext.makeCurrent(gpu.device());
        try (IntPointer one = new IntPointer(1).put(1); IntPointer zero = new IntPointer(1).put(0)) {
            status(cublas.cublasLtMatmul(lt, p.desc, one, DevicePointers.at(b), p.layoutB, DevicePointers.at(a), p.layoutA, zero,
                    DevicePointers.at(c), p.layoutC, DevicePointers.at(c), p.layoutC, p.heuristic.algo(),
                    DevicePointers.at(workspace), WORKSPACE_BYTES, gpu.stream().handle()), "cublasLtMatmul(" + m + "x" + n + "x" + k + ")");
        }
    }

    /** Queues C (bf16 [m, n]) = A (bf16 [m, k]) B (bf16 [n, k])^T with cublasGemmEx, fp32 accumulation. */
    public void bf16MatmulT(long a, long b, long c, int m, int n, int k) {
        CudaContext.makeCurrent(gpu.device());
        try (FloatPointer one = new FloatPointer(1).put(1f); FloatPointer zero = new FloatPointer(1).put(0f)) {
            status(cublas.cublasGemmEx(blas, CUBLAS_OP_T, CUBLAS_OP_N, n, m, k, one, DevicePointers.at(b), CUDA_R_16BF, k,
                    DevicePointers.at(a), CUDA_R_16BF, k, zero, DevicePointers.at(c), CUDA_R_16BF, n, CUBLAS_COMPUTE_32F,
                    CUBLAS_GEMM_DEFAULT), "cublasGemmEx bf16(" + m + "x" + n + "x" + k + ")");
        }
    }

    /** Descriptors and the chosen algorithm for one shape (cuBLAS's A = our B, cuBLAS's B = our A). */
    private final class Plan implements AutoCloseable {
        final cublasLtMatmulDescOpaque_t desc;
        final cublasLtMatrixLayoutOpaque_t layoutB, layoutA, layoutC;
        final cublasLtMatmulHeuristicResult_t heuristic = new cublasLtMatmulHeuristicResult_t();

        Plan(int m, int n, int k) {
            try (PointerPointer<Pointer> out = new PointerPointer<>(1)) {
                status(cublas.cublasLtMatmulDescCreate(out, CUBLAS_COMPUTE_32I, CUDA_R_32I), "cublasLtMatmulDescCreate");
                desc = new cublasLtMatmulDescOpaque_t(out.get(0));
                layoutB = layout(out, CUDA_R_8I, k, n, k);
                layoutA = layout(out, CUDA_R_8I, k, m, k);
                layoutC = layout(out, CUDA_R_32I, n, m, n);
            }
            try {
                opAttribute(CUBLASLT_MATMUL_DESC_TRANSA, CUBLAS_OP_T);
                opAttribute(CUBLASLT_MATMUL_DESC_TRANSB, CUBLAS_OP_N);
                choose(m, n, k);
            } catch (RuntimeException e) { // e.g. no algorithm for this shape: free the descriptors
                try {
                    close();
                } catch (RuntimeException suppressed) {
                    e.addSuppressed(suppressed);
                }
                throw e;
            }
        }

        private cublasLtMatrixLayoutOpaque_t layout(PointerPointer<Pointer> out, int type, long rows, long cols, long ld) {
            status(cublas.cublasLtMatrixLayoutCreate(out, type, rows, cols, ld), "cublasLtMatrixLayoutCreate");
            return new cublasLtMatrixLayoutOpaque_t(out.get(0));
        }

        private void opAttribute(int attr, int op) {
            try (IntPointer v = new IntPointer(1).put(op)) {
                status(cublas.cublasLtMatmulDescSetAttribute(desc, attr, v, 4), "cublasLtMatmulDescSetAttribute");
            }
        }

        private void choose(int m, int n, int k) {
            try (PointerPointer<Pointer> out = new PointerPointer<>(1); LongPointer ws = new LongPointer(1).put(WORKSPACE_BYTES)) {
                status(cublas.cublasLtMatmulPreferenceCreate(out), "cublasLtMatmulPreferenceCreate");
                cublasLtMatmulPreferenceOpaque_t pref = new cublasLtMatmulPreferenceOpaque_t(out.get(0));
                try {
                    status(cublas.cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, ws, 8),
                            "cublasLtMatmulPreferenceSetAttribute");
                    int[] found = new int[1];
                    status(cublas.cublasLtMatmulAlgoGetHeuristic(lt, desc, layoutB, layoutA, layoutC, layoutC, pref, 1, heuristic, found),
                            "cublasLtMatmulAlgoGetHeuristic");
                    if (found[0] < 1) throw new CudaException("cublasLt int8: no algorithm for " + m + "x" + n + "x" + k, 0);
                } finally {
                    status(cublas.cublasLtMatmulPreferenceDestroy(pref), "cublasLtMatmulPreferenceDestroy");
                }
            }
        }

        @Override
        public void close() {
            int[] r = {cublas.cublasLtMatrixLayoutDestroy(layoutA), cublas.cublasLtMatrixLayoutDestroy(layoutB),
                    cublas.cublasLtMatrixLayoutDestroy(layoutC), cublas.cublasLtMatmulDescDestroy(desc)};
            heuristic.close();
            for (int x : r) status(x, "cublasLtMatrixLayoutDestroy/MatmulDescDestroy");
        }
    }

    private static void status(int s, String call) {
        if (s != CUBLAS_STATUS_SUCCESS) {
            throw new CudaException(call + " failed: cuBLAS status " + s + " (" + cublas.cublasGetStatusString(s).getString() + ")", s);
        }
    }

    @Override
    public void close() {
        CudaContext.makeCurrent(gpu.device());
        RuntimeException first = null;
        for (Plan p : plans.values()) {
            try {
                p.close();
            } catch (RuntimeException e) {
                if (first == null) first = e;
            }
        }
        plans.clear();
        gpu.free(workspace);
        int rb = cublas.cublasDestroy_v2(blas), rl = cublas.cublasLtDestroy(lt);
        if (first != null) throw first;
        status(rb, "cublasDestroy");
        status(rl, "cublasLtDestroy");
    }
}
