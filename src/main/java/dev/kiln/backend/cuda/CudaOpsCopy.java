package dev.kiln.backend.cuda;

import static dev.kiln.backend.cuda.CudaException.check;

import dev.kiln.tensor.DType;
import org.bytedeco.cuda.global.cudart;

/**
 * Device-to-device copies of the CUDA backend: contiguous same-dtype copies are one
 * cudaMemcpyAsync; dtype conversions use {@code kernels/cast.cu} (contiguous or strided with a
 * KilnIndexer). cast.cu has no identity casts, so a strided copy of one dtype goes bit-exactly
 * through an integer carrier in two passes: the bytes are re-read as i8 (1- and 2-byte dtypes) or
 * i32 (4- and 8-byte dtypes), widened into a contiguous i32 / i64 scratch, then narrowed into dst
 * (integer widening and wrapping are exact, so every bit pattern, NaN payloads included, survives).
 */
final class CudaOpsCopy {
    private final CudaOpsKernels k;

    CudaOpsCopy(CudaOpsKernels k) {
        this.k = k;
    }

    /** dst = cast(src), equal shapes, both on this device. */
    void copy(CudaOpsView src, CudaOpsView dst) {
        long n = dst.numel();
        if (n == 0) return;
        if (src.dtype() == dst.dtype() && src.isContiguous() && dst.isContiguous()) {
            memcpy(src.ptr(), dst.ptr(), n * dst.dtype().byteSize());
        } else if (src.dtype() != dst.dtype()) {
            cast(src, dst);
        } else {
            sameDtypeStrided(src, dst);
        }
    }

    /** A contiguous copy of v in fresh scratch (caller frees), or v's own pointer when contiguous (returns 0 as owner). */
    long[] contiguous(CudaOpsView v) {
        if (v.isContiguous()) return new long[] {v.ptr(), 0};
        long p = k.scratch(v.bytes());
        copy(v, CudaOpsView.contiguous(p, v.dtype(), v.shape()));
        return new long[] {p, p};
    }

    void memcpy(long from, long to, long bytes) {
        k.makeCurrent();
        check(cudart.cudaMemcpyAsync(DevicePointers.at(to), DevicePointers.at(from), bytes,
                cudart.cudaMemcpyDeviceToDevice, k.stream().handle()), "cudaMemcpyAsync(device to device, " + bytes + " bytes)");
    }

    private void cast(CudaOpsView src, CudaOpsView dst) {
        String name = "kiln_cast_" + suffix(src.dtype()) + "_" + suffix(dst.dtype());
        long n = dst.numel();
        KernelArgs args = new KernelArgs().ptr(src.ptr()).ptr(dst.ptr()).i64(n);
        if (src.isContiguous() && dst.isContiguous()) {
            k.launch1d("cast", name, n, 1, 8, args);
        } else {
            args.bytes(CudaOpsKernels.indexer(dst.shape(), dst.strides(), src.strides()));
            k.launch1d("cast", name + "_strided", n, 1, 8, args);
        }
    }

    private void sameDtypeStrided(CudaOpsView src, CudaOpsView dst) {
        int size = src.dtype().byteSize();
        DType carrier = size <= 2 ? DType.I8 : DType.I32;
        DType wide = size <= 2 ? DType.I32 : DType.I64;
        CudaOpsView s = src.reinterpret(carrier);
        CudaOpsView d = dst.reinterpret(carrier);
        long tmp = k.scratch(s.numel() * wide.byteSize());
        try {
            cast(s, CudaOpsView.contiguous(tmp, wide, s.shape()));
            cast(CudaOpsView.contiguous(tmp, wide, s.shape()), d);
        } finally {
            k.free(tmp); // stream-ordered: later work on the same stream reuses it only after these casts
        }
    }

    /** Kernel-name suffix of a dtype: f32 f64 bf16 f16 i8 i32 i64 bool. */
    static String suffix(DType t) {
        return t.name().toLowerCase(java.util.Locale.ROOT);
    }
}
