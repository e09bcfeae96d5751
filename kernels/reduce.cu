// reduce.cu: row-wise (last dim) and column-wise (first dim) reductions of a row-major
// (rows, cols) matrix: softmax / log-softmax (+ backward), layer norm forward / backward,
// sum / mean / max. dtype T = float (_f32) or double (_f64). All sizes are int64.
//
// Loaded at run time with cuModuleLoadData (fatbin from native/build-kernels.sh), launched with
// cuLaunchKernel. All matrices contiguous row-major; pointers already offset to element 0.
// Outputs must not overlap inputs (pointers are __restrict__).
//
// ---- Row kernels (reduce over the last dim) ----
// Launch: block = (BX, BY): BX threads (a multiple of 32, <= 1024) share one row, BY rows per
// block (BX * BY <= 1024); grid = min(ceil(rows / BY), 132 * 8) (blocks stride over rows).
// Guidance: cols <= 256: (32, 8) (a warp per row); cols <= 4096: (128, 1)..(256, 1);
// larger rows: (512, 1) or (1024, 1). Dynamic shared memory: 0 (static <= 256 bytes).
//   kiln_softmax_f32 / kiln_softmax_f64 (const T* x, T* y, int64 rows, int64 cols)
//   kiln_log_softmax_f32 / kiln_log_softmax_f64 (const T* x, T* y, int64 rows, int64 cols)
//       x (rows, cols), y (rows, cols). One online pass (running max + rescaled sum), one write
//       pass; 16-byte packets when cols % (16 / sizeof(T)) == 0 and x, y 16-byte aligned.
//       A NaN in a row gives a NaN row; an all -inf row gives NaN (as PyTorch).
//   kiln_softmax_backward_f32 / kiln_softmax_backward_f64
//       (const T* y, const T* g, T* dx, int64 rows, int64 cols)
//       y = softmax output, g = dL/dy, dx (rows, cols) = y * (g - sum_c(g * y)).
//   kiln_log_softmax_backward_f32 / kiln_log_softmax_backward_f64
//       (const T* y, const T* g, T* dx, int64 rows, int64 cols)
//       y = log-softmax output, dx = g - exp(y) * sum_c(g).
//   kiln_layernorm_forward_f32 / kiln_layernorm_forward_f64
//       (const T* x, const T* w, const T* b, T* y, T* mean, T* rstd, int64 rows, int64 cols, T eps)
//       x (rows, cols), w (cols) or null, b (cols) or null, y (rows, cols),
//       mean (rows) or null, rstd (rows) or null: biased variance (two-pass), rstd = 1/sqrt(var+eps).
//       16-byte packets when cols % (16 / sizeof(T)) == 0 and x, y, w, b are 16-byte aligned.
//   kiln_layernorm_backward_dx_f32 / kiln_layernorm_backward_dx_f64
//       (const T* dy, const T* x, const T* w, const T* mean, const T* rstd, T* dx, int64 rows,
//        int64 cols)
//       dy, x, dx (rows, cols), w (cols) or null, mean/rstd (rows) from the forward;
//       dx = rstd * (g - mean(g) - xhat * mean(g * xhat)), g = dy * w (overwrites dx).
//   kiln_sum_last_f32, kiln_sum_last_f64, kiln_mean_last_f32, kiln_mean_last_f64,
//   kiln_max_last_f32, kiln_max_last_f64
//       (const T* x, T* out, int64 rows, int64 cols): x (rows, cols), out (rows).
//       max is NaN-propagating; max of an empty row is -inf.
//
// ---- Column kernels (reduce over the first dim; bias gradients) ----
// Launch: block = (32, BY) with BY <= 32 (guidance: (32, 16) or (32, 32)); grid =
// min(ceil(cols / 32), 132 * 8). Deterministic (fixed-order shared-memory combine, no atomics).
//   kiln_sum_first_f32, kiln_sum_first_f64, kiln_mean_first_f32, kiln_mean_first_f64,
//   kiln_max_first_f32, kiln_max_first_f64
//       (const T* x, T* out, int64 rows, int64 cols): x (rows, cols), out (cols).
//   kiln_layernorm_backward_dwdb_f32 / kiln_layernorm_backward_dwdb_f64
//       (const T* dy, const T* x, const T* mean, const T* rstd, T* dw, T* db, int64 rows,
//        int64 cols)
//       dy, x (rows, cols), mean/rstd (rows), dw (cols) or null, db (cols) or null:
//       dw = sum_r dy * xhat, db = sum_r dy (overwrites).
//
// Accumulation is in T (per-thread partial sums, then a tree), as PyTorch does for fp32.

#include "kiln_common.cuh"

// ============================================================================================
// Row framework: blockDim.x threads (a multiple of 32) cooperate on one row, blockDim.y rows
// per block, blocks stride over rows. Every thread of a block runs the same number of loop
// iterations (inactive rows just contribute identities), so the __syncthreads in
// row_allreduce are always reached by the whole block.
// ============================================================================================
struct RedSum {
    template <typename T> __device__ static T warp(T v) { return warp_sum(v); }
    template <typename T> __device__ static T identity() { return T(0); }
};
struct RedMax {
    template <typename T> __device__ static T warp(T v) { return warp_max(v); }
    template <typename T> __device__ static T identity() { return k_neg_inf<T>(); }
};

// Reduces v over the blockDim.x threads sharing threadIdx.y; every such thread gets the result.
// sh: shared scratch of >= 32 T (total warps per block <= 32). Call from all threads.
template <typename Red, typename T>
__device__ __forceinline__ T row_allreduce(T v, T* sh) {
    v = Red::warp(v);
    if (blockDim.x == 32) return v;
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    T* s = sh + threadIdx.y * nw;
    __syncthreads();  // earlier readers of sh are done
    if (lane == 0) s[w] = v;
    __syncthreads();
    v = lane < nw ? s[lane] : Red::template identity<T>();
    return Red::warp(v);
}

__device__ __forceinline__ long long row_stride_start() {
    return (long long)blockIdx.x * blockDim.y;
}
__device__ __forceinline__ long long row_stride_step() {
    return (long long)gridDim.x * blockDim.y;
}

// Whether rows of `cols` elements can be read in 16-byte packets from all given pointers.
template <typename T>
__device__ __forceinline__ bool rows_vectorizable(long long cols, const void* a, const void* b,
                                                  const void* c = nullptr) {
    return cols % Lanes<T>::N == 0 && kiln_aligned16(a) && kiln_aligned16(b) && kiln_aligned16(c);
}

// ============================================================================================
// Softmax / log-softmax over the last dim. One online pass (running max m and sum s of
// exp(x - m) per thread), a max then sum all-reduce, and one write pass.
// ============================================================================================
template <typename T>
__device__ __forceinline__ void online_update(T& m, T& s, T x) {
    T nm = k_max(m, x);
    if (nm == k_neg_inf<T>()) return;  // everything so far is -inf: contributes 0
    s = s * k_exp(m - nm) + k_exp(x - nm);
    m = nm;
}

template <typename T, int V>
__device__ __forceinline__ void softmax_row(const T* __restrict__ xr, T* __restrict__ yr,
                                            long long cols, bool active, bool logOut, T* sh) {
    const long long packs = cols / V;
    const Pack<T, V>* xp = reinterpret_cast<const Pack<T, V>*>(xr);
    Pack<T, V>* yp = reinterpret_cast<Pack<T, V>*>(yr);
    T m = k_neg_inf<T>(), s = T(0);
    if (active)
        for (long long c = threadIdx.x; c < packs; c += blockDim.x) {
            Pack<T, V> p = xp[c];
#pragma unroll
            for (int j = 0; j < V; ++j) online_update(m, s, p.v[j]);
        }
    const T rowMax = row_allreduce<RedMax>(m, sh);
    const T scaled = (m == k_neg_inf<T>()) ? T(0) : s * k_exp(m - rowMax);
    const T rowSum = row_allreduce<RedSum>(scaled, sh);
    if (!active) return;
    const T logSum = k_log(rowSum), inv = T(1) / rowSum;
    for (long long c = threadIdx.x; c < packs; c += blockDim.x) {
        Pack<T, V> p = xp[c], r;
#pragma unroll
        for (int j = 0; j < V; ++j)
            r.v[j] = logOut ? p.v[j] - rowMax - logSum : k_exp(p.v[j] - rowMax) * inv;
        yp[c] = r;
    }
}

template <typename T>
__device__ __forceinline__ void softmax_rows(const T* __restrict__ x, T* __restrict__ y,
                                             long long rows, long long cols, bool logOut) {
    __shared__ T sh[32];
    const bool vec = rows_vectorizable<T>(cols, x, y);
    for (long long base = row_stride_start(); base < rows; base += row_stride_step()) {
        const long long row = base + threadIdx.y;
        const bool active = row < rows;
        const long long o = (active ? row : 0) * cols;
        if (vec) softmax_row<T, Lanes<T>::N>(x + o, y + o, cols, active, logOut, sh);
        else softmax_row<T, 1>(x + o, y + o, cols, active, logOut, sh);
    }
}

// softmax backward:     dx = y * (g - sum(g * y))
// log-softmax backward: dx = g - exp(y) * sum(g)
template <typename T>
__device__ __forceinline__ void softmax_backward_rows(const T* __restrict__ y,
                                                      const T* __restrict__ g,
                                                      T* __restrict__ dx, long long rows,
                                                      long long cols, bool logOut) {
    __shared__ T sh[32];
    for (long long base = row_stride_start(); base < rows; base += row_stride_step()) {
        const long long row = base + threadIdx.y;
        const bool active = row < rows;
        const long long o = (active ? row : 0) * cols;
        T acc = T(0);
        if (active)
            for (long long c = threadIdx.x; c < cols; c += blockDim.x)
                acc += logOut ? g[o + c] : g[o + c] * y[o + c];
        const T dot = row_allreduce<RedSum>(acc, sh);
        if (!active) continue;
        for (long long c = threadIdx.x; c < cols; c += blockDim.x) {
            const T yv = y[o + c], gv = g[o + c];
            dx[o + c] = logOut ? gv - k_exp(yv) * dot : yv * (gv - dot);
        }
    }
}

// ============================================================================================
// Layer norm over the last dim: mean, biased variance (two passes), rstd = 1/sqrt(var + eps),
// y = (x - mean) * rstd * w + b. w, b, mean_out, rstd_out may be null.
// ============================================================================================
template <typename T, int V>
__device__ __forceinline__ void layernorm_forward_row(
        const T* __restrict__ xr, const T* __restrict__ w, const T* __restrict__ b,
        T* __restrict__ yr, T* __restrict__ meanOut, T* __restrict__ rstdOut, long long row,
        long long cols, T eps, bool active, T* sh) {
    const long long packs = cols / V;
    const Pack<T, V>* xp = reinterpret_cast<const Pack<T, V>*>(xr);
    T acc = T(0);
    if (active)
        for (long long c = threadIdx.x; c < packs; c += blockDim.x) {
            const Pack<T, V> p = xp[c];
#pragma unroll
            for (int j = 0; j < V; ++j) acc += p.v[j];
        }
    const T mean = row_allreduce<RedSum>(acc, sh) / T(cols);
    acc = T(0);
    if (active)
        for (long long c = threadIdx.x; c < packs; c += blockDim.x) {
            const Pack<T, V> p = xp[c];
#pragma unroll
            for (int j = 0; j < V; ++j) acc += (p.v[j] - mean) * (p.v[j] - mean);
        }
    const T rstd = k_rsqrt(row_allreduce<RedSum>(acc, sh) / T(cols) + eps);
    if (!active) return;
    if (threadIdx.x == 0) {
        if (meanOut) meanOut[row] = mean;
        if (rstdOut) rstdOut[row] = rstd;
    }
    const Pack<T, V>* wp = reinterpret_cast<const Pack<T, V>*>(w);
    const Pack<T, V>* bp = reinterpret_cast<const Pack<T, V>*>(b);
    Pack<T, V>* yp = reinterpret_cast<Pack<T, V>*>(yr);
    for (long long c = threadIdx.x; c < packs; c += blockDim.x) {
        Pack<T, V> r = xp[c];
#pragma unroll
        for (int j = 0; j < V; ++j) r.v[j] = (r.v[j] - mean) * rstd;
        if (w) {
            const Pack<T, V> wv = wp[c];
#pragma unroll
            for (int j = 0; j < V; ++j) r.v[j] *= wv.v[j];
        }
        if (b) {
            const Pack<T, V> bv = bp[c];
#pragma unroll
            for (int j = 0; j < V; ++j) r.v[j] += bv.v[j];
        }
        yp[c] = r;
    }
}

template <typename T>
__device__ __forceinline__ void layernorm_forward_rows(
        const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ b,
        T* __restrict__ y, T* __restrict__ meanOut, T* __restrict__ rstdOut, long long rows,
        long long cols, T eps) {
    __shared__ T sh[32];
    const bool vec = rows_vectorizable<T>(cols, x, y) && kiln_aligned16(w) && kiln_aligned16(b);
    for (long long base = row_stride_start(); base < rows; base += row_stride_step()) {
        const long long row = base + threadIdx.y;
        const bool active = row < rows;
        const long long o = (active ? row : 0) * cols;
        if (vec)
            layernorm_forward_row<T, Lanes<T>::N>(x + o, w, b, y + o, meanOut, rstdOut, row, cols,
                                                  eps, active, sh);
        else
            layernorm_forward_row<T, 1>(x + o, w, b, y + o, meanOut, rstdOut, row, cols, eps,
                                        active, sh);
    }
}

// dx = rstd * (g - mean(g) - xhat * mean(g * xhat)), g = dy * w, xhat = (x - mean) * rstd.
template <typename T>
__device__ __forceinline__ void layernorm_backward_dx_rows(
        const T* __restrict__ dy, const T* __restrict__ x, const T* __restrict__ w,
        const T* __restrict__ mean, const T* __restrict__ rstd, T* __restrict__ dx,
        long long rows, long long cols) {
    __shared__ T sh[32];
    for (long long base = row_stride_start(); base < rows; base += row_stride_step()) {
        const long long row = base + threadIdx.y;
        const bool active = row < rows;
        const long long o = (active ? row : 0) * cols;
        const T mu = active ? mean[row] : T(0), rs = active ? rstd[row] : T(0);
        T sumG = T(0), sumGX = T(0);
        if (active)
            for (long long c = threadIdx.x; c < cols; c += blockDim.x) {
                const T g = w ? dy[o + c] * w[c] : dy[o + c];
                sumG += g;
                sumGX += g * (x[o + c] - mu) * rs;
            }
        const T meanG = row_allreduce<RedSum>(sumG, sh) / T(cols);
        const T meanGX = row_allreduce<RedSum>(sumGX, sh) / T(cols);
        if (!active) continue;
        for (long long c = threadIdx.x; c < cols; c += blockDim.x) {
            const T g = w ? dy[o + c] * w[c] : dy[o + c];
            const T xhat = (x[o + c] - mu) * rs;
            dx[o + c] = rs * (g - meanG - xhat * meanGX);
        }
    }
}

// ============================================================================================
// Reductions over the last dim of (rows, cols): out[r] = sum / mean / max_c x[r, c].
// ============================================================================================
template <typename T, int KIND>  // KIND 0 sum, 1 mean, 2 max
__device__ __forceinline__ void reduce_last_rows(const T* __restrict__ x, T* __restrict__ out,
                                                 long long rows, long long cols) {
    __shared__ T sh[32];
    for (long long base = row_stride_start(); base < rows; base += row_stride_step()) {
        const long long row = base + threadIdx.y;
        const bool active = row < rows;
        const T* xr = x + (active ? row : 0) * cols;
        T acc = KIND == 2 ? k_neg_inf<T>() : T(0);
        if (active)
            for (long long c = threadIdx.x; c < cols; c += blockDim.x)
                acc = KIND == 2 ? k_max(acc, xr[c]) : acc + xr[c];
        const T r = KIND == 2 ? row_allreduce<RedMax>(acc, sh) : row_allreduce<RedSum>(acc, sh);
        if (active && threadIdx.x == 0) out[row] = KIND == 1 ? r / T(cols) : r;
    }
}

// ============================================================================================
// Column framework (reductions over the first dim): blockDim = (32, by), by <= 32. threadIdx.x
// picks a column of a 32-column tile, threadIdx.y strides over rows; blocks stride over tiles.
// Partials are combined in shared memory in a fixed order (deterministic, no atomics).
// ============================================================================================
template <typename T, int KIND>  // KIND 0 sum, 1 mean, 2 max
__device__ __forceinline__ void reduce_first_cols(const T* __restrict__ x, T* __restrict__ out,
                                                  long long rows, long long cols) {
    __shared__ T sh[32][33];
    const long long tiles = (cols + 31) / 32;
    for (long long tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
        const long long col = tile * 32 + threadIdx.x;
        T acc = KIND == 2 ? k_neg_inf<T>() : T(0);
        if (col < cols)
            for (long long r = threadIdx.y; r < rows; r += blockDim.y)
                acc = KIND == 2 ? k_max(acc, x[r * cols + col]) : acc + x[r * cols + col];
        sh[threadIdx.y][threadIdx.x] = acc;
        __syncthreads();
        if (threadIdx.y == 0 && col < cols) {
            for (unsigned k = 1; k < blockDim.y; ++k)
                acc = KIND == 2 ? k_max(acc, sh[k][threadIdx.x]) : acc + sh[k][threadIdx.x];
            out[col] = KIND == 1 ? acc / T(rows) : acc;
        }
        __syncthreads();
    }
}

// dw[c] = sum_r dy[r, c] * (x[r, c] - mean[r]) * rstd[r];  db[c] = sum_r dy[r, c].
template <typename T>
__device__ __forceinline__ void layernorm_backward_dwdb_cols(
        const T* __restrict__ dy, const T* __restrict__ x, const T* __restrict__ mean,
        const T* __restrict__ rstd, T* __restrict__ dw, T* __restrict__ db, long long rows,
        long long cols) {
    __shared__ T shW[32][33];
    __shared__ T shB[32][33];
    const long long tiles = (cols + 31) / 32;
    for (long long tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
        const long long col = tile * 32 + threadIdx.x;
        T accW = T(0), accB = T(0);
        if (col < cols)
            for (long long r = threadIdx.y; r < rows; r += blockDim.y) {
                const T d = dy[r * cols + col];
                accW += d * (x[r * cols + col] - mean[r]) * rstd[r];
                accB += d;
            }
        shW[threadIdx.y][threadIdx.x] = accW;
        shB[threadIdx.y][threadIdx.x] = accB;
        __syncthreads();
        if (threadIdx.y == 0 && col < cols) {
            for (unsigned k = 1; k < blockDim.y; ++k) {
                accW += shW[k][threadIdx.x];
                accB += shB[k][threadIdx.x];
            }
            if (dw) dw[col] = accW;
            if (db) db[col] = accB;
        }
        __syncthreads();
    }
}

// ============================================================================================
// Kernel definitions (KILN_DEF_* macros take the full kernel names first).
// ============================================================================================
#define KILN_DEF_SOFTMAX(SOFTMAX, LOG_SOFTMAX, T)                                                \
    extern "C" __global__ void SOFTMAX(const T* __restrict__ x, T* __restrict__ y, long long rows, \
                                       long long cols) {                                          \
        softmax_rows<T>(x, y, rows, cols, false);                                                 \
    }                                                                                             \
    extern "C" __global__ void LOG_SOFTMAX(const T* __restrict__ x, T* __restrict__ y,            \
                                           long long rows, long long cols) {                      \
        softmax_rows<T>(x, y, rows, cols, true);                                                  \
    }

#define KILN_DEF_SOFTMAX_BACKWARD(SOFTMAX_BWD, LOG_SOFTMAX_BWD, T)                                \
    extern "C" __global__ void SOFTMAX_BWD(const T* __restrict__ y, const T* __restrict__ g,      \
                                           T* __restrict__ dx, long long rows, long long cols) {  \
        softmax_backward_rows<T>(y, g, dx, rows, cols, false);                                    \
    }                                                                                             \
    extern "C" __global__ void LOG_SOFTMAX_BWD(const T* __restrict__ y, const T* __restrict__ g,  \
                                               T* __restrict__ dx, long long rows,                \
                                               long long cols) {                                  \
        softmax_backward_rows<T>(y, g, dx, rows, cols, true);                                     \
    }

#define KILN_DEF_LAYERNORM(FWD, BWD_DX, BWD_DWDB, T)                                              \
    extern "C" __global__ void FWD(const T* __restrict__ x, const T* __restrict__ w,              \
                                   const T* __restrict__ b, T* __restrict__ y,                    \
                                   T* __restrict__ mean, T* __restrict__ rstd, long long rows,    \
                                   long long cols, T eps) {                                       \
        layernorm_forward_rows<T>(x, w, b, y, mean, rstd, rows, cols, eps);                       \
    }                                                                                             \
    extern "C" __global__ void BWD_DX(const T* __restrict__ dy, const T* __restrict__ x,          \
                                      const T* __restrict__ w, const T* __restrict__ mean,        \
                                      const T* __restrict__ rstd, T* __restrict__ dx,             \
                                      long long rows, long long cols) {                           \
        layernorm_backward_dx_rows<T>(dy, x, w, mean, rstd, dx, rows, cols);                      \
    }                                                                                             \
    extern "C" __global__ void BWD_DWDB(const T* __restrict__ dy, const T* __restrict__ x,        \
                                        const T* __restrict__ mean, const T* __restrict__ rstd,   \
                                        T* __restrict__ dw, T* __restrict__ db, long long rows,   \
                                        long long cols) {                                         \
        layernorm_backward_dwdb_cols<T>(dy, x, mean, rstd, dw, db, rows, cols);                   \
    }

// KILN_DEF_REDUCE(name, T, body template, KIND)
#define KILN_DEF_REDUCE(NAME, T, BODY, KIND)                                                      \
    extern "C" __global__ void NAME(const T* __restrict__ x, T* __restrict__ out, long long rows, \
                                    long long cols) {                                             \
        BODY<T, KIND>(x, out, rows, cols);                                                        \
    }

KILN_DEF_SOFTMAX(kiln_softmax_f32, kiln_log_softmax_f32, float)
KILN_DEF_SOFTMAX_BACKWARD(kiln_softmax_backward_f32, kiln_log_softmax_backward_f32, float)
KILN_DEF_LAYERNORM(kiln_layernorm_forward_f32, kiln_layernorm_backward_dx_f32, kiln_layernorm_backward_dwdb_f32, float)
KILN_DEF_REDUCE(kiln_sum_last_f32, float, reduce_last_rows, 0)
KILN_DEF_REDUCE(kiln_mean_last_f32, float, reduce_last_rows, 1)
KILN_DEF_REDUCE(kiln_max_last_f32, float, reduce_last_rows, 2)
KILN_DEF_REDUCE(kiln_sum_first_f32, float, reduce_first_cols, 0)
KILN_DEF_REDUCE(kiln_mean_first_f32, float, reduce_first_cols, 1)
KILN_DEF_REDUCE(kiln_max_first_f32, float, reduce_first_cols, 2)

KILN_DEF_SOFTMAX(kiln_softmax_f64, kiln_log_softmax_f64, double)
KILN_DEF_SOFTMAX_BACKWARD(kiln_softmax_backward_f64, kiln_log_softmax_backward_f64, double)
KILN_DEF_LAYERNORM(kiln_layernorm_forward_f64, kiln_layernorm_backward_dx_f64, kiln_layernorm_backward_dwdb_f64, double)
KILN_DEF_REDUCE(kiln_sum_last_f64, double, reduce_last_rows, 0)
KILN_DEF_REDUCE(kiln_mean_last_f64, double, reduce_last_rows, 1)
KILN_DEF_REDUCE(kiln_max_last_f64, double, reduce_last_rows, 2)
KILN_DEF_REDUCE(kiln_sum_first_f64, double, reduce_first_cols, 0)
KILN_DEF_REDUCE(kiln_mean_first_f64, double, reduce_first_cols, 1)
KILN_DEF_REDUCE(kiln_max_first_f64, double, reduce_first_cols, 2)
