package dev.kiln.tensor;

import dev.kiln.backend.Backend;
import dev.kiln.backend.Backends;
import dev.kiln.autograd.Engine;
import dev.kiln.autograd.GradMode;
import dev.kiln.autograd.Node;
import dev.kiln.ops.BinaryOp;
import dev.kiln.ops.Conv;
import dev.kiln.ops.Conv2dParams;
import dev.kiln.ops.Elementwise;
import dev.kiln.ops.MatMul;
import dev.kiln.ops.Pool2dParams;
import dev.kiln.ops.PoolOp;
import dev.kiln.ops.ReduceOp;
import dev.kiln.ops.Reductions;
import dev.kiln.ops.UnaryOp;
import dev.kiln.ops.ViewGrad;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * An n-dimensional strided view over {@link Storage}. Views (reshape, permute, slice, expand, ...)
 * share storage without copying. Close a tensor (or its {@link Scope}) to free its memory at once;
 * memory is freed when the last tensor sharing it is closed.
 */
public final class Tensor implements AutoCloseable {
    private final Storage storage;
    private final DType dtype;
    private final int[] shape;
    private final long[] strides;
    private final long offset;
    private boolean closed;
    // autograd state (see dev.kiln.autograd)
    private boolean requiresGrad;
    private Tensor grad;
    private Node gradFn;
    private java.util.List<java.util.function.Consumer<Tensor>> gradHooks;

    Tensor(Storage storage, DType dtype, int[] shape, long[] strides, long offset, boolean fresh) {
        this.storage = storage;
        this.dtype = dtype;
        this.shape = shape;
        this.strides = strides;
        this.offset = offset;
        if (!fresh) storage.retain();
        Scope.track(this);
    }

    // ------------------------------------------------------------------ factories

    /** A new contiguous zero-filled tensor on the given backend. */
    public static Tensor empty(Backend backend, DType dtype, int... shape) {
        int[] s = Shape.check("empty", shape);
        Storage st = backend.allocate(Shape.numel(s) * dtype.byteSize());
        return new Tensor(st, dtype, s, Shape.contiguousStrides(s), 0, true);
    }

    /**
     * A new contiguous tensor whose contents are unspecified (not necessarily zero): only for op
     * outputs that the kernel filling them writes in every element ({@link Backend#allocateUninitialized}).
     */
    public static Tensor uninitialized(Backend backend, DType dtype, int... shape) {
        int[] s = Shape.check("uninitialized", shape);
        Storage st = backend.allocateUninitialized(Shape.numel(s) * dtype.byteSize());
        return new Tensor(st, dtype, s, Shape.contiguousStrides(s), 0, true);
    }

    public static Tensor zeros(DType dtype, int... shape) { return empty(Backends.cpu(), dtype, shape); }
    public static Tensor zeros(int... shape) { return zeros(DType.F32, shape); }
    public static Tensor ones(DType dtype, int... shape) { return full(1.0, dtype, shape); }
    public static Tensor ones(int... shape) { return ones(DType.F32, shape); }

    public static Tensor full(double value, DType dtype, int... shape) {
        Tensor t = zeros(dtype, shape);
        long n = t.numel();
        if (Double.doubleToRawLongBits(value) != 0 && n > 0) { // -0.0 must be stored too
            // the first element, then doubling bulk copies (a per-element store was ~40x slower)
            t.storage.setDouble(dtype, 0, value);
            MemorySegment seg = t.segment();
            long es = dtype.byteSize();
            for (long filled = 1; filled < n; ) {
                long c = Math.min(filled, n - filled);
                MemorySegment.copy(seg, 0, seg, filled * es, c * es);
                filled += c;
            }
        }
        return t;
    }

    public static Tensor scalar(double value) { return full(value, DType.F32); }
    public static Tensor scalar(double value, DType dtype) { return full(value, dtype); }

    /** [start, end) with step, like numpy.arange. */
    public static Tensor arange(double start, double end, double step, DType dtype) {
        if (step == 0) throw new IllegalArgumentException("arange: step must be non-zero");
        long n = (long) Math.max(0, Math.ceil((end - start) / step));
        if (n > Integer.MAX_VALUE) throw new IllegalArgumentException("arange: too many elements: " + n);
        Tensor t = zeros(dtype, (int) n);
        for (long i = 0; i < n; i++) t.storage.setDouble(dtype, i, start + i * step);
        return t;
    }

    public static Tensor arange(int n) { return arange(0, n, 1, DType.F32); }

    /** Uniform in [0, 1), on the grid k * 2^-p where p is the dtype's significand precision. */
    public static Tensor rand(Generator g, DType dtype, int... shape) {
        Tensor t = zeros(dtype, shape);
        long n = t.numel();
        double scale = uniformGrid(dtype);
        for (long i = 0; i < n; i++) t.storage.setDouble(dtype, i, Math.floor(g.nextUniform() * scale) / scale);
        return t;
    }

    /**
     * 2^p for the significand precision p of dtype. Drawing u on the grid k/2^p keeps every value
     * exact in the dtype; rounding a double just below 1 to bf16/f16/f32 would otherwise give 1.0.
     */
    private static double uniformGrid(DType dtype) {
        return switch (dtype) {
            case BF16 -> 1 << 8;
            case F16 -> 1 << 11;
            case F32 -> 1 << 24;
            default -> 0x1p53;
        };
    }

    public static Tensor rand(Generator g, int... shape) { return rand(g, DType.F32, shape); }

    /** Uniform in [lo, hi). */
    public static Tensor uniform(Generator g, double lo, double hi, DType dtype, int... shape) {
        Tensor t = zeros(dtype, shape);
        long n = t.numel();
        double scale = uniformGrid(dtype);
        for (long i = 0; i < n; i++) t.storage.setDouble(dtype, i, lo + (hi - lo) * (Math.floor(g.nextUniform() * scale) / scale));
        return t;
    }

    /** Standard normal. */
    public static Tensor randn(Generator g, DType dtype, int... shape) {
        Tensor t = zeros(dtype, shape);
        long n = t.numel();
        for (long i = 0; i < n; i++) t.storage.setDouble(dtype, i, g.nextNormal());
        return t;
    }

    public static Tensor randn(Generator g, int... shape) { return randn(g, DType.F32, shape); }

    public static Tensor fromArray(float[] data, int... shape) {
        Tensor t = zeros(DType.F32, checkLen("fromArray", data.length, shape));
        MemorySegment.copy(data, 0, t.storage.segment(), Storage.F32, 0, data.length);
        return t;
    }

    public static Tensor fromArray(double[] data, int... shape) {
        Tensor t = zeros(DType.F64, checkLen("fromArray", data.length, shape));
        MemorySegment.copy(data, 0, t.storage.segment(), Storage.F64, 0, data.length);
        return t;
    }

    public static Tensor fromArray(int[] data, int... shape) {
        Tensor t = zeros(DType.I32, checkLen("fromArray", data.length, shape));
        MemorySegment.copy(data, 0, t.storage.segment(), Storage.I32, 0, data.length);
        return t;
    }

    public static Tensor fromArray(long[] data, int... shape) {
        Tensor t = zeros(DType.I64, checkLen("fromArray", data.length, shape));
        MemorySegment.copy(data, 0, t.storage.segment(), Storage.I64, 0, data.length);
        return t;
    }

    /** Values given as doubles, stored as dtype. */
    public static Tensor fromDoubles(DType dtype, double[] data, int... shape) {
        Tensor t = zeros(dtype, checkLen("fromDoubles", data.length, shape));
        for (int i = 0; i < data.length; i++) t.storage.setDouble(dtype, i, data[i]);
        return t;
    }

    private static int[] checkLen(String op, int len, int[] shape) {
        if (shape.length == 0 && len == 1) return shape;
        int[] s = shape.length == 0 ? new int[]{len} : shape;
        if (Shape.numel(s) != len)
            throw new IllegalArgumentException(op + ": " + len + " values do not fill shape " + Shape.str(s));
        return s;
    }

    /** A tensor over existing storage (e.g. memory-mapped); shares, never copies. */
    public static Tensor of(Storage storage, DType dtype, int[] shape, long[] strides, long offset) {
        int[] s = Shape.check("Tensor.of", shape);
        if (strides.length != s.length)
            throw new IllegalArgumentException("Tensor.of: " + strides.length + " strides for shape " + Shape.str(s));
        if (Shape.numel(s) > 0) {
            // the lowest and highest element addressed must lie inside the storage
            long lo = offset, hi = offset;
            for (int i = 0; i < s.length; i++) {
                long span = (long) (s[i] - 1) * strides[i];
                if (span < 0) lo += span; else hi += span;
            }
            long elems = storage.byteSize() / dtype.byteSize();
            if (lo < 0 || hi >= elems)
                throw new IllegalArgumentException("Tensor.of: shape " + Shape.str(s) + " with strides " + Arrays.toString(strides)
                        + " and offset " + offset + " reaches outside a storage of " + elems + " " + dtype.pyName() + " elements");
        }
        return new Tensor(storage, dtype, s, strides.clone(), offset, false);
    }

    // ------------------------------------------------------------------ accessors

    public DType dtype() { return dtype; }
    public int[] shape() { return shape.clone(); }
    public int dim() { return shape.length; }
    public int size(int axis) { return shape[dimAxis("size", axis)]; }
    public long[] strides() { return strides.clone(); }
    public long stride(int axis) { return strides[dimAxis("stride", axis)]; }
    /** Offset into storage, in elements. */
    public long offset() { return offset; }
    public long numel() { return Shape.numel(shape); }
    public Storage storage() { return live(); }
    public Backend backend() { return storage.backend(); }
    /** The storage segment (whole storage; index with {@link #offset()} and strides). */
    public MemorySegment segment() { return live().segment(); }

    /** The storage of an open tensor; every path to this tensor's memory (reads, ops, views) passes here. */
    private Storage live() {
        if (closed) throw new IllegalStateException("kiln: tensor used after close: shape " + Shape.str(shape) + " " + dtype.pyName());
        return storage;
    }

    /** Host-readable storage for element access; a device tensor gives a clear error. */
    private Storage host() {
        Storage s = live();
        if (!s.isHost())
            throw new IllegalStateException("kiln: tensor " + Shape.str(shape) + " lives on " + s.backend().name()
                    + "; copy it to the CPU first (tensor.to(Backends.cpu()))");
        return s;
    }

    /**
     * A contiguous copy on another backend (e.g. CUDA, or back to the CPU); a plain clone when the
     * backend is this tensor's own.
     */
    public Tensor to(Backend target) {
        if (target == backend()) return clone();
        Tensor src = storage.isHost() ? contiguous() : this;
        Tensor out = empty(target, dtype, shape);
        if (target.isHost()) src.backend().copyToHost(src, out);
        else target.copyFromHost(src, out);
        if (src != this) src.close();
        return out;
    }

    public boolean isContiguous() {
        if (numel() == 0) return true; // as PyTorch: an empty tensor is contiguous whatever its strides
        long expect = 1;
        for (int i = shape.length - 1; i >= 0; i--) {
            if (shape[i] != 1 && strides[i] != expect) return false;
            expect *= shape[i];
        }
        return true;
    }

    /** Storage element index of the element at logical row-major position flat. */
    public long storageIndex(long flat) {
        long idx = offset;
        for (int i = shape.length - 1; i >= 0; i--) {
            int d = shape[i];
            idx += (flat % d) * strides[i];
            flat /= d;
        }
        return idx;
    }

    private long indexOf(long... idx) {
        host();
        if (idx.length != shape.length)
            throw new IllegalArgumentException("index of rank " + idx.length + " for tensor of shape " + Shape.str(shape));
        long p = offset;
        for (int i = 0; i < idx.length; i++) {
            if (idx[i] < 0 || idx[i] >= shape[i])
                throw new IndexOutOfBoundsException("index " + Arrays.toString(idx) + " out of bounds for shape " + Shape.str(shape));
            p += idx[i] * strides[i];
        }
        return p;
    }

    public double getDouble(long... idx) { return storage.getDouble(dtype, indexOf(idx)); }
    public float getFloat(long... idx) { return (float) getDouble(idx); }
    public long getLong(long... idx) { return storage.getLong(dtype, indexOf(idx)); }
    public void setDouble(double v, long... idx) { storage.setDouble(dtype, indexOf(idx), v); }
    /** The value of a one-element tensor. */
    public double item() {
        if (numel() != 1) throw new IllegalArgumentException("item: tensor of shape " + Shape.str(shape) + " has " + numel() + " elements");
        return host().getDouble(dtype, offset);
    }

    /** Element at logical flat (row-major) index, as double. */
    public double getFlat(long flat) { return host().getDouble(dtype, storageIndex(flat)); }

    public float[] toFloatArray() {
        Tensor c = contiguousAs(DType.F32);
        float[] out = new float[Math.toIntExact(numel())];
        MemorySegment.copy(c.segment(), Storage.F32, c.offset * 4, out, 0, out.length);
        if (c != this) c.close();
        return out;
    }

    public double[] toDoubleArray() {
        Tensor c = contiguousAs(DType.F64);
        double[] out = new double[Math.toIntExact(numel())];
        MemorySegment.copy(c.segment(), Storage.F64, c.offset * 8, out, 0, out.length);
        if (c != this) c.close();
        return out;
    }

    public long[] toLongArray() {
        Tensor c = contiguousAs(DType.I64);
        long[] out = new long[Math.toIntExact(numel())];
        MemorySegment.copy(c.segment(), Storage.I64, c.offset * 8, out, 0, out.length);
        if (c != this) c.close();
        return out;
    }

    public int[] toIntArray() {
        Tensor c = contiguousAs(DType.I32);
        int[] out = new int[Math.toIntExact(numel())];
        MemorySegment.copy(c.segment(), Storage.I32, c.offset * 4, out, 0, out.length);
        if (c != this) c.close();
        return out;
    }

    private Tensor contiguousAs(DType t) {
        return (dtype == t && isContiguous()) ? this : to(t);
    }

    // ------------------------------------------------------------------ views (no copies)

    private Tensor view(int[] newShape, long[] newStrides, long newOffset) {
        return new Tensor(live(), dtype, newShape, newStrides, newOffset, false);
    }

    /** Normalizes an axis that must name an existing dim (a 0-d tensor has none). */
    private int dimAxis(String op, int axis) {
        if (shape.length == 0) throw new IllegalArgumentException(op + ": axis " + axis + " given for a 0-d tensor");
        return Shape.axis(op, axis, shape.length);
    }

    /** Reshape; a view when the strides allow it, else a contiguous copy. One -1 is inferred. */
    public Tensor reshape(int... newShape) {
        int[] s = Shape.inferReshape(shape, newShape);
        long[] st = viewStrides(s);
        if (st != null) return record(view(s, st, offset), ViewKind.RESHAPE, null);
        Tensor c = copy(dtype);
        Tensor v = c.view(s, Shape.contiguousStrides(s), c.offset);
        c.close();
        return record(v, ViewKind.RESHAPE, null);
    }

    /** Like reshape, but fails instead of copying. */
    public Tensor view(int... newShape) {
        int[] s = Shape.inferReshape(shape, newShape);
        long[] st = viewStrides(s);
        if (st == null)
            throw new IllegalArgumentException("view: shape " + Shape.str(shape) + " with strides " + Arrays.toString(strides)
                    + " cannot be viewed as " + Shape.str(s) + " without a copy; use reshape");
        return record(view(s, st, offset), ViewKind.RESHAPE, null);
    }

    /** Strides for viewing this tensor as newShape, or null if a copy is needed (PyTorch's rule). */
    private long[] viewStrides(int[] newShape) {
        long n = numel();
        if (n <= 1 || shape.length == 0) return Shape.contiguousStrides(newShape);
        long[] out = new long[newShape.length];
        int viewD = newShape.length - 1;
        long chunkBase = strides[shape.length - 1];
        long tensorNumel = 1, viewNumel = 1;
        for (int d = shape.length - 1; d >= 0; d--) {
            tensorNumel *= shape[d];
            if (d == 0 || (shape[d - 1] != 1 && strides[d - 1] != tensorNumel * chunkBase)) {
                while (viewD >= 0 && (viewNumel < tensorNumel || newShape[viewD] == 1)) {
                    out[viewD] = viewNumel * chunkBase;
                    viewNumel *= newShape[viewD];
                    viewD--;
                }
                if (viewNumel != tensorNumel) return null;
                if (d > 0) {
                    chunkBase = strides[d - 1];
                    tensorNumel = 1;
                    viewNumel = 1;
                }
            }
        }
        return viewD == -1 ? out : null;
    }

    public Tensor flatten() { return reshape(-1); }

    public Tensor permute(int... dims) {
        if (dims.length != shape.length)
            throw new IllegalArgumentException("permute: " + dims.length + " dims given for shape " + Shape.str(shape));
        int[] s = new int[dims.length];
        long[] st = new long[dims.length];
        boolean[] seen = new boolean[dims.length];
        for (int i = 0; i < dims.length; i++) {
            int d = Shape.axis("permute", dims[i], shape.length);
            if (seen[d]) throw new IllegalArgumentException("permute: repeated dim in " + Arrays.toString(dims));
            seen[d] = true;
            s[i] = shape[d];
            st[i] = strides[d];
        }
        return record(view(s, st, offset), ViewKind.PERMUTE, dims.clone());
    }

    public Tensor transpose(int a, int b) {
        if (shape.length == 0) { // PyTorch allows transpose(0, 0) / (-1, 0) of a 0-d tensor
            if ((a != 0 && a != -1) || (b != 0 && b != -1))
                throw new IllegalArgumentException("transpose: axes " + a + ", " + b + " out of range for rank 0");
            return view(shape.clone(), strides.clone(), offset);
        }
        int[] p = new int[shape.length];
        for (int i = 0; i < p.length; i++) p[i] = i;
        a = Shape.axis("transpose", a, shape.length);
        b = Shape.axis("transpose", b, shape.length);
        p[a] = b;
        p[b] = a;
        return permute(p);
    }

    /** Transpose of the last two dims. */
    public Tensor t() {
        if (shape.length < 2) return record(view(shape.clone(), strides.clone(), offset), ViewKind.RESHAPE, null);
        return transpose(-2, -1);
    }

    /** Elements [start, start+length) along axis; a negative start counts from the end. */
    public Tensor narrow(int axis, int start, int length) {
        int a = dimAxis("narrow", axis);
        int s = start < 0 ? start + shape[a] : start;
        if (s < 0 || length < 0 || (long) s + length > shape[a])
            throw new IllegalArgumentException("narrow: start " + start + ", length " + length + " out of range for dim "
                    + a + " of shape " + Shape.str(shape));
        return slice(a, s, s + length, 1);
    }

    /** Python-style slice [start:end:step] along axis (negative start/end count from the end; step > 0). */
    public Tensor slice(int axis, int start, int end, int step) {
        int a = dimAxis("slice", axis);
        int d = shape[a];
        if (step <= 0) throw new IllegalArgumentException("slice: step must be positive, got " + step);
        int s = start < 0 ? Math.max(start + d, 0) : Math.min(start, d);
        int e = end < 0 ? Math.max(end + d, 0) : Math.min(end, d);
        int len = e > s ? 1 + (e - s - 1) / step : 0;
        int[] ns = shape.clone();
        long[] nst = strides.clone();
        ns[a] = len;
        nst[a] = strides[a] * step;
        return record(view(ns, nst, offset + (long) s * strides[a]), ViewKind.SLICE, new int[]{a, s, e, step});
    }

    /** Removes axis by picking index i along it. */
    public Tensor select(int axis, int i) {
        int a = dimAxis("select", axis);
        int idx = i < 0 ? i + shape[a] : i;
        if (idx < 0 || idx >= shape[a])
            throw new IndexOutOfBoundsException("select: index " + i + " out of range for dim " + a + " of shape " + Shape.str(shape));
        int[] ns = new int[shape.length - 1];
        long[] nst = new long[shape.length - 1];
        for (int k = 0, j = 0; k < shape.length; k++) {
            if (k == a) continue;
            ns[j] = shape[k];
            nst[j++] = strides[k];
        }
        return record(view(ns, nst, offset + (long) idx * strides[a]), ViewKind.SELECT, new int[]{a, idx});
    }

    /** Broadcasts to a larger shape with stride-0 views (-1 keeps a dim). */
    public Tensor expand(int... target) {
        if (target.length < shape.length)
            throw new IllegalArgumentException("expand: cannot expand " + Shape.str(shape) + " to " + Shape.str(target));
        int lead = target.length - shape.length;
        int[] ns = new int[target.length];
        long[] nst = new long[target.length];
        for (int i = 0; i < target.length; i++) {
            if (i < lead) {
                if (target[i] < 0) throw new IllegalArgumentException("expand: -1 not allowed for new leading dim in " + Shape.str(target));
                ns[i] = target[i];
                nst[i] = 0;
            } else {
                int d = shape[i - lead];
                int t = target[i] == -1 ? d : target[i];
                if (t < 0) throw new IllegalArgumentException("expand: negative size in " + Shape.str(target));
                if (d == t) {
                    ns[i] = d;
                    nst[i] = strides[i - lead];
                } else if (d == 1) {
                    ns[i] = t;
                    nst[i] = 0;
                } else {
                    throw new IllegalArgumentException("expand: cannot expand " + Shape.str(shape) + " to " + Shape.str(target));
                }
            }
        }
        return record(view(ns, nst, offset), ViewKind.EXPAND, null);
    }

    public Tensor squeeze() {
        int n = 0;
        for (int d : shape) if (d != 1) n++;
        int[] ns = new int[n];
        long[] nst = new long[n];
        for (int i = 0, j = 0; i < shape.length; i++)
            if (shape[i] != 1) { ns[j] = shape[i]; nst[j++] = strides[i]; }
        return record(view(ns, nst, offset), ViewKind.RESHAPE, null);
    }

    public Tensor squeeze(int axis) {
        if (shape.length == 0) { // PyTorch allows squeeze(0) / squeeze(-1) of a 0-d tensor
            if (axis != 0 && axis != -1) throw new IllegalArgumentException("squeeze: axis " + axis + " out of range for rank 0");
            return view(shape.clone(), strides.clone(), offset);
        }
        int a = Shape.axis("squeeze", axis, shape.length);
        if (shape[a] != 1) return record(view(shape.clone(), strides.clone(), offset), ViewKind.RESHAPE, null);
        return select(a, 0);
    }

    public Tensor unsqueeze(int axis) {
        int a = axis < 0 ? axis + shape.length + 1 : axis;
        if (a < 0 || a > shape.length)
            throw new IllegalArgumentException("unsqueeze: axis " + axis + " out of range for rank " + shape.length);
        int[] ns = new int[shape.length + 1];
        long[] nst = new long[shape.length + 1];
        for (int i = 0, j = 0; i < ns.length; i++) {
            if (i == a) {
                ns[i] = 1;
                nst[i] = a < shape.length ? strides[a] * shape[a] : 1;
            } else {
                ns[i] = shape[j];
                nst[i] = strides[j++];
            }
        }
        return record(view(ns, nst, offset), ViewKind.RESHAPE, null);
    }

    /** This tensor if already contiguous (a new reference to it), else a contiguous copy. */
    public Tensor contiguous() {
        if (isContiguous()) return record(view(shape.clone(), strides.clone(), offset), ViewKind.RESHAPE, null);
        return clone();
    }

    /** A contiguous copy with its own storage. */
    @Override
    public Tensor clone() {
        return record(copy(dtype), ViewKind.RESHAPE, null);
    }

    private Tensor copy(DType t) {
        Tensor out = empty(backend(), t, shape);
        backend().copy(this, out);
        return out;
    }

    /** A contiguous copy converted to dtype (a plain copy when dtype matches). */
    public Tensor to(DType t) {
        Tensor out = copy(t);
        if (t.isFloating() && dtype.isFloating()) return record(out, ViewKind.CAST, null);
        return out;
    }

    private enum ViewKind { RESHAPE, PERMUTE, EXPAND, SLICE, SELECT, CAST }

    /** Attaches the gradient rule of a view/copy op when grad mode records. */
    private Tensor record(Tensor out, ViewKind kind, int[] args) {
        if (!needsGrad(this)) return out;
        return out.setGradFn(switch (kind) {
            case RESHAPE -> ViewGrad.reshape(this);
            case PERMUTE -> ViewGrad.permute(this, args);
            case EXPAND -> ViewGrad.expand(this);
            case SLICE -> ViewGrad.slice(this, args[0], args[1], args[2], args[3]);
            case SELECT -> ViewGrad.select(this, args[0], args[1]);
            case CAST -> ViewGrad.cast(this);
        });
    }

    /** Copies src (broadcast to this shape, cast to this dtype) into this tensor in place. */
    public Tensor copyFrom(Tensor src) {
        Tensor moved = src.backend() == backend() ? src : src.to(backend()); // across devices: move first
        Tensor s = Arrays.equals(moved.shape, shape) ? moved : moved.expand(shape);
        backend().copy(s, this);
        if (s != moved) s.close();
        if (moved != src) moved.close();
        return this;
    }

    // ------------------------------------------------------------------ elementwise

    public Tensor neg() { return Elementwise.unary(UnaryOp.NEG, this, 0, 0); }
    public Tensor abs() { return Elementwise.unary(UnaryOp.ABS, this, 0, 0); }
    public Tensor exp() { return Elementwise.unary(UnaryOp.EXP, this, 0, 0); }
    public Tensor log() { return Elementwise.unary(UnaryOp.LOG, this, 0, 0); }
    public Tensor sqrt() { return Elementwise.unary(UnaryOp.SQRT, this, 0, 0); }
    public Tensor rsqrt() { return Elementwise.unary(UnaryOp.RSQRT, this, 0, 0); }
    public Tensor tanh() { return Elementwise.unary(UnaryOp.TANH, this, 0, 0); }
    public Tensor sigmoid() { return Elementwise.unary(UnaryOp.SIGMOID, this, 0, 0); }
    public Tensor relu() { return Elementwise.unary(UnaryOp.RELU, this, 0, 0); }
    /** Exact GELU, x * Phi(x) with erf. */
    public Tensor gelu() { return Elementwise.unary(UnaryOp.GELU, this, 0, 0); }
    /** GELU with the tanh approximation. */
    public Tensor geluTanh() { return Elementwise.unary(UnaryOp.GELU_TANH, this, 0, 0); }
    public Tensor silu() { return Elementwise.unary(UnaryOp.SILU, this, 0, 0); }
    public Tensor sin() { return Elementwise.unary(UnaryOp.SIN, this, 0, 0); }
    public Tensor cos() { return Elementwise.unary(UnaryOp.COS, this, 0, 0); }
    public Tensor reciprocal() { return Elementwise.unary(UnaryOp.RECIPROCAL, this, 0, 0); }
    public Tensor square() { return Elementwise.unary(UnaryOp.SQUARE, this, 0, 0); }
    public Tensor erf() { return Elementwise.unary(UnaryOp.ERF, this, 0, 0); }
    public Tensor floor() { return Elementwise.unary(UnaryOp.FLOOR, this, 0, 0); }
    public Tensor ceil() { return Elementwise.unary(UnaryOp.CEIL, this, 0, 0); }
    /** Rounds half to even, like torch.round and ONNX Round. */
    public Tensor round() { return Elementwise.unary(UnaryOp.ROUND, this, 0, 0); }
    public Tensor sign() { return Elementwise.unary(UnaryOp.SIGN, this, 0, 0); }
    public Tensor pow(double exponent) { return Elementwise.unary(UnaryOp.POW_SCALAR, this, exponent, 0); }
    public Tensor clamp(double min, double max) { return Elementwise.unary(UnaryOp.CLAMP, this, min, max); }

    public Tensor add(Tensor o) { return Elementwise.binary(BinaryOp.ADD, this, o); }
    public Tensor sub(Tensor o) { return Elementwise.binary(BinaryOp.SUB, this, o); }
    public Tensor mul(Tensor o) { return Elementwise.binary(BinaryOp.MUL, this, o); }
    public Tensor div(Tensor o) { return Elementwise.binary(BinaryOp.DIV, this, o); }
    public Tensor maximum(Tensor o) { return Elementwise.binary(BinaryOp.MAX, this, o); }
    public Tensor minimum(Tensor o) { return Elementwise.binary(BinaryOp.MIN, this, o); }
    public Tensor pow(Tensor o) { return Elementwise.binary(BinaryOp.POW, this, o); }
    public Tensor eq(Tensor o) { return Elementwise.binary(BinaryOp.EQ, this, o); }
    public Tensor ne(Tensor o) { return Elementwise.binary(BinaryOp.NE, this, o); }
    public Tensor lt(Tensor o) { return Elementwise.binary(BinaryOp.LT, this, o); }
    public Tensor le(Tensor o) { return Elementwise.binary(BinaryOp.LE, this, o); }
    public Tensor gt(Tensor o) { return Elementwise.binary(BinaryOp.GT, this, o); }
    public Tensor ge(Tensor o) { return Elementwise.binary(BinaryOp.GE, this, o); }

    public Tensor add(double s) { return Elementwise.binaryScalar(BinaryOp.ADD, this, s); }
    public Tensor sub(double s) { return Elementwise.binaryScalar(BinaryOp.SUB, this, s); }
    public Tensor mul(double s) { return Elementwise.binaryScalar(BinaryOp.MUL, this, s); }
    public Tensor div(double s) { return Elementwise.binaryScalar(BinaryOp.DIV, this, s); }

    /** cond ? a : b with broadcasting. */
    public static Tensor where(Tensor cond, Tensor a, Tensor b) { return Elementwise.where(cond, a, b); }

    // ------------------------------------------------------------------ reductions

    /** Sum over all elements (a 0-d tensor). */
    public Tensor sum() { return Reductions.reduce(ReduceOp.SUM, this, null, false, 0); }
    public Tensor sum(int[] axes, boolean keepdim) { return Reductions.reduce(ReduceOp.SUM, this, axes, keepdim, 0); }
    public Tensor sum(int axis) { return sum(new int[]{axis}, false); }
    public Tensor mean() { return Reductions.reduce(ReduceOp.MEAN, this, null, false, 0); }
    public Tensor mean(int[] axes, boolean keepdim) { return Reductions.reduce(ReduceOp.MEAN, this, axes, keepdim, 0); }
    public Tensor mean(int axis) { return mean(new int[]{axis}, false); }
    public Tensor max() { return Reductions.reduce(ReduceOp.MAX, this, null, false, 0); }
    public Tensor max(int[] axes, boolean keepdim) { return Reductions.reduce(ReduceOp.MAX, this, axes, keepdim, 0); }
    public Tensor min() { return Reductions.reduce(ReduceOp.MIN, this, null, false, 0); }
    public Tensor min(int[] axes, boolean keepdim) { return Reductions.reduce(ReduceOp.MIN, this, axes, keepdim, 0); }
    public Tensor prod(int[] axes, boolean keepdim) { return Reductions.reduce(ReduceOp.PROD, this, axes, keepdim, 0); }
    /** Variance with the given correction (1 = unbiased, PyTorch's default). */
    public Tensor var(int[] axes, boolean keepdim, int correction) { return Reductions.reduce(ReduceOp.VAR, this, axes, keepdim, correction); }
    public Tensor logsumexp(int[] axes, boolean keepdim) { return Reductions.reduce(ReduceOp.LOGSUMEXP, this, axes, keepdim, 0); }
    public Tensor argmax(int axis, boolean keepdim) { return Reductions.argReduce(ReduceOp.ARGMAX, this, axis, keepdim); }
    public Tensor argmin(int axis, boolean keepdim) { return Reductions.argReduce(ReduceOp.ARGMIN, this, axis, keepdim); }
    public Tensor softmax(int axis) { return Reductions.softmax(this, axis, false); }
    public Tensor logSoftmax(int axis) { return Reductions.softmax(this, axis, true); }
    /** Layer norm over the trailing dims given by normalizedShape; weight/bias may be null. */
    public Tensor layerNorm(int[] normalizedShape, Tensor weight, Tensor bias, double eps) {
        return Reductions.layerNorm(this, normalizedShape, weight, bias, eps);
    }

    // ------------------------------------------------------------------ linear algebra, conv

    /** Matrix product with NumPy matmul semantics (1-d promotion, batch broadcasting). */
    public Tensor matmul(Tensor o) { return MatMul.matmul(this, o); }

    public Tensor conv2d(Tensor weight, Tensor bias, Conv2dParams p) { return Conv.conv2d(this, weight, bias, p); }
    public Tensor maxPool2d(Pool2dParams p) { return Conv.pool2d(PoolOp.MAX, this, p); }
    public Tensor avgPool2d(Pool2dParams p) { return Conv.pool2d(PoolOp.AVG, this, p); }

    // ------------------------------------------------------------------ autograd

    /** True for leaves that ask for gradients and for results of ops on such tensors. */
    public boolean requiresGrad() { return requiresGrad; }

    /** Marks a leaf tensor as a parameter whose gradient is accumulated into {@link #grad()}. */
    public Tensor requiresGrad(boolean on) {
        if (gradFn != null) throw new IllegalStateException("requiresGrad: only leaf tensors can change requires_grad (use detach())");
        if (on && !dtype.isFloating()) throw new IllegalArgumentException("requiresGrad: only floating tensors can require gradients, got " + dtype.pyName());
        requiresGrad = on;
        return this;
    }

    /** Accumulated gradient of a leaf, or null. */
    public Tensor grad() { return grad; }

    /** Replaces the gradient (the old one is closed). */
    public void setGrad(Tensor g) {
        if (grad != null && grad != g) grad.close();
        grad = g;
    }

    /** Drops the gradient (closing it). */
    public void zeroGrad() { setGrad(null); }

    /** The node that produced this tensor, or null for leaves. */
    public Node gradFn() { return gradFn; }

    /** Attaches the op that produced this tensor (called by op front ends while grad mode is on). */
    public Tensor setGradFn(Node fn) {
        this.gradFn = fn;
        this.requiresGrad = fn != null;
        return this;
    }

    /** True when an op on these inputs must be recorded. */
    public static boolean needsGrad(Tensor... inputs) {
        if (!GradMode.isEnabled()) return false;
        for (Tensor t : inputs) if (t != null && t.requiresGrad) return true;
        return false;
    }

    /** Called after each accumulation into this leaf's gradient (e.g. gradient all-reduce hooks). */
    public void addGradHook(java.util.function.Consumer<Tensor> hook) {
        if (gradHooks == null) gradHooks = new java.util.ArrayList<>();
        gradHooks.add(hook);
    }

    /** Runs the gradient hooks (used by the autograd engine). */
    public void runGradHooks() {
        if (gradHooks != null) for (var h : gradHooks) h.accept(this);
    }

    /** Backpropagates from this one-element tensor. */
    public void backward() { Engine.backward(this, null, false); }

    /** Backpropagates with an explicit output gradient. */
    public void backward(Tensor gradient) { Engine.backward(this, gradient, false); }

    /** A view of the same memory that is cut from the graph. */
    public Tensor detach() { return new Tensor(live(), dtype, shape.clone(), strides.clone(), offset, false); }

    // ------------------------------------------------------------------ lifecycle

    /** Releases this tensor's reference to its storage; idempotent. */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        storage.release();
    }

    public boolean isClosed() { return closed; }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder("Tensor(").append(dtype.pyName()).append(", ").append(Shape.str(shape));
        long n = numel();
        if (n <= 16) {
            sb.append(", [");
            for (long i = 0; i < n; i++) {
                if (i > 0) sb.append(", ");
                sb.append(dtype.isFloating() ? String.format("%.6g", getFlat(i)) : Long.toString((long) getFlat(i)));
            }
            sb.append(']');
        }
        return sb.append(')').toString();
    }
}
