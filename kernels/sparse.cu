// sparse.cu: sparse weight x dense activations (Kiln's compress.sparse formats on the GPU), f32.
// Layout as on the CPU: W [rows x cols] sparse, X^T [cols x batch] and Y^T [rows x batch] dense
// row-major (one row of X^T = one input feature for the whole batch), so a warp walks one row of W
// and its lanes cover contiguous batch columns (coalesced loads of X^T, coalesced stores of Y^T).
// Indices are int32 (as in CsrMatrix / Sparse24Matrix); sizes int64.
//
//   kiln_spmm_csr_f32
//       (const int* rowPtr, const int* colIdx, const float* val, const float* xT, float* yT,
//        int64 rows, int64 batch)
//       rowPtr (rows + 1), colIdx/val (nnz), xT (cols, batch), yT (rows, batch):
//         yT[i, b] = sum_{p in row i} val[p] * xT[colIdx[p], b]
//       One warp per row; the warp stages 32 (col, val) pairs at a time in registers and broadcasts
//       them with __shfl_sync; lane l owns batch columns l, l + 32, ... (up to 4 accumulators per
//       lane, so batch <= 128 per pass; larger batches loop over 128-column passes).
//       Launch: block (32, 8) = 8 rows per block, grid (ceil(rows / 8)).
//   kiln_spmv_csr_f32
//       (const int* rowPtr, const int* colIdx, const float* val, const float* x, float* y, int64 rows)
//       the batch-1 case: y[i] = sum_p val[p] * x[colIdx[p]]; one warp per row, lanes stride over
//       the row's nonzeros, warp shuffle reduction. Launch: block (32, 8), grid (ceil(rows / 8)).
//   kiln_spmm_24_f32
//       (const float* val, const int* meta, const float* xT, float* yT, int64 rows, int64 cols,
//        int64 batch)
//       2:4 layout of Sparse24Matrix: per row vr = 2 * roundup(ceil(cols / 4), 8) values and
//       vr / 16 metadata ints; value q sits at column 4 * (q / 2) + ((meta[q / 16] >> 2 (q % 16)) & 3).
//       xT (cols, batch) unpadded: columns >= cols are skipped. One warp per row, lane l owns
//       batch columns l, l + 32, ... as in kiln_spmm_csr_f32. Launch: block (32, 8), grid
//       (ceil(rows / 8)).
// The peer is cuSPARSE SpMM (CSR, row-major dense operands), called from CudaSparse in Java.
#include "kiln_common.cuh"

#define KILN_SP_ACC 4  // accumulators per lane: 4 * 32 = 128 batch columns per pass

__device__ __forceinline__ long long kiln_sp_row() {
    return (long long)blockIdx.x * blockDim.y + threadIdx.y;
}

extern "C" __global__ void kiln_spmm_csr_f32(const int* __restrict__ rowPtr, const int* __restrict__ colIdx,
                                             const float* __restrict__ val, const float* __restrict__ xT,
                                             float* __restrict__ yT, long long rows, long long batch) {
    const long long i = kiln_sp_row();
    if (i >= rows) return;
    const int lane = threadIdx.x;
    const int start = rowPtr[i], end = rowPtr[i + 1];
    for (long long b0 = 0; b0 < batch; b0 += 32 * KILN_SP_ACC) {
        float acc[KILN_SP_ACC];
#pragma unroll
        for (int a = 0; a < KILN_SP_ACC; ++a) acc[a] = 0.f;
        for (int p0 = start; p0 < end; p0 += 32) {
            const int p = p0 + lane;
            const int myCol = p < end ? colIdx[p] : 0;
            const float myVal = p < end ? val[p] : 0.f;
            const int n = min(32, end - p0);
            for (int t = 0; t < n; ++t) {
                const int c = __shfl_sync(0xffffffffu, myCol, t);
                const float w = __shfl_sync(0xffffffffu, myVal, t);
                const float* xr = xT + (long long)c * batch;
#pragma unroll
                for (int a = 0; a < KILN_SP_ACC; ++a) {
                    const long long b = b0 + lane + 32 * a;
                    if (b < batch) acc[a] = fmaf(w, xr[b], acc[a]);
                }
            }
        }
#pragma unroll
        for (int a = 0; a < KILN_SP_ACC; ++a) {
            const long long b = b0 + lane + 32 * a;
            if (b < batch) yT[i * batch + b] = acc[a];
        }
    }
}

extern "C" __global__ void kiln_spmv_csr_f32(const int* __restrict__ rowPtr, const int* __restrict__ colIdx,
                                             const float* __restrict__ val, const float* __restrict__ x,
                                             float* __restrict__ y, long long rows) {
    const long long i = kiln_sp_row();
    if (i >= rows) return;
    float s = 0.f;
    for (int p = rowPtr[i] + threadIdx.x; p < rowPtr[i + 1]; p += 32) s = fmaf(val[p], x[colIdx[p]], s);
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
    if (threadIdx.x == 0) y[i] = s;
}

extern "C" __global__ void kiln_spmm_24_f32(const float* __restrict__ val, const int* __restrict__ meta,
                                            const float* __restrict__ xT, float* __restrict__ yT,
                                            long long rows, long long cols, long long batch) {
    const long long i = kiln_sp_row();
    if (i >= rows) return;
    const int lane = threadIdx.x;
    const long long groups = ((cols + 3) / 4 + 7) / 8 * 8;
    const long long vr = 2 * groups;
    const float* v = val + i * vr;
    const int* m = meta + i * (vr / 16);
    for (long long b0 = 0; b0 < batch; b0 += 32 * KILN_SP_ACC) {
        float acc[KILN_SP_ACC];
#pragma unroll
        for (int a = 0; a < KILN_SP_ACC; ++a) acc[a] = 0.f;
        for (long long q = 0; q < vr; ++q) {
            const float w = v[q];
            const long long c = 4 * (q / 2) + ((m[q / 16] >> (2 * (q % 16))) & 3);
            if (w == 0.f || c >= cols) continue;  // uniform across the warp: no divergence
            const float* xr = xT + c * batch;
#pragma unroll
            for (int a = 0; a < KILN_SP_ACC; ++a) {
                const long long b = b0 + lane + 32 * a;
                if (b < batch) acc[a] = fmaf(w, xr[b], acc[a]);
            }
        }
#pragma unroll
        for (int a = 0; a < KILN_SP_ACC; ++a) {
            const long long b = b0 + lane + 32 * a;
            if (b < batch) yT[i * batch + b] = acc[a];
        }
    }
}
