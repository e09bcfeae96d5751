package dev.kiln.onnx.export;

/** One node attribute to write: an int, float, string, or int/float list (ONNX AttributeProto kinds). */
record OnnxAttr(String name, Kind kind, long i, float f, String s, long[] ints, float[] floats) {
    enum Kind { INT, FLOAT, STRING, INTS, FLOATS }

    static OnnxAttr i(String name, long v) { return new OnnxAttr(name, Kind.INT, v, 0, null, null, null); }

    static OnnxAttr f(String name, double v) { return new OnnxAttr(name, Kind.FLOAT, 0, (float) v, null, null, null); }

    static OnnxAttr s(String name, String v) { return new OnnxAttr(name, Kind.STRING, 0, 0, v, null, null); }

    static OnnxAttr ints(String name, long... v) { return new OnnxAttr(name, Kind.INTS, 0, 0, null, v.clone(), null); }

    static OnnxAttr ints(String name, int... v) {
        long[] l = new long[v.length];
        for (int k = 0; k < v.length; k++) l[k] = v[k];
        return new OnnxAttr(name, Kind.INTS, 0, 0, null, l, null);
    }

    static OnnxAttr floats(String name, float... v) { return new OnnxAttr(name, Kind.FLOATS, 0, 0, null, null, v.clone()); }
}
