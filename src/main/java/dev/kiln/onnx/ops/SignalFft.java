package dev.kiln.onnx.ops;

/**
 * One-dimensional complex discrete Fourier transform in double precision, in place on separate
 * real and imaginary arrays: an iterative radix-2 FFT when the length is a power of two, otherwise
 * the direct O(n^2) sum with a twiddle table. The inverse divides by n (NumPy's "backward" norm).
 */
final class SignalFft {
    private SignalFft() {}

    static void transform(double[] re, double[] im, boolean inverse) {
        int n = re.length;
        if (n <= 1) return;
        if (Integer.bitCount(n) == 1) radix2(re, im, inverse);
        else direct(re, im, inverse);
        if (inverse) {
            for (int i = 0; i < n; i++) {
                re[i] /= n;
                im[i] /= n;
            }
        }
    }

    private static void direct(double[] re, double[] im, boolean inverse) {
        int n = re.length;
        double sign = inverse ? 1 : -1;
        double[] cos = new double[n], sin = new double[n];
        for (int k = 0; k < n; k++) {
            double a = 2 * Math.PI * k / n;
            cos[k] = Math.cos(a);
            sin[k] = sign * Math.sin(a);
        }
        double[] outRe = new double[n], outIm = new double[n];
        for (int k = 0; k < n; k++) {
            double sr = 0, si = 0;
            for (int j = 0; j < n; j++) {
                int t = (int) ((long) k * j % n);
                sr += re[j] * cos[t] - im[j] * sin[t];
                si += re[j] * sin[t] + im[j] * cos[t];
            }
            outRe[k] = sr;
            outIm[k] = si;
        }
        System.arraycopy(outRe, 0, re, 0, n);
        System.arraycopy(outIm, 0, im, 0, n);
    }

    private static void radix2(double[] re, double[] im, boolean inverse) {
        int n = re.length;
        for (int i = 1, j = 0; i < n; i++) { // bit-reversal permutation
            int bit = n >> 1;
            for (; (j & bit) != 0; bit >>= 1) j ^= bit;
            j ^= bit;
            if (i < j) {
                double t = re[i]; re[i] = re[j]; re[j] = t;
                t = im[i]; im[i] = im[j]; im[j] = t;
            }
        }
        double sign = inverse ? 1 : -1;
        for (int len = 2; len <= n; len <<= 1) {
            double ang = sign * 2 * Math.PI / len;
            for (int start = 0; start < n; start += len) {
                for (int k = 0; k < len / 2; k++) {
                    double wr = Math.cos(ang * k), wi = Math.sin(ang * k);
                    int a = start + k, b = a + len / 2;
                    double xr = re[b] * wr - im[b] * wi, xi = re[b] * wi + im[b] * wr;
                    re[b] = re[a] - xr;
                    im[b] = im[a] - xi;
                    re[a] += xr;
                    im[a] += xi;
                }
            }
        }
    }
}
