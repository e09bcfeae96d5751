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
 * Argument list of one kernel launch for the CUDA backend's ops, in declaration order (each entry a
 * host pointer to one value, as cuLaunchKernel wants). Unlike {@link KernelArgs} it also takes
 * doubles, dtype-typed scalars and raw structs passed by value (the 288-byte KilnIndexer). Close after
 * the launch: cuLaunchKernel copies the values when it is called. GPU host only.
 */
final class CudaOpsArgs implements AutoCloseable {
    private final List<Pointer> values = new ArrayList<>();
    private PointerPointer<Pointer> array;

    CudaOpsArgs ptr(long deviceAddress) {
        return i64(deviceAddress);
    }

    CudaOpsArgs i64(long v) {
        values.add(new LongPointer(1).put(v));
        return this;
    }

    CudaOpsArgs i32(int v) {
        values.add(new IntPointer(1).put(v));
        return this;
    }

    CudaOpsArgs f32(float v) {
        values.add(new FloatPointer(1).put(v));
        return this;
    }

    CudaOpsArgs f64(double v) {
        values.add(new DoublePointer(1).put(v));
        return this;
    }

    /** A floating scalar of the kernel's element type T (float for F32, double for F64). */
    CudaOpsArgs scalar(DType t, double v) {
        return t == DType.F64 ? f64(v) : f32((float) v);
    }

    /** A struct passed by value: its exact host bytes. */
    CudaOpsArgs bytes(byte[] struct) {
        BytePointer p = new BytePointer(struct.length);
        p.put(struct);
        values.add(p);
        return this;
    }

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
