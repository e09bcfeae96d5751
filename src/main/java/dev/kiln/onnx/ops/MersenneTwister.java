package dev.kiln.onnx.ops;

/**
 * MT19937, the 32-bit Mersenne Twister, with the draws of NumPy's legacy {@code RandomState}:
 * {@code new MersenneTwister(s)} followed by {@link #nextDouble()} gives the stream of
 * {@code np.random.seed(s); np.random.uniform(0, 1, n)} (init_genrand seeding, 53-bit doubles from
 * two draws), and {@link #nextGaussian()} the one of {@code np.random.standard_normal} (the polar
 * method, second value of each pair cached). The random ops seed it from their {@code seed}
 * attribute, so seeded models give the values a NumPy reference produces; not thread-safe.
 */
final class MersenneTwister {
    private static final int N = 624, M = 397;
    private final int[] mt = new int[N];
    private int index = N;
    private boolean hasGauss;
    private double gauss;

    MersenneTwister(int seed) {
        mt[0] = seed;
        for (int i = 1; i < N; i++) mt[i] = 1812433253 * (mt[i - 1] ^ (mt[i - 1] >>> 30)) + i;
    }

    /** A generator seeded by the ONNX {@code seed} attribute (float or int), or randomly when absent. */
    static MersenneTwister forSeed(OpCall call) {
        if (!call.hasAttr("seed")) return new MersenneTwister(java.util.concurrent.ThreadLocalRandom.current().nextInt());
        var a = call.attr("seed");
        long s = a.type() == dev.kiln.onnx.OnnxAttribute.Type.FLOAT ? (long) a.f() : a.i();
        return new MersenneTwister((int) s);
    }

    /** The next 32 random bits. */
    int nextInt() {
        if (index >= N) twist();
        int y = mt[index++];
        y ^= y >>> 11;
        y ^= (y << 7) & 0x9d2c5680;
        y ^= (y << 15) & 0xefc60000;
        y ^= y >>> 18;
        return y;
    }

    /** A double in [0, 1) from two draws (27 + 26 bits), as NumPy's random_sample. */
    double nextDouble() {
        long a = (nextInt() & 0xffffffffL) >>> 5, b = (nextInt() & 0xffffffffL) >>> 6;
        return (a * 67108864.0 + b) / 9007199254740992.0;
    }

    /** A standard normal value, as NumPy's legacy gauss (Marsaglia polar method). */
    double nextGaussian() {
        if (hasGauss) {
            hasGauss = false;
            return gauss;
        }
        double x1, x2, r2;
        do {
            x1 = 2.0 * nextDouble() - 1.0;
            x2 = 2.0 * nextDouble() - 1.0;
            r2 = x1 * x1 + x2 * x2;
        } while (r2 >= 1.0 || r2 == 0.0);
        double f = Math.sqrt(-2.0 * Math.log(r2) / r2);
        gauss = f * x1;
        hasGauss = true;
        return f * x2;
    }

    private void twist() {
        for (int i = 0; i < N; i++) {
            int y = (mt[i] & 0x80000000) | (mt[(i + 1) % N] & 0x7fffffff);
            int next = mt[(i + M) % N] ^ (y >>> 1);
            mt[i] = (y & 1) != 0 ? next ^ 0x9908b0df : next;
        }
        index = 0;
    }
}
