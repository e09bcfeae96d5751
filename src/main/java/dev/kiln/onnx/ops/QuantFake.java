package dev.kiln.onnx.ops;

import dev.kiln.backend.Backends;
import dev.kiln.backend.cpu.ConvBlocked;
import dev.kiln.backend.cpu.Parallel;
import dev.kiln.onnx.ElemType;
import dev.kiln.onnx.Value;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Storage;
import dev.kiln.tensor.Tensor;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.List;

/**
 * The dev.kiln "FakeQuant"(x, scale, zero_point; to) node of the importer's QDQ rewrite: a
 * QuantizeLinear whose only reader is a DequantizeLinear with the same per-tensor scale and zero
 * point (the activations of a QDQ model, as ONNX Runtime's quantize_static writes it), in one
 * float pass instead of an integer tensor and two float64 loops:
 * <pre>
 * y = (saturate(rint(x / scale) + zp) - zp) * scale     saturate to the range of "to" (uint8 or int8)
 * </pre>
 * the same float operations as the two reference ops (x / scale in float, ties to even, a NaN
 * quantized to code 0; the vector form is {@link ConvBlocked#fakeQuant}, which a blocked conv also
 * applies to its output when a FakeQuant is its only reader), so the same bits; {@code
 * QuantFakeTest} compares them.
 */
final class QuantFake {
    private QuantFake() {}

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    static List<Value> fakeQuant(OpCall call) {
        Tensor x = call.in(0);
        ElemType to = ElemType.fromCode((int) call.attrInt("to", ElemType.UINT8.code()));
        if (to != ElemType.UINT8 && to != ElemType.INT8) throw call.error("FakeQuant: 'to' must be uint8 or int8, got " + to);
        if (x.dtype() != DType.F32) throw call.error("FakeQuant: needs float32 input, got " + x.dtype());
        Tensor s = call.in(1), z = call.inOrNull(2);
        if (s.numel() != 1 || (z != null && z.numel() != 1)) throw call.error("FakeQuant: scale and zero point must be single values");
        float scale = (float) s.item();
        float zp = z == null ? 0f : (float) z.item();
        Tensor y = Tensor.uninitialized(Backends.cpu(), DType.F32, x.shape());
        try (Tensor xc = x.contiguous()) {
            apply(xc.segment(), xc.offset(), y.segment(), y.offset(), xc.numel(), scale, zp, (float) to.minValue(), (float) to.maxValue(), true);
        }
        return List.of(Value.of(y, ElemType.FLOAT));
    }

    /** y[0:n] = fake quantization of x[0:n] (element offsets); vector: the vector loop (else scalar only, for tests). */
    static void apply(MemorySegment x, long xo, MemorySegment y, long yo, long n, float scale, float zp, float qmin, float qmax, boolean vector) {
        Parallel.forRange((int) Math.min(Integer.MAX_VALUE, (n + 4095) / 4096), 4096 * 4, (s, e) -> {
            long from = (long) s * 4096, to = Math.min(n, (long) e * 4096), i = from;
            if (vector) {
                ConvBlocked.FakeQuant fq = new ConvBlocked.FakeQuant(scale, zp, qmin, qmax);
                for (int l = F.length(); i + l <= to; i += l)
                    ConvBlocked.fakeQuant(FloatVector.fromMemorySegment(F, x, (xo + i) * 4, LE), fq).intoMemorySegment(y, (yo + i) * 4, LE);
            }
            for (; i < to; i++) y.setAtIndex(Storage.F32, yo + i, one(x.getAtIndex(Storage.F32, xo + i), scale, zp, qmin, qmax));
        });
    }

    /** One element, as QuantizeLinear then DequantizeLinear compute it. */
    static float one(float x, float scale, float zp, float qmin, float qmax) {
        double q = Math.rint(x / scale) + zp;
        long code = (long) Math.max(qmin, Math.min(qmax, q));    // NaN: (long) NaN = 0, as QuantOps.saturate
        return (float) ((code - (double) zp) * scale);
    }
}
