package dev.kiln.backend.cpu;

import dev.kiln.tensor.DType;
import dev.kiln.tensor.Storage;
import dev.kiln.tensor.Tensor;

/**
 * The scalar twin of the conv2d kernel (used when {@link CpuConfig#scalar()} is set): a direct
 * seven-loop convolution over arbitrary strides, accumulating in double. It shares no code with
 * the im2col + GEMM path, so comparing the two checks both.
 * <pre>
 * out[n,o,y,x] = bias[o] + sum_{c<cg, i<kh, j<kw} w[o,c,i,j] * in[n, g*cg + c, y*sh - ph + i*dh, x*sw - pw + j*dw]
 *                (g = o / og; terms in the padding are 0)
 * </pre>
 */
final class ConvScalar {
    private ConvScalar() {}

    static void conv2d(Tensor x, Tensor w, Tensor bias, ConvGeometry g, Tensor out) {
        int og = g.og();
        Parallel.forRange(g.n() * g.o(), (long) g.kg() * g.p(), (s, e) -> {
            for (int idx = s; idx < e; idx++) {
                int n = idx / g.o(), o = idx % g.o();
                double b = bias == null ? 0 : bias.getDouble(o);
                plane(x, w, g, n, o, (o / og) * g.cg(), b, out);
            }
        });
    }

    /** One output plane out[n, o, :, :]. */
    private static void plane(Tensor x, Tensor w, ConvGeometry g, int n, int o, int c0, double b, Tensor out) {
        Storage xs = x.storage(), ws = w.storage(), os = out.storage();
        DType t = x.dtype();
        long[] xst = x.strides(), wst = w.strides();
        long xn = x.offset() + n * xst[0], wo = w.offset() + o * wst[0];
        long dst = out.offset() + ((long) n * g.o() + o) * g.p();
        for (int y = 0; y < g.oh(); y++)
            for (int xx = 0; xx < g.ow(); xx++) {
                double acc = b;
                for (int c = 0; c < g.cg(); c++)
                    for (int i = 0; i < g.kh(); i++) {
                        int ih = y * g.sh() - g.ph() + i * g.dh();
                        if (ih < 0 || ih >= g.h()) continue;
                        for (int j = 0; j < g.kw(); j++) {
                            int iw = xx * g.sw() - g.pw() + j * g.dw();
                            if (iw < 0 || iw >= g.w()) continue;
                            double xv = xs.getDouble(t, xn + (c0 + c) * xst[1] + ih * xst[2] + iw * xst[3]);
                            double wv = ws.getDouble(t, wo + c * wst[1] + i * wst[2] + j * wst[3]);
                            acc += xv * wv;
                        }
                    }
                os.setDouble(t, dst + (long) y * g.ow() + xx, acc);
            }
    }
}
