package dev.kiln.backend.cuda;

import static org.bytedeco.cuda.global.cublas.CUBLAS_DEFAULT_MATH;
import static org.bytedeco.cuda.global.cublas.CUBLAS_OP_N;
import static org.bytedeco.cuda.global.cublas.CUBLAS_OP_T;
import static org.bytedeco.cuda.global.cublas.CUBLAS_STATUS_SUCCESS;
import static org.bytedeco.cuda.global.cublas.CUBLAS_TF32_TENSOR_OP_MATH;

import dev.kiln.tensor.DType;
import org.bytedeco.cuda.cublas.cublasContext;
import org.bytedeco.cuda.global.cublas;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;

/**
 * GEMM of the CUDA backend through cuBLAS (sgemm / dgemm, strided-batched for rank 3).
 *
 * <p>cuBLAS is column-major; Kiln's c [M,N] is row-major, which cuBLAS reads as c^T [N,M]. So we ask
 * cuBLAS for c^T = op(b)^T op(a)^T. A row-major operand (inner stride 1, row stride ld) is seen by
 * cuBLAS as its transpose with leading dimension ld; a column-major one (e.g. a transposed view,
 * row stride 1) as itself with ld = its column stride; the cuBLAS op flag is chosen so that the
 * product is right either way, so transposed views need no copy. Other strides (non-unit inner
 * stride in both dims) are copied to a contiguous scratch first. Rank-3 operands use the batch
 * stride, 0 for a rank-2 or size-1 batch (broadcast). c must be contiguous (the caller's contract);
 * otherwise the result goes through scratch.
 *
 * <p>TF32 tensor-core math for f32 is opt-in: {@code -Dkiln.cuda.tf32=true} (cublasSetMathMode
 * CUBLAS_TF32_TENSOR_OP_MATH); default is exact fp32 (CUBLAS_DEFAULT_MATH).
 */
final class CublasGemm implements AutoCloseable {
    private final CudaOpsKernels k;
    private final CudaOpsCopy copy;
    private final cublasContext handle = new cublasContext();

    CublasGemm(CudaOpsKernels k, CudaOpsCopy copy) {
        this.k = k;
        this.copy = copy;
        k.makeCurrent();
        status(cublas.cublasCreate_v2(handle), "cublasCreate");
        status(cublas.cublasSetStream_v2(handle, k.stream().handle()), "cublasSetStream");
        boolean tf32 = Boolean.getBoolean("kiln.cuda.tf32");
        status(cublas.cublasSetMathMode(handle, tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
    }

    /** One operand as cuBLAS sees it: pointer, op flag, leading dim, batch stride; owner != 0 is scratch to free. */
    private record Operand(long ptr, int op, long ld, long batchStride, long owner) {}

    /** c = alpha op(a) op(b) + beta c; shapes were checked by the front end (rank 2 or 3, batch first). */
    void gemm(boolean transA, boolean transB, double alpha, CudaOpsView a, CudaOpsView b, double beta, CudaOpsView c) {
        DType t = c.dtype();
        if ((t != DType.F32 && t != DType.F64) || a.dtype() != t || b.dtype() != t) {
            throw new UnsupportedOperationException("cuda: gemm is implemented for float32/float64 only, got "
                    + a.dtype().pyName() + ", " + b.dtype().pyName() + ", " + t.pyName());
        }
        int rc = c.shape().length;
        int m = c.shape()[rc - 2], n = c.shape()[rc - 1];
        int ra = a.shape().length;
        int kk = a.shape()[transA ? ra - 2 : ra - 1];
        int batch = rc == 3 ? c.shape()[0] : 1;
        if ((long) m * n * batch == 0) return;
        if (!c.isContiguous()) {
            long tmp = k.scratch(c.bytes());
            try {
                CudaOpsView ct = CudaOpsView.contiguous(tmp, t, c.shape());
                if (beta != 0) copy.copy(c, ct);
                gemm(transA, transB, alpha, a, b, beta, ct);
                copy.copy(ct, c);
            } finally {
                k.free(tmp);
            }
            return;
        }
        Operand oa = operand(a, transA);
        Operand ob = operand(b, transB);
        try {
            k.makeCurrent();
            run(t, ob, oa, n, m, kk, alpha, beta, c.ptr(), (long) m * n, batch);
        } finally {
            if (oa.owner() != 0) k.free(oa.owner());
            if (ob.owner() != 0) k.free(ob.owner());
        }
    }

    /**
     * One cuBLAS call on the shared handle. A cuBLAS handle must not be used by two threads at once
     * (cuBLAS keeps per-handle workspace and state), so calls are serialized on it; the work itself
     * is queued on the backend's one stream either way.
     */
    private synchronized void run(DType t, Operand first, Operand second, int n, int m, int kk, double alpha, double beta,
                     long c, long strideC, int batch) {
        if (t == DType.F32) {
            try (FloatPointer al = new FloatPointer(1).put((float) alpha); FloatPointer be = new FloatPointer(1).put((float) beta)) {
                status(cublas.cublasSgemmStridedBatched(handle, first.op(), second.op(), n, m, kk, al,
                        new FloatPointer(DevicePointers.at(first.ptr())), (int) first.ld(), first.batchStride(),
                        new FloatPointer(DevicePointers.at(second.ptr())), (int) second.ld(), second.batchStride(), be,
                        new FloatPointer(DevicePointers.at(c)), n, strideC, batch), "cublasSgemmStridedBatched");
            }
        } else {
            try (DoublePointer al = new DoublePointer(1).put(alpha); DoublePointer be = new DoublePointer(1).put(beta)) {
                status(cublas.cublasDgemmStridedBatched(handle, first.op(), second.op(), n, m, kk, al,
                        new DoublePointer(DevicePointers.at(first.ptr())), (int) first.ld(), first.batchStride(),
                        new DoublePointer(DevicePointers.at(second.ptr())), (int) second.ld(), second.batchStride(), be,
                        new DoublePointer(DevicePointers.at(c)), n, strideC, batch), "cublasDgemmStridedBatched");
            }
        }
    }

    /**
     * How cuBLAS reads stored matrix x [r0, r1] (last two dims) so that the result is op(x)^T:
     * row-major storage is seen as x^T (OP_N unless trans), column-major as x (OP_T unless trans).
     */
    private Operand operand(CudaOpsView x, boolean trans) {
        int nd = x.shape().length;
        int r0 = x.shape()[nd - 2], r1 = x.shape()[nd - 1];
        long s0 = x.strides()[nd - 2], s1 = x.strides()[nd - 1];
        long bs = nd == 3 && x.shape()[0] > 1 ? x.strides()[0] : 0;
        if ((s1 == 1 || r1 == 1) && (r0 == 1 || s0 >= r1)) {
            return new Operand(x.ptr(), trans ? CUBLAS_OP_T : CUBLAS_OP_N, r0 == 1 ? Math.max(1, r1) : s0, bs, 0);
        }
        if ((s0 == 1 || r0 == 1) && (r1 == 1 || s1 >= r0)) {
            return new Operand(x.ptr(), trans ? CUBLAS_OP_N : CUBLAS_OP_T, r1 == 1 ? Math.max(1, r0) : s1, bs, 0);
        }
        long tmp = k.scratch(x.bytes());
        copy.copy(x, CudaOpsView.contiguous(tmp, x.dtype(), x.shape()));
        long cbs = nd == 3 && x.shape()[0] > 1 ? (long) r0 * r1 : 0;
        return new Operand(tmp, trans ? CUBLAS_OP_T : CUBLAS_OP_N, Math.max(1, r1), cbs, tmp);
    }

    private static void status(int s, String call) {
        if (s != CUBLAS_STATUS_SUCCESS) {
            throw new CudaException(call + " failed: cuBLAS status " + s + " (" + cublas.cublasGetStatusString(s).getString() + ")", s);
        }
    }

    @Override
    public synchronized void close() {
        status(cublas.cublasDestroy_v2(handle), "cublasDestroy");
    }
}
