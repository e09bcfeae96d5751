// optim.cu: fused optimizer updates, one pass over the parameters (PyTorch semantics).
// dtype T = float (_f32) or double (_f64); scalars are passed as T, flags as int32, n as int64.
// All arrays are contiguous with n elements; p and the state buffers are updated in place and
// must be distinct buffers (pointers are __restrict__).
//
// Loaded at run time with cuModuleLoadData (fatbin from native/build-kernels.sh), launched with
// cuLaunchKernel. Launch: 256 threads per block; grid = min(ceil(n / (256 * L)), 132 * 8) with
// L = 16 / sizeof(T) (elements per 16-byte packet). Grid-stride loops: any grid is correct.
// Packets are used when every array is 16-byte aligned, else one element per iteration.
//
//   kiln_sgd_f32 / kiln_sgd_f64
//       (T* p, const T* g, T* buf, int64 n, T lr, T momentum, T dampening, T weight_decay,
//        int32 nesterov, int32 first)
//       p (n), g (n), buf (n) momentum buffer (may be null when momentum == 0):
//         d = g + weight_decay * p
//         if momentum != 0: buf = first ? d : momentum * buf + (1 - dampening) * d
//                           d = nesterov ? d + momentum * buf : buf
//         p -= lr * d
//       `first` is nonzero on the first step (PyTorch: the buffer does not exist yet, so it is
//       set to d without dampening).
//   kiln_adam_f32 / kiln_adam_f64
//       (T* p, const T* g, T* m, T* v, int64 n, T lr, T beta1, T beta2, T eps, T weight_decay,
//        T bias_correction1, T bias_correction2, int32 decoupled)
//       p, g, m (first moment), v (second moment), all (n):
//         decoupled (AdamW): p *= 1 - lr * weight_decay     else (Adam, L2): g += weight_decay * p
//         m = beta1 * m + (1 - beta1) * g
//         v = beta2 * v + (1 - beta2) * g * g
//         p -= (lr / bias_correction1) * m / (sqrt(v) / sqrt(bias_correction2) + eps)
//       bias_correction1 = 1 - beta1^t, bias_correction2 = 1 - beta2^t for step t >= 1
//       (computed on the host in double); pass 1, 1 to disable bias correction.
//       Not covered: amsgrad, maximize, capturable/tensor lr (the host falls back or rejects).
#include "kiln_common.cuh"

template <typename T> struct SgdParams {
    T lr, momentum, dampening, wd;
    bool nesterov, first, hasBuf;
};

template <typename T>
__device__ __forceinline__ void sgd_one(T& p, T g, T& buf, const SgdParams<T>& s) {
    T d = g + s.wd * p;
    if (s.hasBuf) {
        buf = s.first ? d : s.momentum * buf + (T(1) - s.dampening) * d;
        d = s.nesterov ? d + s.momentum * buf : buf;
    }
    p -= s.lr * d;
}

template <typename T>
__device__ __forceinline__ void sgd(T* __restrict__ p, const T* __restrict__ g,
                                    T* __restrict__ buf, long long n, const SgdParams<T>& s) {
    const int N = Lanes<T>::N;
    long long start = 0;
    if (kiln_aligned16(p) && kiln_aligned16(g) && kiln_aligned16(buf)) {
        const long long packs = n / N;
        Pack<T, N>* pp = reinterpret_cast<Pack<T, N>*>(p);
        const Pack<T, N>* gp = reinterpret_cast<const Pack<T, N>*>(g);
        Pack<T, N>* bp = reinterpret_cast<Pack<T, N>*>(buf);
        for (long long i = kiln_tid(); i < packs; i += kiln_nthreads()) {
            Pack<T, N> pv = pp[i], gv = gp[i], bv = Pack<T, N>();
            if (s.hasBuf && !s.first) bv = bp[i];
#pragma unroll
            for (int j = 0; j < N; ++j) sgd_one(pv.v[j], gv.v[j], bv.v[j], s);
            pp[i] = pv;
            if (s.hasBuf) bp[i] = bv;
        }
        start = packs * N;
    }
    for (long long i = start + kiln_tid(); i < n; i += kiln_nthreads()) {
        T b = (s.hasBuf && !s.first) ? buf[i] : T(0);
        sgd_one(p[i], g[i], b, s);
        if (s.hasBuf) buf[i] = b;
    }
}

template <typename T> struct AdamParams {
    T lr, beta1, beta2, eps, wd, bc1, bc2;
    bool decoupled;
};

template <typename T>
__device__ __forceinline__ void adam_one(T& p, T g, T& m, T& v, const AdamParams<T>& a) {
    if (a.decoupled) p *= T(1) - a.lr * a.wd;
    else g += a.wd * p;
    m = a.beta1 * m + (T(1) - a.beta1) * g;
    v = a.beta2 * v + (T(1) - a.beta2) * g * g;
    const T denom = k_sqrt(v) / k_sqrt(a.bc2) + a.eps;
    p -= (a.lr / a.bc1) * m / denom;
}

template <typename T>
__device__ __forceinline__ void adam(T* __restrict__ p, const T* __restrict__ g,
                                     T* __restrict__ m, T* __restrict__ v, long long n,
                                     const AdamParams<T>& a) {
    const int N = Lanes<T>::N;
    long long start = 0;
    if (kiln_aligned16(p) && kiln_aligned16(g) && kiln_aligned16(m) && kiln_aligned16(v)) {
        const long long packs = n / N;
        Pack<T, N>* pp = reinterpret_cast<Pack<T, N>*>(p);
        const Pack<T, N>* gp = reinterpret_cast<const Pack<T, N>*>(g);
        Pack<T, N>* mp = reinterpret_cast<Pack<T, N>*>(m);
        Pack<T, N>* vp = reinterpret_cast<Pack<T, N>*>(v);
        for (long long i = kiln_tid(); i < packs; i += kiln_nthreads()) {
            Pack<T, N> pv = pp[i], gv = gp[i], mv = mp[i], vv = vp[i];
#pragma unroll
            for (int j = 0; j < N; ++j) adam_one(pv.v[j], gv.v[j], mv.v[j], vv.v[j], a);
            pp[i] = pv;
            mp[i] = mv;
            vp[i] = vv;
        }
        start = packs * N;
    }
    for (long long i = start + kiln_tid(); i < n; i += kiln_nthreads())
        adam_one(p[i], g[i], m[i], v[i], a);
}

// ============================================================================================
// Kernel definitions (KILN_DEF_* macros take the full kernel names first).
// ============================================================================================
#define KILN_DEF_SGD(NAME, T)                                                                    \
    extern "C" __global__ void NAME(T* __restrict__ p, const T* __restrict__ g,                 \
                                    T* __restrict__ buf, long long n, T lr, T momentum,         \
                                    T dampening, T weight_decay, int nesterov, int first) {     \
        SgdParams<T> s;                                                                          \
        s.lr = lr; s.momentum = momentum; s.dampening = dampening; s.wd = weight_decay;          \
        s.nesterov = nesterov != 0; s.first = first != 0;                                        \
        s.hasBuf = momentum != T(0) && buf != nullptr;                                           \
        sgd<T>(p, g, buf, n, s);                                                                 \
    }

#define KILN_DEF_ADAM(NAME, T)                                                                   \
    extern "C" __global__ void NAME(T* __restrict__ p, const T* __restrict__ g,                 \
                                    T* __restrict__ m, T* __restrict__ v, long long n, T lr,    \
                                    T beta1, T beta2, T eps, T weight_decay,                    \
                                    T bias_correction1, T bias_correction2, int decoupled) {    \
        AdamParams<T> a;                                                                         \
        a.lr = lr; a.beta1 = beta1; a.beta2 = beta2; a.eps = eps; a.wd = weight_decay;           \
        a.bc1 = bias_correction1; a.bc2 = bias_correction2; a.decoupled = decoupled != 0;        \
        adam<T>(p, g, m, v, n, a);                                                               \
    }

KILN_DEF_SGD(kiln_sgd_f32, float)
KILN_DEF_SGD(kiln_sgd_f64, double)
KILN_DEF_ADAM(kiln_adam_f32, float)
KILN_DEF_ADAM(kiln_adam_f64, double)
