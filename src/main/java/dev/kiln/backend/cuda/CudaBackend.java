package dev.kiln.backend.cuda;

import static dev.kiln.backend.cuda.CudaException.check;

import dev.kiln.backend.Backend;
import dev.kiln.backend.Backends;
import dev.kiln.ops.BinaryOp;
import dev.kiln.ops.Conv2dParams;
import dev.kiln.ops.Pool2dParams;
import dev.kiln.ops.PoolOp;
import dev.kiln.ops.ReduceOp;
import dev.kiln.ops.UnaryOp;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Storage;
import dev.kiln.tensor.Tensor;
import java.util.Arrays;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import org.bytedeco.cuda.global.cudart;

/**
 * The CUDA backend (name {@code "cuda"}), one instance per device ({@link #of(int)}; device 0 by
 * default through {@code Backends.cuda()}). Memory comes from a {@link CachingAllocator} over
 * cudaMalloc and is zero-filled on the backend's stream; every kernel, copy and cuBLAS call is queued
 * on that one non-blocking stream, so work is ordered and scratch/tensor memory freed on the host
 * can be reused by later queued work without a sync. {@link #synchronize()} waits for the stream.
 *
 * <p>Host transfers ({@link #copyFromHost}, {@link #copyToHost}) are cudaMemcpyAsync between the host
 * tensor's off-heap segment (pageable memory, no pinned staging yet: cudart stages it internally)
 * and the device, followed by a stream sync, so the host memory may be reused as soon as they return.
 *
 * <p>Implemented: allocate, copy (memcpy / cast.cu), unary, binary, reluBackward (elementwise.cu),
 * softmax (any axis), layerNorm, reduce SUM/MEAN/MAX over any axes (reduce.cu), gemm
 * (cuBLAS), sgdStep, adamStep (optim.cu); f32/f64 for compute, every dtype for copies and casts.
 * Fused ops outside the Backend interface (public methods here): bias+GELU, softmax / log-softmax
 * backward, layer-norm backward. Not yet: where (no kernel), conv2d and its backward, pool2d and its backward, gather, scatterAdd,
 * reductions other than SUM/MEAN/MAX, compute on bf16/f16/integers: they throw
 * UnsupportedOperationException naming the op (and dtype). Requires {@link CudaAvailability#isAvailable()}.
 */
public final class CudaBackend implements Backend {
    private static final ConcurrentMap<Integer, CudaBackend> DEVICES = new ConcurrentHashMap<>();

    private final int device;
    private final CachingAllocator allocator;
    private final CudaOpsKernels kernels;
    private final CudaOpsCopy copies;
    private final CudaOpsElementwise elementwise;
    private final CudaOpsReduce reductions;
    private final CublasGemm blas;
    private final CudaOpsFused fused;

    private CudaBackend(int device) {
        this.device = device;
        this.allocator = new CachingAllocator(new CudaDeviceMemory(device));
        CudaContext.makeCurrent(device);
        this.kernels = new CudaOpsKernels(device, CudaStream.create(true), allocator);
        this.copies = new CudaOpsCopy(kernels);
        this.elementwise = new CudaOpsElementwise(kernels, copies);
        this.reductions = new CudaOpsReduce(kernels, copies);
        this.blas = new CublasGemm(kernels, copies);
        this.fused = new CudaOpsFused(kernels, copies);
        dev.kiln.tensor.MemoryStats.register("cuda:" + device, allocator::snapshot);
    }

    /** The backend of CUDA device {@code device} (created once); throws when CUDA is unavailable. */
    public static CudaBackend of(int device) {
        if (!CudaAvailability.isAvailable()) throw new IllegalStateException(CudaAvailability.reason());
        if (device < 0 || device >= CudaAvailability.deviceCount()) {
            throw new IllegalArgumentException("cuda: no device " + device + " (" + CudaAvailability.deviceCount() + " available)");
        }
        return DEVICES.computeIfAbsent(device, CudaBackend::new);
    }

    @Override
    public String name() {
        return "cuda";
    }

    @Override
    public boolean isHost() {
        return false;
    }

    public int device() {
        return device;
    }

    /** Makes this device's primary context current on the calling thread (before raw CUDA/NCCL calls). */
    public void makeCurrent() {
        CudaContext.makeCurrent(device);
    }

    /** The stream every kernel and copy of this backend is queued on (collectives join it, e.g. NCCL). */
    public CudaStream stream() {
        return kernels.stream();
    }

    /** The device-memory cache (bytes in use / reserved, emptyCache). */
    public CachingAllocator allocator() {
        return allocator;
    }

    @Override
    public Storage allocate(long bytes) {
        long ptr = allocator.allocate(bytes);
        kernels.makeCurrent();
        check(cudart.cudaMemsetAsync(DevicePointers.at(ptr), 0, Math.max(bytes, 0), kernels.stream().handle()),
                "cudaMemsetAsync(" + bytes + " bytes)");
        CachingAllocator a = allocator; // the release must not capture the Storage
        return Storage.device(this, ptr, bytes, () -> a.free(ptr));
    }

    @Override
    public void copy(Tensor src, Tensor dst) {
        boolean srcHere = src.backend() == this, dstHere = dst.backend() == this;
        if (srcHere && dstHere) copies.copy(CudaOpsView.of(src), CudaOpsView.of(dst));
        else if (dstHere) copyFromHost(src, dst);
        else if (srcHere) copyToHost(src, dst);
        else throw new IllegalArgumentException("cuda: copy between two tensors not on " + name() + ":" + device);
    }

    @Override
    public void copyFromHost(Tensor hostSrc, Tensor dst) {
        if (!hostSrc.storage().isHost()) throw new IllegalArgumentException("cuda: copyFromHost needs a host source, got " + hostSrc.backend().name());
        Tensor src = hostSrc.dtype() == dst.dtype() ? hostSrc : hostSrc.to(dst.dtype());
        Tensor hc = src.isContiguous() ? src : src.contiguous();
        try {
            if (dst.isContiguous()) {
                hostToDevice(hc, CudaOpsView.of(dst).ptr());
            } else {
                long tmp = kernels.scratch(dst.numel() * dst.dtype().byteSize());
                try {
                    hostToDevice(hc, tmp);
                    copies.copy(CudaOpsView.contiguous(tmp, dst.dtype(), dst.shape()), CudaOpsView.of(dst));
                    synchronize();
                } finally {
                    kernels.free(tmp);
                }
            }
        } finally {
            if (hc != hostSrc && hc != src) hc.close();
            if (src != hostSrc) src.close();
        }
    }

    private void hostToDevice(Tensor contiguousHost, long devicePtr) {
        long bytes = contiguousHost.numel() * contiguousHost.dtype().byteSize();
        if (bytes == 0) return;
        long host = contiguousHost.segment().address() + contiguousHost.offset() * contiguousHost.dtype().byteSize();
        kernels.makeCurrent();
        check(cudart.cudaMemcpyAsync(DevicePointers.at(devicePtr), DevicePointers.at(host), bytes,
                cudart.cudaMemcpyHostToDevice, kernels.stream().handle()), "cudaMemcpyAsync(host to device, " + bytes + " bytes)");
        synchronize();
    }

    @Override
    public void copyToHost(Tensor src, Tensor hostDst) {
        if (!hostDst.storage().isHost()) throw new IllegalArgumentException("cuda: copyToHost needs a host destination, got " + hostDst.backend().name());
        long bytes = hostDst.numel() * hostDst.dtype().byteSize();
        boolean direct = src.isContiguous() && src.dtype() == hostDst.dtype();
        long tmp = direct ? 0 : kernels.scratch(bytes);
        Tensor staging = hostDst.isContiguous() ? hostDst : Tensor.empty(Backends.cpu(), hostDst.dtype(), hostDst.shape());
        try {
            long from = CudaOpsView.of(src).ptr();
            if (!direct) {
                copies.copy(CudaOpsView.of(src), CudaOpsView.contiguous(tmp, hostDst.dtype(), hostDst.shape()));
                from = tmp;
            }
            if (bytes > 0) {
                long host = staging.segment().address() + staging.offset() * staging.dtype().byteSize();
                kernels.makeCurrent();
                check(cudart.cudaMemcpyAsync(DevicePointers.at(host), DevicePointers.at(from), bytes,
                        cudart.cudaMemcpyDeviceToHost, kernels.stream().handle()), "cudaMemcpyAsync(device to host, " + bytes + " bytes)");
            }
            synchronize();
            if (staging != hostDst) Backends.cpu().copy(staging, hostDst);
        } finally {
            if (tmp != 0) kernels.free(tmp);
            if (staging != hostDst) staging.close();
        }
    }

    @Override
    public void unary(UnaryOp op, Tensor x, Tensor out, double a, double b) {
        elementwise.unary(op, CudaOpsView.of(x), CudaOpsView.of(out), a, b);
    }

    @Override
    public void binary(BinaryOp op, Tensor a, Tensor b, Tensor out) {
        Tensor ad = onDevice(a), bd = onDevice(b);
        try {
            elementwise.binary(op, CudaOpsView.of(ad), CudaOpsView.of(bd), CudaOpsView.of(out));
        } finally {
            if (ad != a) ad.close();
            if (bd != b) bd.close();
        }
    }

    /**
     * t itself when it lives here, else a device copy. Elementwise.binaryScalar makes its scalar on
     * the CPU whatever x's backend; an expanded host scalar is uploaded as its one element and
     * re-expanded (other host operands are copied whole).
     */
    private Tensor onDevice(Tensor t) {
        if (t.backend() == this) return t;
        boolean broadcastScalar = true;
        for (long s : t.strides()) broadcastScalar &= s == 0;
        if (!broadcastScalar || t.numel() == 0) return t.to(this);
        int[] one = new int[t.dim()];
        Arrays.fill(one, 1);
        try (Tensor s = Tensor.full(t.getFlat(0), t.dtype()); Tensor d = s.to(this); Tensor r = d.reshape(one)) {
            return r.expand(t.shape()); // the view keeps the storage alive (ref-counted)
        }
    }

    // ---- fused ops the Backend interface has no method for yet (kernels of elementwise.cu / reduce.cu) ----

    /** out = gelu(x + bias) (tanh: the tanh approximation), bias over x's last dim; float32, out contiguous. */
    public void biasGelu(Tensor x, Tensor bias, boolean tanh, Tensor out) {
        String op = tanh ? "biasGeluTanh" : "biasGelu";
        fused.biasGelu(here(op, x), here(op, bias), tanh, here(op, out));
    }

    /** dx = the gradient of softmax (log: log-softmax) over the last dim, from its output y and dL/dy g. */
    @Override
    public boolean softmaxBackward(Tensor y, Tensor g, boolean log, Tensor dx) {
        String op = log ? "logSoftmaxBackward" : "softmaxBackward";
        fused.softmaxBackward(here(op, y), here(op, g), log, here(op, dx));
        return true;
    }

    /**
     * Layer-norm backward over the trailing normalizedDims dims (the forward's x, weight w or null,
     * eps): dx, and dw / db when not null (sums over the rows). Also autograd's fused layer norm
     * backward; false (nothing written) when dx is not wanted.
     */
    @Override
    public boolean layerNormBackward(Tensor dy, Tensor x, Tensor w, int normalizedDims, double eps, Tensor dx, Tensor dw, Tensor db) {
        if (dx == null) return false;
        String op = "layerNormBackward";
        fused.layerNormBackward(here(op, dy), here(op, x), w == null ? null : here(op, w), normalizedDims, eps, here(op, dx),
                dw == null ? null : here(op, dw), db == null ? null : here(op, db));
        return true;
    }

    private CudaOpsView here(String op, Tensor t) {
        if (t.backend() != this)
            throw new IllegalArgumentException("cuda " + op + ": operand lives on " + t.backend().name() + ", not on " + this);
        return CudaOpsView.of(t);
    }

    @Override
    public void where(Tensor cond, Tensor a, Tensor b, Tensor out) {
        throw unsupported("where");
    }

    @Override
    public void reduce(ReduceOp op, Tensor x, int[] axes, Tensor out, double param) {
        reductions.reduce(op, CudaOpsView.of(x), axes, CudaOpsView.of(out));
    }

    @Override
    public void softmax(Tensor x, int axis, boolean log, Tensor out) {
        reductions.softmax(CudaOpsView.of(x), axis, log, CudaOpsView.of(out));
    }

    @Override
    public void layerNorm(Tensor x, Tensor weight, Tensor bias, int normalizedDims, double eps, Tensor out) {
        reductions.layerNorm(CudaOpsView.of(x), weight == null ? null : CudaOpsView.of(weight),
                bias == null ? null : CudaOpsView.of(bias), normalizedDims, eps, CudaOpsView.of(out));
    }

    @Override
    public void gemm(boolean transA, boolean transB, double alpha, Tensor a, Tensor b, double beta, Tensor c) {
        blas.gemm(transA, transB, alpha, CudaOpsView.of(a), CudaOpsView.of(b), beta, CudaOpsView.of(c));
    }

    @Override
    public void reluBackward(Tensor g, Tensor x, Tensor out) {
        elementwise.reluBackward(CudaOpsView.of(g), CudaOpsView.of(x), CudaOpsView.of(out));
    }

    @Override
    public void sgdStep(Tensor param, Tensor grad, Tensor momentumBuf, double lr, double momentum, double dampening,
                        double weightDecay, boolean nesterov, boolean firstStep) {
        DType t = optimDtype("sgdStep", param, grad, momentumBuf);
        long n = param.numel();
        if (n == 0) return;
        long buf = momentum != 0 && momentumBuf != null ? CudaOpsView.of(momentumBuf).ptr() : 0;
        if (momentum != 0 && buf == 0) throw new IllegalArgumentException("cuda: sgdStep with momentum needs a momentum buffer");
        KernelArgs args = new KernelArgs().ptr(CudaOpsView.of(param).ptr()).ptr(CudaOpsView.of(grad).ptr()).ptr(buf).i64(n)
                .scalar(t, lr).scalar(t, momentum).scalar(t, dampening).scalar(t, weightDecay)
                .i32(nesterov ? 1 : 0).i32(firstStep ? 1 : 0);
        kernels.launch1d("optim", "kiln_sgd_" + CudaOpsCopy.suffix(t), n, CudaOpsKernels.lanes(t), 8, args);
    }

    @Override
    public void adamStep(Tensor param, Tensor grad, Tensor m, Tensor v, double lr, double beta1, double beta2, double eps,
                         double weightDecay, boolean decoupled, long step) {
        DType t = optimDtype("adamStep", param, grad, m, v);
        long n = param.numel();
        if (n == 0) return;
        double bc1 = 1 - Math.pow(beta1, step), bc2 = 1 - Math.pow(beta2, step);
        KernelArgs args = new KernelArgs().ptr(CudaOpsView.of(param).ptr()).ptr(CudaOpsView.of(grad).ptr())
                .ptr(CudaOpsView.of(m).ptr()).ptr(CudaOpsView.of(v).ptr()).i64(n)
                .scalar(t, lr).scalar(t, beta1).scalar(t, beta2).scalar(t, eps).scalar(t, weightDecay)
                .scalar(t, bc1).scalar(t, bc2).i32(decoupled ? 1 : 0);
        kernels.launch1d("optim", "kiln_adam_" + CudaOpsCopy.suffix(t), n, CudaOpsKernels.lanes(t), 8, args);
    }

    /** The shared f32/f64 dtype of optimizer operands, which must be contiguous (null buffers skipped). */
    private static DType optimDtype(String op, Tensor... ts) {
        DType t = CudaOpsElementwise.floating(op, ts[0].dtype());
        for (Tensor x : ts) {
            if (x == null) continue;
            if (x.dtype() != t || !x.isContiguous() || x.numel() != ts[0].numel()) {
                throw new IllegalArgumentException("cuda: " + op + " needs contiguous operands of one dtype and size, got "
                        + x.dtype().pyName() + " " + Arrays.toString(x.shape()) + (x.isContiguous() ? "" : " (strided)"));
            }
        }
        return t;
    }

    @Override
    public void conv2d(Tensor x, Tensor w, Tensor bias, Conv2dParams p, Tensor out) {
        throw unsupported("conv2d");
    }

    @Override
    public void pool2d(PoolOp op, Tensor x, Pool2dParams p, Tensor out, Tensor indices) {
        throw unsupported("pool2d");
    }

    @Override
    public void conv2dBackwardInput(Tensor gy, Tensor w, Conv2dParams p, Tensor gx) {
        throw unsupported("conv2dBackwardInput");
    }

    @Override
    public void conv2dBackwardWeight(Tensor x, Tensor gy, Conv2dParams p, Tensor gw) {
        throw unsupported("conv2dBackwardWeight");
    }

    @Override
    public void pool2dBackward(PoolOp op, Tensor gy, Tensor indices, Pool2dParams p, Tensor gx) {
        throw unsupported("pool2dBackward");
    }

    @Override
    public void gather(Tensor x, int axis, Tensor index, Tensor out) {
        throw unsupported("gather");
    }

    @Override
    public void scatterAdd(Tensor dst, int axis, Tensor index, Tensor src) {
        throw unsupported("scatterAdd");
    }

    /** The Backend methods this backend has no kernel for yet (each throws UnsupportedOperationException naming itself); for the op table. */
    public static final java.util.Set<String> NOT_IMPLEMENTED = java.util.Set.of("where", "conv2d", "pool2d", "conv2dBackwardInput",
            "conv2dBackwardWeight", "pool2dBackward", "gather", "scatterAdd");

    private static UnsupportedOperationException unsupported(String op) {
        if (!NOT_IMPLEMENTED.contains(op)) throw new IllegalStateException("cuda: " + op + " missing from CudaBackend.NOT_IMPLEMENTED");
        return new UnsupportedOperationException("cuda: " + op + " not implemented yet");
    }

    @Override
    public void synchronize() {
        kernels.makeCurrent();
        kernels.stream().synchronize();
    }

    @Override
    public String toString() {
        return "cuda:" + device;
    }
}
