package dev.kiln.tensor;

/**
 * A seedable random source for tensor factories, initializers and dropout. Not thread-safe. Its
 * stream is exactly {@link java.util.SplittableRandom}'s for the same seed (SplitMix64 with the
 * golden gamma; the bounded draws reject as the JDK's do), written out here so that its state can
 * be copied: {@link #snapshot()} / {@link #restore} let activation checkpointing replay the same
 * dropout masks when it recomputes a block (GeneratorTest checks the stream against the JDK's).
 */
public final class Generator {
    /** The SplitMix64 step: a draw advances the state by it (see {@link #reserve}). */
    public static final long GOLDEN_GAMMA = 0x9e3779b97f4a7c15L;
    private long seed;
    private double spare = Double.NaN;

    public Generator(long seed) { this.seed = seed; }

    private Generator(long seed, double spare) {
        this.seed = seed;
        this.spare = spare;
    }

    private static final Generator DEFAULT = new Generator(0x6b696c6eL);

    /** The process-wide default generator (seeded deterministically; reseed with {@link #manualSeed}). */
    public static synchronized Generator global() { return DEFAULT; }

    public synchronized void manualSeed(long seed) {
        this.seed = seed;
        spare = Double.NaN;
    }

    /** A copy of the current state: drawing from it gives what this generator would draw next. */
    public synchronized Generator snapshot() { return new Generator(seed, spare); }

    /** Sets this generator's state to s's. */
    public synchronized void restore(Generator s) {
        seed = s.seed;
        spare = s.spare;
    }

    /** The state as text ("seed:spare" in hex), for checkpoints; {@link #setState} reads it back. */
    public synchronized String state() {
        return Long.toHexString(seed) + ":" + Long.toHexString(Double.doubleToRawLongBits(spare));
    }

    /** Restores a state written by {@link #state()}; a malformed one is a one-line error. */
    public synchronized void setState(String s) {
        int colon = s == null ? -1 : s.indexOf(':');
        try {
            if (colon < 0) throw new NumberFormatException();
            long sd = Long.parseUnsignedLong(s.substring(0, colon), 16);
            double sp = Double.longBitsToDouble(Long.parseUnsignedLong(s.substring(colon + 1), 16));
            seed = sd;
            spare = sp;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("generator state '" + s + "' is not seed:spare in hex");
        }
    }

    private long nextSeed() { return seed += GOLDEN_GAMMA; }

    private static long mix64(long z) {
        z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
        z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
        return z ^ (z >>> 31);
    }

    private static int mix32(long z) {
        z = (z ^ (z >>> 33)) * 0x62a9d9ed799705f5L;
        return (int) (((z ^ (z >>> 28)) * 0xcb24d0a5c88c35b3L) >>> 32);
    }

    private long rawLong() { return mix64(nextSeed()); }

    /**
     * Takes the next n raw draws at once and returns the state before them: draw i (0-based) of the
     * block is {@link #draw}{@code (base, i)}, exactly what n calls of {@link #nextUniform} would have
     * consumed (its uniform is {@code (draw >>> 11) * 2^-53}). Lets a kernel draw a block in parallel.
     */
    public synchronized long reserve(long n) {
        if (n < 0) throw new IllegalArgumentException("Generator.reserve: n must be >= 0, got " + n);
        long base = seed;
        seed += n * GOLDEN_GAMMA;
        return base;
    }

    /** Raw 64-bit draw i of a block that {@link #reserve} returned base for. */
    public static long draw(long base, long i) { return mix64(base + (i + 1) * GOLDEN_GAMMA); }

    private int rawInt() { return mix32(nextSeed()); }

    /** Uniform in [0, 1). */
    public double nextUniform() { return (rawLong() >>> 11) * 0x1.0p-53; }

    /** Standard normal (Box-Muller, pairs cached). */
    public double nextNormal() {
        if (!Double.isNaN(spare)) {
            double s = spare;
            spare = Double.NaN;
            return s;
        }
        double u1, u2;
        do { u1 = nextUniform(); } while (u1 <= 1e-300);
        u2 = nextUniform();
        double r = Math.sqrt(-2.0 * Math.log(u1));
        spare = r * Math.sin(2 * Math.PI * u2);
        return r * Math.cos(2 * Math.PI * u2);
    }

    /** Uniform in [0, bound). */
    public long nextLong(long bound) {
        if (bound <= 0) throw new IllegalArgumentException("bound must be positive");
        long r = rawLong(), m = bound - 1;
        if ((bound & m) == 0L) return r & m;
        for (long u = r >>> 1; u + m - (r = u % bound) < 0L; u = rawLong() >>> 1) { }
        return r;
    }

    /** Uniform in [0, bound). */
    public int nextInt(int bound) {
        if (bound <= 0) throw new IllegalArgumentException("bound must be positive");
        int r = rawInt(), m = bound - 1;
        if ((bound & m) == 0) return r & m;
        for (int u = r >>> 1; u + m - (r = u % bound) < 0; u = rawInt() >>> 1) { }
        return r;
    }
}
