// int8_gemm.cu: int8 x int8 -> int32 GEMM (exact) and its float requantization epilogue, the GPU
// side of compress.quant.Int8Gemm. Layout "NT", as Int8Gemm.matmulT on the CPU:
//   a (m, k) int8 row-major, b (n, k) int8 row-major (the weight; K contiguous in both),
//   c (m, n) int32 row-major: c[i, j] = sum_p a[i, p] * b[j, p], exact for k <= 131071.
// Sizes are int64; pointers are device pointers to the first element. Java side: CudaInt8Gemm
// (plan() picks the kernel and the launch shape), peer: cuBLASLt IMMA in CublasLtInt8.
//
//   kiln_int8_gemm_nt_128x128
//       (const int8* a, const int8* b, int* c, int64 m, int64 n, int64 k)
//       Tensor-core kernel: block tile 128 x 128 x 64 (k in bytes), 8 warps as 2 (m) x 4 (n),
//       warp tile 64 x 32 = 4 x 4 mma.sync.m16n8k32.s8 per 32 bytes of k, int32 accumulators in
//       registers. Global -> shared with 16-byte cp.async (zero-fill past m, n and k) into a
//       4-stage ring; shared -> registers with ldmatrix.x4 from an XOR-swizzled layout (16-byte
//       chunk c of row r stored at c ^ ((r >> 1) & 3): conflict-free). Blocks are rasterized in
//       groups of 8 block rows (L2 reuse of b). Epilogue: 8-byte stores, edge-predicated.
//       Needs sm_80+, k % 16 == 0, a and b 16-byte aligned (any m, n).
//       Launch: block (256), grid (ceil(m / 128) * ceil(n / 128)), dynamic shared memory
//       4 * (128 + 128) * 64 = 65536 bytes (set CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES).
//   kiln_int8_gemm_nt_128x256
//       (same arguments) as above with block tile 128 x 256 x 64, warp tile 64 x 64 (4 x 8 mma per
//       32 bytes of k: half the shared-memory traffic per mma), 3 stages, one block per SM.
//       Launch: block (256), grid (ceil(m / 128) * ceil(n / 256)), dynamic shared memory
//       3 * (128 + 256) * 64 = 73728 bytes.
//   kiln_int8_gemm_nt_dp4a
//       (same arguments) fallback for any k and any alignment (and tiny m): a 16 x 16 output tile
//       per block, k staged 64 bytes at a time in shared memory as packed 32-bit words (bytes past
//       k are zero), __dp4a over 16 words per step. Grid-stride over tiles.
//       Launch: block (16, 16), grid (min(ceil(m / 16) * ceil(n / 16), 65536)).
//   kiln_int8_requantize_f32
//       (const int* acc, float* y, int64 m, int64 n, float aScale, int aZero, const float* wScale,
//        const int* wRowSum, const float* bias, int relu)
//       acc (m, n), y (m, n), wScale/wRowSum/bias (n) (bias may be null):
//         y = act(fl(aScale * wScale[j]) * float(acc - aZero * wRowSum[j]) + bias[j])
//       with every operation rounded separately (no FMA contraction), so the bits equal
//       Int8Gemm.requantize's float path on the CPU; relu as Java's Math.max(v, 0) (NaN stays,
//       -0 becomes +0). Grid-stride 1-D. Launch: block (256), grid (min(ceil(m n / 256), 4096)).
// No includes: builds with nvcc and with NVRTC as is.

#define KILN_I8_THREADS 256  // 8 warps per tiled block
#define KILN_I8_BK 64        // k bytes per pipeline stage: 4 chunks of 16 bytes per row

// ---- PTX wrappers (sm_80+) -------------------------------------------------------------------

__device__ __forceinline__ unsigned kiln_i8_smem_addr(const void* p) {
    return static_cast<unsigned>(__cvta_generic_to_shared(p));
}

// 16 bytes global -> shared, asynchronous; bytes == 0 writes 16 zero bytes (src is not read).
__device__ __forceinline__ void kiln_i8_cp_async16(unsigned dst, const void* src, int bytes) {
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(bytes) : "memory");
#endif
}

__device__ __forceinline__ void kiln_i8_cp_async_commit() {
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800
    asm volatile("cp.async.commit_group;\n" ::: "memory");
#endif
}

// Waits until at most N of this thread's committed cp.async groups are still in flight.
template <int N>
__device__ __forceinline__ void kiln_i8_cp_async_wait() {
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
#endif
}

// Four 8x8 b16 matrices (= 8 rows x 16 bytes of int8 each); lanes 8i..8i+7 give matrix i's rows.
// Lane l receives, of each matrix, row l / 4, bytes 4 (l % 4) .. 4 (l % 4) + 3.
__device__ __forceinline__ void kiln_i8_ldmatrix_x4(unsigned (&r)[4], unsigned addr) {
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr)
                 : "memory");
#endif
}

// d (16 x 8, int32) += a (16 x 32, int8, row) * b (32 x 8, int8, col). With g = lane / 4, t = lane % 4:
// a0 = A[g][4t..], a1 = A[g+8][4t..], a2 = A[g][16+4t..], a3 = A[g+8][16+4t..];
// b0 = B[4t..][g], b1 = B[16+4t..][g]; d0, d1 = D[g][2t, 2t+1], d2, d3 = D[g+8][2t, 2t+1].
__device__ __forceinline__ void kiln_i8_mma(int (&d)[4], const unsigned (&a)[4], unsigned b0, unsigned b1) {
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800
    asm("mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#endif
}

// ---- tiled tensor-core kernel ------------------------------------------------------------------

// Byte offset of 16-byte chunk `chunk` (0..3) of row `row` in a swizzled (rows x 64 bytes) tile.
__device__ __forceinline__ unsigned kiln_i8_swz(int row, int chunk) {
    return static_cast<unsigned>(row * KILN_I8_BK + ((chunk ^ ((row >> 1) & 3)) << 4));
}

// Queues the copy of rows [row0, row0 + ROWS) x bytes [k0, k0 + 64) of src (rows_total x k) into
// the swizzled tile at shared address dst; rows past rows_total and chunks past k become zeros.
template <int ROWS>
__device__ __forceinline__ void kiln_i8_load_tile(unsigned dst, const signed char* __restrict__ src,
                                                  long long rows_total, long long row0, long long k,
                                                  long long k0) {
#pragma unroll
    for (int i = 0; i < ROWS * 4 / KILN_I8_THREADS; ++i) {
        const int id = threadIdx.x + i * KILN_I8_THREADS;
        const int r = id >> 2, chunk = id & 3;
        const long long gr = row0 + r, gk = k0 + chunk * 16;
        const bool ok = gr < rows_total && gk < k;
        kiln_i8_cp_async16(dst + kiln_i8_swz(r, chunk), ok ? src + gr * k + gk : src, ok ? 16 : 0);
    }
}

// Block (tm, tn) of block number pid: groups of 8 block rows, walked column by column inside a group.
__device__ __forceinline__ void kiln_i8_block_tile(long long pid, long long tiles_m, long long tiles_n,
                                                   long long& tm, long long& tn) {
    const long long group = 8 * tiles_n;
    const long long first_m = (pid / group) * 8;
    const long long rows = tiles_m - first_m < 8 ? tiles_m - first_m : 8;
    const long long local = pid % group;
    tm = first_m + local % rows;
    tn = local / rows;
}

extern __shared__ __align__(128) unsigned char kiln_i8_dyn_smem[];

// C tile (128 x BN) of one block; STAGES-deep cp.async ring of (128 + BN) x 64-byte stages.
template <int BN, int STAGES>
__device__ __forceinline__ void kiln_i8_gemm_tiled(const signed char* __restrict__ a,
                                                   const signed char* __restrict__ b, int* __restrict__ c,
                                                   long long m, long long n, long long k) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
    __trap();  // host code never launches this below sm_80 (CudaInt8Gemm.plan)
#else
    constexpr int BM = 128, WARPS_N = 4, WM = 64, WN = BN / WARPS_N;
    constexpr int MT = WM / 16, NT = WN / 8;  // mma tiles per warp along m and n
    constexpr int A_BYTES = BM * KILN_I8_BK, STAGE_BYTES = (BM + BN) * KILN_I8_BK;
    static_assert(NT % 2 == 0, "b fragments are loaded two n-tiles per ldmatrix.x4");

    long long tm, tn;
    kiln_i8_block_tile(blockIdx.x, (m + BM - 1) / BM, (n + BN - 1) / BN, tm, tn);
    const long long m0 = tm * BM, n0 = tn * BN;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int wm = warp / WARPS_N, wn = warp % WARPS_N;
    const unsigned smem = kiln_i8_smem_addr(kiln_i8_dyn_smem);
    const int ktiles = static_cast<int>((k + KILN_I8_BK - 1) / KILN_I8_BK);

    // ldmatrix row addresses of this lane: a rows g + 8 (matrix & 1), b rows g + 8 (matrix >> 1)
    const int a_row = wm * WM + (lane & 7) + ((lane >> 3) & 1) * 8, a_chunk = lane >> 4;
    const int b_row = wn * WN + (lane & 7) + (lane >> 4) * 8, b_chunk = (lane >> 3) & 1;

    int acc[MT][NT][4];
#pragma unroll
    for (int i = 0; i < MT; ++i)
#pragma unroll
        for (int j = 0; j < NT; ++j)
#pragma unroll
            for (int e = 0; e < 4; ++e) acc[i][j][e] = 0;

    auto load_stage = [&](int stage, int kt) {
        const unsigned base = smem + stage * STAGE_BYTES;
        kiln_i8_load_tile<BM>(base, a, m, m0, k, static_cast<long long>(kt) * KILN_I8_BK);
        kiln_i8_load_tile<BN>(base + A_BYTES, b, n, n0, k, static_cast<long long>(kt) * KILN_I8_BK);
    };

    auto compute_stage = [&](int stage) {
        const unsigned sa = smem + stage * STAGE_BYTES, sb = sa + A_BYTES;
#pragma unroll
        for (int kk = 0; kk < KILN_I8_BK / 32; ++kk) {
            unsigned af[MT][4], bf[NT][2];
#pragma unroll
            for (int i = 0; i < MT; ++i) kiln_i8_ldmatrix_x4(af[i], sa + kiln_i8_swz(a_row + i * 16, 2 * kk + a_chunk));
#pragma unroll
            for (int jp = 0; jp < NT / 2; ++jp) {
                unsigned r[4];
                kiln_i8_ldmatrix_x4(r, sb + kiln_i8_swz(b_row + jp * 16, 2 * kk + b_chunk));
                bf[2 * jp][0] = r[0];
                bf[2 * jp][1] = r[1];
                bf[2 * jp + 1][0] = r[2];
                bf[2 * jp + 1][1] = r[3];
            }
#pragma unroll
            for (int i = 0; i < MT; ++i)
#pragma unroll
                for (int j = 0; j < NT; ++j) kiln_i8_mma(acc[i][j], af[i], bf[j][0], bf[j][1]);
        }
    };

    // Pipeline: stages 0..STAGES-2 in flight first; iteration kt waits for tile kt, then refills
    // the stage computed in iteration kt - 1 (every thread is past it after the barrier).
#pragma unroll
    for (int s = 0; s < STAGES - 1; ++s) {
        if (s < ktiles) load_stage(s, s);
        kiln_i8_cp_async_commit();
    }
    for (int kt = 0; kt < ktiles; ++kt) {
        kiln_i8_cp_async_wait<STAGES - 2>();
        __syncthreads();
        const int next = kt + STAGES - 1;
        if (next < ktiles) load_stage(next % STAGES, next);
        kiln_i8_cp_async_commit();
        compute_stage(kt % STAGES);
    }
    kiln_i8_cp_async_wait<0>();

    const int g = lane >> 2, t = lane & 3;
    const bool pairs = (n & 1) == 0 && (reinterpret_cast<unsigned long long>(c) & 7) == 0;
#pragma unroll
    for (int i = 0; i < MT; ++i)
#pragma unroll
        for (int j = 0; j < NT; ++j) {
            const long long col = n0 + wn * WN + j * 8 + 2 * t;
#pragma unroll
            for (int h = 0; h < 2; ++h) {
                const long long row = m0 + wm * WM + i * 16 + g + 8 * h;
                if (row >= m || col >= n) continue;
                int* p = c + row * n + col;
                if (pairs) {
                    *reinterpret_cast<int2*>(p) = make_int2(acc[i][j][2 * h], acc[i][j][2 * h + 1]);
                } else {
                    p[0] = acc[i][j][2 * h];
                    if (col + 1 < n) p[1] = acc[i][j][2 * h + 1];
                }
            }
        }
#endif
}

// (name, BN, stages, min blocks per SM): one extern "C" entry point per tile shape.
#define KILN_DEF_I8_TILED(NAME, BN, STAGES, MIN_BLOCKS)                                                 \
    extern "C" __global__ void __launch_bounds__(KILN_I8_THREADS, MIN_BLOCKS)                          \
        NAME(const signed char* __restrict__ a, const signed char* __restrict__ b, int* __restrict__ c, \
             long long m, long long n, long long k) {                                                  \
        kiln_i8_gemm_tiled<BN, STAGES>(a, b, c, m, n, k);                                              \
    }

KILN_DEF_I8_TILED(kiln_int8_gemm_nt_128x128, 128, 4, 2)
KILN_DEF_I8_TILED(kiln_int8_gemm_nt_128x256, 256, 3, 1)

// ---- dp4a fallback -------------------------------------------------------------------------------

// Bytes [k0, k0 + 4) of row `row` of src (rows x k) packed little-endian; bytes past k (or a row
// past rows) are zero.
__device__ __forceinline__ int kiln_i8_pack4(const signed char* __restrict__ src, long long row, long long rows,
                                             long long k, long long k0) {
    unsigned w = 0;
    if (row < rows) {
        const signed char* p = src + row * k;
#pragma unroll
        for (int i = 0; i < 4; ++i)
            if (k0 + i < k) w |= static_cast<unsigned>(static_cast<unsigned char>(p[k0 + i])) << (8 * i);
    }
    return static_cast<int>(w);
}

extern "C" __global__ void kiln_int8_gemm_nt_dp4a(const signed char* __restrict__ a, const signed char* __restrict__ b,
                                                  int* __restrict__ c, long long m, long long n, long long k) {
    __shared__ int sa[16][17], sb[16][17];  // 16 rows x 16 words (64 bytes of k), padded
    const int tx = threadIdx.x, ty = threadIdx.y;
    const long long tiles_n = (n + 15) / 16, tiles = ((m + 15) / 16) * tiles_n;
    for (long long tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
        const long long m0 = (tile / tiles_n) * 16, n0 = (tile % tiles_n) * 16;
        int acc = 0;
        for (long long k0 = 0; k0 < k; k0 += 64) {
            sa[ty][tx] = kiln_i8_pack4(a, m0 + ty, m, k, k0 + 4 * tx);
            sb[ty][tx] = kiln_i8_pack4(b, n0 + ty, n, k, k0 + 4 * tx);
            __syncthreads();
#pragma unroll
            for (int w = 0; w < 16; ++w) acc = __dp4a(sa[ty][w], sb[tx][w], acc);
            __syncthreads();
        }
        if (m0 + ty < m && n0 + tx < n) c[(m0 + ty) * n + n0 + tx] = acc;
    }
}

// ---- requantization epilogue ---------------------------------------------------------------------

extern "C" __global__ void kiln_int8_requantize_f32(const int* __restrict__ acc, float* __restrict__ y, long long m,
                                                    long long n, float aScale, int aZero,
                                                    const float* __restrict__ wScale,
                                                    const int* __restrict__ wRowSum,
                                                    const float* __restrict__ bias, int relu) {
    const long long total = m * n, step = static_cast<long long>(gridDim.x) * blockDim.x;
    for (long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += step) {
        const long long j = i % n;
        const float scale = __fmul_rn(aScale, wScale[j]);
        // Java int arithmetic wraps: do the int products and differences in unsigned
        const unsigned zero_sum = static_cast<unsigned>(aZero) * static_cast<unsigned>(wRowSum[j]);
        const int centered = static_cast<int>(static_cast<unsigned>(acc[i]) - zero_sum);
        float v = __fadd_rn(__fmul_rn(scale, __int2float_rn(centered)), bias != nullptr ? bias[j] : 0.0f);
        if (relu && !(v > 0.0f) && v == v) v = 0.0f;
        y[i] = v;
    }
}
