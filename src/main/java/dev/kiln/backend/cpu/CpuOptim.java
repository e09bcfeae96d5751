package dev.kiln.backend.cpu;

import dev.kiln.tensor.DType;
import dev.kiln.tensor.Shape;
import dev.kiln.tensor.Storage;
import dev.kiln.tensor.Tensor;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

/**
 * Fused optimizer updates over contiguous F32 parameters (one pass over p, g and the state), with
 * a scalar twin; F64 parameters take the scalar path in double precision.
 */
final class CpuOptim {
    private CpuOptim() {}

    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    private static void check(String op, Tensor p, Tensor... others) {
        if (!p.isContiguous()) throw new IllegalArgumentException(op + ": parameter must be contiguous");
        for (Tensor t : others) {
            if (t == null) continue;
            if (!t.isContiguous() || t.numel() != p.numel() || t.dtype() != p.dtype())
                throw new IllegalArgumentException(op + ": state/gradient " + Shape.str(t.shape()) + " " + t.dtype().pyName()
                        + " does not match parameter " + Shape.str(p.shape()) + " " + p.dtype().pyName());
        }
    }

    static void sgd(Tensor p, Tensor g, Tensor buf, double lr, double momentum, double dampening, double wd,
                    boolean nesterov, boolean first) {
        check("sgd", p, g, buf);
        int n = Math.toIntExact(p.numel());
        if (p.dtype() == DType.F32 && !CpuConfig.scalar()) {
            sgdF32(p.segment(), p.offset() * 4, g.segment(), g.offset() * 4, buf == null ? null : buf.segment(),
                    buf == null ? 0 : buf.offset() * 4, n, (float) lr, (float) momentum, (float) (1 - dampening), (float) wd, nesterov, first);
            return;
        }
        Storage ps = p.storage(), gs = g.storage(), bs = buf == null ? null : buf.storage();
        DType t = p.dtype();
        for (int i = 0; i < n; i++) {
            long pi = p.offset() + i, gi = g.offset() + i;
            double pv = ps.getDouble(t, pi);
            double d = gs.getDouble(t, gi) + wd * pv;
            if (momentum != 0) {
                long bi = buf.offset() + i;
                double b = first ? d : momentum * bs.getDouble(t, bi) + (1 - dampening) * d;
                bs.setDouble(t, bi, b);
                d = nesterov ? d + momentum * b : b;
            }
            ps.setDouble(t, pi, pv - lr * d);
        }
    }

    private static void sgdF32(MemorySegment p, long po, MemorySegment g, long go, MemorySegment b, long bo, int n,
                               float lr, float mom, float damp1, float wd, boolean nesterov, boolean first) {
        VectorSpecies<Float> sp = CpuConfig.F32;
        int step = sp.length(), i = 0;
        for (; i <= n - step; i += step) {
            long o = (long) i * 4;
            FloatVector pv = FloatVector.fromMemorySegment(sp, p, po + o, LE);
            FloatVector d = FloatVector.fromMemorySegment(sp, g, go + o, LE);
            if (wd != 0) d = pv.mul(wd).add(d);
            if (mom != 0) {
                FloatVector bv = first ? d : FloatVector.fromMemorySegment(sp, b, bo + o, LE).mul(mom).add(d.mul(damp1));
                bv.intoMemorySegment(b, bo + o, LE);
                d = nesterov ? bv.mul(mom).add(d) : bv;
            }
            pv.sub(d.mul(lr)).intoMemorySegment(p, po + o, LE);
        }
        for (; i < n; i++) {
            long o = (long) i * 4;
            float pv = p.get(Storage.F32, po + o);
            float d = g.get(Storage.F32, go + o) + wd * pv;
            if (mom != 0) {
                float bv = first ? d : mom * b.get(Storage.F32, bo + o) + damp1 * d;
                b.set(Storage.F32, bo + o, bv);
                d = nesterov ? d + mom * bv : bv;
            }
            p.set(Storage.F32, po + o, pv - lr * d);
        }
    }

    static void adam(Tensor p, Tensor g, Tensor m, Tensor v, double lr, double b1, double b2, double eps,
                     double wd, boolean decoupled, long step) {
        check("adam", p, g, m, v);
        int n = Math.toIntExact(p.numel());
        double bc1 = 1 - Math.pow(b1, step), bc2 = 1 - Math.pow(b2, step);
        double stepSize = lr / bc1, bc2Sqrt = Math.sqrt(bc2);
        double decay = decoupled ? 1 - lr * wd : 1;
        double l2 = decoupled ? 0 : wd;
        if (p.dtype() == DType.F32 && !CpuConfig.scalar()) {
            adamF32(p.segment(), p.offset() * 4, g.segment(), g.offset() * 4, m.segment(), m.offset() * 4, v.segment(), v.offset() * 4,
                    n, (float) b1, (float) b2, (float) eps, (float) stepSize, (float) (1 / bc2Sqrt), (float) decay, (float) l2);
            return;
        }
        Storage ps = p.storage(), gs = g.storage(), ms = m.storage(), vs = v.storage();
        DType t = p.dtype();
        for (int i = 0; i < n; i++) {
            double pv = ps.getDouble(t, p.offset() + i) * decay;
            double gv = gs.getDouble(t, g.offset() + i) + l2 * pv;
            double mv = b1 * ms.getDouble(t, m.offset() + i) + (1 - b1) * gv;
            double vv = b2 * vs.getDouble(t, v.offset() + i) + (1 - b2) * gv * gv;
            ms.setDouble(t, m.offset() + i, mv);
            vs.setDouble(t, v.offset() + i, vv);
            ps.setDouble(t, p.offset() + i, pv - stepSize * mv / (Math.sqrt(vv) / bc2Sqrt + eps));
        }
    }

    private static void adamF32(MemorySegment p, long po, MemorySegment g, long go, MemorySegment m, long mo,
                                MemorySegment v, long vo, int n, float b1, float b2, float eps, float stepSize,
                                float invBc2Sqrt, float decay, float l2) {
        VectorSpecies<Float> sp = CpuConfig.F32;
        int step = sp.length(), i = 0;
        for (; i <= n - step; i += step) {
            long o = (long) i * 4;
            FloatVector pv = FloatVector.fromMemorySegment(sp, p, po + o, LE).mul(decay);
            FloatVector gv = FloatVector.fromMemorySegment(sp, g, go + o, LE);
            if (l2 != 0) gv = pv.mul(l2).add(gv);
            FloatVector mv = FloatVector.fromMemorySegment(sp, m, mo + o, LE).mul(b1).add(gv.mul(1 - b1));
            FloatVector vv = FloatVector.fromMemorySegment(sp, v, vo + o, LE).mul(b2).add(gv.mul(gv).mul(1 - b2));
            mv.intoMemorySegment(m, mo + o, LE);
            vv.intoMemorySegment(v, vo + o, LE);
            FloatVector denom = vv.lanewise(VectorOperators.SQRT).mul(invBc2Sqrt).add(eps);
            pv.sub(mv.div(denom).mul(stepSize)).intoMemorySegment(p, po + o, LE);
        }
        for (; i < n; i++) {
            long o = (long) i * 4;
            float pv = p.get(Storage.F32, po + o) * decay;
            float gv = g.get(Storage.F32, go + o) + l2 * pv;
            float mv = b1 * m.get(Storage.F32, mo + o) + (1 - b1) * gv;
            float vv = b2 * v.get(Storage.F32, vo + o) + (1 - b2) * gv * gv;
            m.set(Storage.F32, mo + o, mv);
            v.set(Storage.F32, vo + o, vv);
            p.set(Storage.F32, po + o, pv - stepSize * mv / ((float) Math.sqrt(vv) * invBc2Sqrt + eps));
        }
    }
}
