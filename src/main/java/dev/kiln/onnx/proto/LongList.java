package dev.kiln.onnx.proto;

import java.util.Arrays;

/** A growable list of longs, for repeated numeric protobuf fields (floats kept as their bits). */
public final class LongList {
    private long[] data = new long[8];
    private int size;

    public void add(long v) {
        if (size == data.length) data = Arrays.copyOf(data, Math.max(8, size * 2));
        data[size++] = v;
    }

    public int size() { return size; }

    public long get(int i) {
        if (i >= size) throw new IndexOutOfBoundsException(i + " >= " + size);
        return data[i];
    }

    public long[] toArray() { return Arrays.copyOf(data, size); }

    /** The values as floats (each long holds a float's bits). */
    public float[] toFloatArray() {
        float[] f = new float[size];
        for (int i = 0; i < size; i++) f[i] = Float.intBitsToFloat((int) data[i]);
        return f;
    }
}
