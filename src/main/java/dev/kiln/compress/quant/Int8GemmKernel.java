package dev.kiln.compress.quant;

import dev.kiln.backend.cpu.CpuConfig;
import dev.kiln.backend.cpu.Parallel;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The blocked, multi-threaded int8 GEMM body behind {@link Int8Gemm#matmulT(byte[], int, int,
 * Int8Gemm.PackedInt8)} (and the tensor entry points, which call it).
 *
 * <p>The Vector API has no int8 dot-product instruction, so the kernel widens: both operands are
 * offset to unsigned (a' = a + 128, b' = b + 128, in [0, 255]) and stored as 16-bit pairs along K.
 * One 16-bit multiply of an A pair (broadcast) by a B vector of pairs gives, per 32-bit lane (one
 * output column), x = P1 * 2^16 + P0 with both products P0, P1 in [0, 65025] exact as unsigned
 * 16-bit values. Two int accumulators gather S = sum(x) and H = sum(x >>> 16) = sum(P1), so that
 * sum(P0 + P1) = S - (H << 16) + H, exact modulo 2^32. The offsets come back out with row sums:
 * sum(a b) = sum(a' b') - 128 (sum a + sum b) - 16384 Kp. Every step is exact modulo 2^32 and the
 * true result fits in an int, so the output is exact for any K the int32 result can hold.
 *
 * <p>Micro-tile: 2 rows x 2 column blocks of L lanes (8 accumulators: a 4-row tile with 16 made
 * C2 give up on the vector intrinsics, 8x slower, on JDK 25); K is blocked so a B panel
 * stays in L1/L2. Work is split over column-block pairs (and row ranges when there are few).
 * {@link CpuConfig#scalar()} selects a plain-int twin over the same packed data.
 */
final class Int8GemmKernel {
    private Int8GemmKernel() {}

    /** Pairs of K per cache block (B panel of 2 blocks: 2 * 2L * KC shorts). */
    private static final int KC = 256;
    private static final int MR = 2;

    private static final VectorSpecies<Integer> IS = VectorSpecies.of(int.class, CpuConfig.F32.vectorShape());
    private static final VectorSpecies<Short> SS = VectorSpecies.of(short.class, CpuConfig.F32.vectorShape());

    static VectorSpecies<Integer> intSpecies() { return IS; }

    /**
     * Accumulates into cPad [m, nPad] (zeroed by the caller) the offset sums sum(a' b') over the
     * packed operands: ap [m, kh] A pairs, B packed by {@link Int8Gemm#pack}.
     */
    static void run(int[] ap, int m, Int8Gemm.PackedInt8 b, int[] cPad) {
        int nb = b.blocks(), units = (nb + 1) / 2;
        int threads = CpuConfig.threads();
        int rowGroups = (m + MR - 1) / MR;
        int rowChunks = Math.max(1, Math.min(rowGroups, (2 * threads + units - 1) / units));
        int tasks = units * rowChunks;
        long cost = (long) Math.max(1, m / rowChunks) * 2L * b.lanes() * 2L * b.pairs();
        boolean scalar = CpuConfig.scalar() || b.lanes() != intSpecies().length();
        Parallel.forRange(tasks, cost / 4, (s, e) -> {
            for (int t = s; t < e; t++) {
                int unit = t % units, chunk = t / units;
                int g0 = (int) ((long) rowGroups * chunk / rowChunks), g1 = (int) ((long) rowGroups * (chunk + 1) / rowChunks);
                int r0 = g0 * MR, r1 = Math.min(m, g1 * MR);
                int jb0 = 2 * unit, jb1 = Math.min(nb, jb0 + 2);
                if (scalar) scalarTile(ap, b, cPad, r0, r1, jb0, jb1);
                else vectorTile(ap, b, cPad, r0, r1, jb0, jb1);
            }
        });
    }

    /** Rows [r0, r1) x column blocks [jb0, jb1) (one or two), all of K, with the vector kernels. */
    private static void vectorTile(int[] ap, Int8Gemm.PackedInt8 b, int[] c, int r0, int r1, int jb0, int jb1) {
        int kh = b.pairs(), lanes = b.lanes(), nPad = b.blocks() * lanes;
        short[] bp = b.data();
        long blockStride = (long) kh * 2 * lanes;
        for (int q0 = 0; q0 < kh; q0 += KC) {
            int q1 = Math.min(kh, q0 + KC);
            int i = r0;
            if (jb1 - jb0 == 2) {
                for (; i + MR <= r1; i += MR)
                    kernel2x2(ap, i * kh, kh, bp, (int) (jb0 * blockStride), (int) ((jb0 + 1) * blockStride), q0, q1, c, i * nPad + jb0 * lanes, nPad);
            }
            for (; i < r1; i++)
                for (int jb = jb0; jb < jb1; jb++)
                    kernel1x1(ap, i * kh, bp, (int) (jb * blockStride), q0, q1, c, i * nPad + jb * lanes);
        }
    }

    private static void kernel2x2(int[] ap, int a0, int kh, short[] bp, int b0, int b1, int q0, int q1,
                                  int[] c, int c0, int nPad) {
        VectorSpecies<Integer> is = IS;
        VectorSpecies<Short> ss = SS;
        int step = ss.length();
        IntVector z = IntVector.zero(is);
        IntVector s00 = z, s01 = z, s10 = z, s11 = z;
        IntVector h00 = z, h01 = z, h10 = z, h11 = z;
        int a1 = a0 + kh;
        for (int q = q0; q < q1; q++) {
            ShortVector v0 = ShortVector.fromArray(ss, bp, b0 + q * step);
            ShortVector v1 = ShortVector.fromArray(ss, bp, b1 + q * step);
            ShortVector x = IntVector.broadcast(is, ap[a0 + q]).reinterpretAsShorts();
            IntVector p0 = x.mul(v0).reinterpretAsInts(), p1 = x.mul(v1).reinterpretAsInts();
            s00 = s00.add(p0); h00 = h00.add(p0.lanewise(VectorOperators.LSHR, 16));
            s01 = s01.add(p1); h01 = h01.add(p1.lanewise(VectorOperators.LSHR, 16));
            x = IntVector.broadcast(is, ap[a1 + q]).reinterpretAsShorts();
            p0 = x.mul(v0).reinterpretAsInts(); p1 = x.mul(v1).reinterpretAsInts();
            s10 = s10.add(p0); h10 = h10.add(p0.lanewise(VectorOperators.LSHR, 16));
            s11 = s11.add(p1); h11 = h11.add(p1.lanewise(VectorOperators.LSHR, 16));
        }
        int l = is.length();
        flush(s00, h00, c, c0);
        flush(s01, h01, c, c0 + l);
        flush(s10, h10, c, c0 + nPad);
        flush(s11, h11, c, c0 + nPad + l);
    }

    private static void kernel1x1(int[] ap, int a0, short[] bp, int b0, int q0, int q1, int[] c, int c0) {
        VectorSpecies<Integer> is = IS;
        VectorSpecies<Short> ss = SS;
        int step = ss.length();
        IntVector s = IntVector.zero(is), h = s;
        for (int q = q0; q < q1; q++) {
            ShortVector x = IntVector.broadcast(is, ap[a0 + q]).reinterpretAsShorts();
            IntVector p = x.mul(ShortVector.fromArray(ss, bp, b0 + q * step)).reinterpretAsInts();
            s = s.add(p);
            h = h.add(p.lanewise(VectorOperators.LSHR, 16));
        }
        flush(s, h, c, c0);
    }

    /** c[c0 ..] += S - (H << 16) + H: the lane sums of both products of every pair. */
    private static void flush(IntVector s, IntVector h, int[] c, int c0) {
        IntVector sum = s.sub(h.lanewise(VectorOperators.LSHL, 16)).add(h);
        IntVector.fromArray(s.species(), c, c0).add(sum).intoArray(c, c0);
    }

    /** The scalar twin: same packed data and same sums, one lane at a time. */
    private static void scalarTile(int[] ap, Int8Gemm.PackedInt8 b, int[] c, int r0, int r1, int jb0, int jb1) {
        int kh = b.pairs(), lanes = b.lanes(), nPad = b.blocks() * lanes;
        short[] bp = b.data();
        for (int i = r0; i < r1; i++)
            for (int jb = jb0; jb < jb1; jb++) {
                int base = jb * kh * 2 * lanes;
                for (int l = 0; l < lanes; l++) {
                    int acc = 0;
                    for (int q = 0; q < kh; q++) {
                        int a = ap[i * kh + q], o = base + q * 2 * lanes + 2 * l;
                        acc += (a & 0xFFFF) * bp[o] + (a >>> 16) * bp[o + 1];
                    }
                    c[i * nPad + jb * lanes + l] += acc;
                }
            }
    }
}
