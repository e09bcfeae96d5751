package dev.kiln.tensor;

import java.util.SplittableRandom;

/** A seedable random source for tensor factories and initializers. Not thread-safe. */
public final class Generator {
    private SplittableRandom rng;
    private double spare = Double.NaN;

    public Generator(long seed) { this.rng = new SplittableRandom(seed); }

    private static final Generator DEFAULT = new Generator(0x6b696c6eL);

    /** The process-wide default generator (seeded deterministically; reseed with {@link #manualSeed}). */
    public static synchronized Generator global() { return DEFAULT; }

    public synchronized void manualSeed(long seed) { rng = new SplittableRandom(seed); spare = Double.NaN; }

    /** Uniform in [0, 1). */
    public double nextUniform() { return rng.nextDouble(); }

    /** Standard normal (Box-Muller, pairs cached). */
    public double nextNormal() {
        if (!Double.isNaN(spare)) {
            double s = spare;
            spare = Double.NaN;
            return s;
        }
        double u1, u2;
        do { u1 = rng.nextDouble(); } while (u1 <= 1e-300);
        u2 = rng.nextDouble();
        double r = Math.sqrt(-2.0 * Math.log(u1));
        spare = r * Math.sin(2 * Math.PI * u2);
        return r * Math.cos(2 * Math.PI * u2);
    }

    public long nextLong(long bound) { return rng.nextLong(bound); }
    public int nextInt(int bound) { return rng.nextInt(bound); }
}
