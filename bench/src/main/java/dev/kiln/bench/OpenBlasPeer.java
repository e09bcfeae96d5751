package dev.kiln.bench;

import dev.kiln.cli.GemmPeer;
import org.bytedeco.javacpp.FloatPointer;

import java.lang.foreign.MemorySegment;

import static org.bytedeco.openblas.global.openblas_full.CblasNoTrans;
import static org.bytedeco.openblas.global.openblas_full.CblasRowMajor;
import static org.bytedeco.openblas.global.openblas_full.cblas_sgemm;
import static org.bytedeco.openblas.global.openblas_full.cblas_sgemv;
import static org.bytedeco.openblas.global.openblas_full.CblasTrans;
import static org.bytedeco.openblas.global.openblas_full.openblas_get_config;
import static org.bytedeco.openblas.global.openblas_full.openblas_set_num_threads;

/**
 * OpenBLAS (JavaCPP presets, bundled libopenblas) as the {@link GemmPeer} of `kiln bench gemm`.
 * Off-heap segments are handed to cblas_sgemm as pointers to their native addresses, with no
 * copy. The {@code openblas_full} binding is used because it exposes openblas_set_num_threads
 * and openblas_get_config (the plain {@code openblas} class of this preset version does not).
 */
public final class OpenBlasPeer implements GemmPeer {
    /**
     * Before JavaCPP's Loader starts: its log goes to SLF4J (slf4j-simple), JavaCPP's documented
     * switch ({@code org.bytedeco.javacpp.logger=slf4j}), with the Loader's warnings left out and its
     * errors kept. Otherwise every run prints "Versions of org.bytedeco:javacpp:1.5.14 and
     * org.bytedeco:openblas:0.3.31-1.5.13 do not match": the engine's CUDA presets need javacpp
     * 1.5.14, and 0.3.31-1.5.13 is the newest openblas preset; the pair works, and bench gemm checks
     * OpenBLAS's results against Kiln's. Settings given on the command line are left alone.
     */
    static {
        if (System.getProperty("org.bytedeco.javacpp.logger") == null) {
            System.setProperty("org.bytedeco.javacpp.logger", "slf4j");
            if (System.getProperty("org.slf4j.simpleLogger.log.org.bytedeco.javacpp.Loader") == null)
                System.setProperty("org.slf4j.simpleLogger.log.org.bytedeco.javacpp.Loader", "error");
        }
    }

    private final String name;

    /** Loads the native library at once, so a missing one fails at ServiceLoader time. */
    public OpenBlasPeer() {
        String config = openblas_get_config().getString();     // "OpenBLAS 0.3.31 DYNAMIC_ARCH ... Cooperlake ..."
        String[] words = config.trim().split("\\s+");
        this.name = words.length >= 2 ? words[0] + " " + words[1] : config.trim();
    }

    @Override
    public String name() { return name; }

    @Override
    public void setThreads(int threads) { openblas_set_num_threads(threads); }

    @Override
    public void sgemm(int m, int n, int k, MemorySegment a, MemorySegment b, MemorySegment c) {
        if (a.byteSize() < 4L * m * k || b.byteSize() < 4L * k * n || c.byteSize() < 4L * m * n)
            throw new IllegalArgumentException("OpenBlasPeer.sgemm: segments too small for m=" + m + " n=" + n + " k=" + k);
        if (m == 1) {     // OpenBLAS's own best for a row vector: sgemv (its sgemm packs B for one row)
            cblas_sgemv(CblasRowMajor, CblasTrans, k, n, 1f, new SegmentPointer(b), n, new SegmentPointer(a), 1,
                    0f, new SegmentPointer(c), 1);
            return;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1f,
                new SegmentPointer(a), k, new SegmentPointer(b), n, 0f, new SegmentPointer(c), n);
    }

    /** A FloatPointer over an off-heap segment's memory (no ownership: nothing is freed). */
    private static final class SegmentPointer extends FloatPointer {
        SegmentPointer(MemorySegment s) {
            if (!s.isNative()) throw new IllegalArgumentException("OpenBlasPeer: needs off-heap (native) memory segments");
            address = s.address();
            capacity = limit = s.byteSize() / Float.BYTES;
        }
    }
}
