package dev.kiln.backend.cuda;

import dev.kiln.tensor.DType;
import java.util.ArrayList;
import java.util.List;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerPointer;

/**
 * The argument list of one kernel launch, in declaration order: cuLaunchKernel takes an array of
 * pointers, each to one argument's value. Device pointers go in with {@link #ptr}; scalars of a
 * dtype with {@link #scalar}, structs passed by value with {@link #bytes}. Close after the launch
 * (the values are copied at launch time). Every CUDA launch uses it (the backend's ops, the int8
 * GEMM, the sparse kernels). GPU host only.
 */
public final class KernelArgs implements AutoCloseable {
    private final List<Pointer> values = new ArrayList<>();
    private PointerPointer<Pointer> array;

    /** A device address (e.g. from {@link CachingAllocator#allocate}). */
    public KernelArgs ptr(long deviceAddress) {
        return i64(deviceAddress);
    }

    public KernelArgs i64(long v) {
        values.add(new LongPointer(1).put(v));
        return this;
    }

    public KernelArgs i32(int v) {
        values.add(new IntPointer(1).put(v));
        return this;
    }

    public KernelArgs f32(float v) {
        values.add(new FloatPointer(1).put(v));
        return this;
    }

    public KernelArgs f64(double v) {
        values.add(new DoublePointer(1).put(v));
        return this;
    }

    /** A floating scalar of the kernel's element type T (float for F32, double for F64). */
    public KernelArgs scalar(DType t, double v) {
        return t == DType.F64 ? f64(v) : f32((float) v);
    }

    /** A struct passed by value (e.g. the 288-byte KilnIndexer): its exact host bytes. */
    public KernelArgs bytes(byte[] struct) {
        BytePointer p = new BytePointer(struct.length);
        p.put(struct);
        values.add(p);
        return this;
    }

    public int size() {
        return values.size();
    }

    /** The void** array for cuLaunchKernel. */
    PointerPointer<Pointer> array() {
        if (array == null) array = new PointerPointer<>(values.toArray(Pointer[]::new));
        return array;
    }

    @Override
    public void close() {
        if (array != null) array.close();
        for (Pointer p : values) p.close();
        values.clear();
    }
}
