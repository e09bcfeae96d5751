package dev.kiln.backend.cpu;

import dev.kiln.tensor.DType;
import dev.kiln.tensor.Storage;
import dev.kiln.tensor.Tensor;

/**
 * The scalar twins of the conv2d backward kernels (used when {@link CpuConfig#scalar()} is set, and
 * for dtypes the GEMM path does not take): direct loops over arbitrary strides and dtypes,
 * accumulating in double, each output element written once (gather form, so no zeroing and no
 * races between threads). They share no code with the GEMM + col2im path.
 * <pre>
 * forward:  y[n,o,oy,ox] = sum_{c<cg, i<kh, j<kw} w[o,c,i,j] * x[n, g*cg + c, oy*sh - ph + i*dh, ox*sw - pw + j*dw]
 * input:    gx[n, g*cg + c, iy, ix] = sum_{o in group g, i, j} w[o,c,i,j] * gy[n,o,oy,ox]
 *                                     over the (oy, ox) with oy*sh = iy + ph - i*dh, ox*sw = ix + pw - j*dw
 * weight:   gw[o,c,i,j] = sum_{n, oy, ox} gy[n,o,oy,ox] * x[n, g*cg + c, oy*sh - ph + i*dh, ox*sw - pw + j*dw]
 * </pre>
 */
final class ConvBackwardScalar {
    private ConvBackwardScalar() {}

    /** gx [N,C,H,W] from gy [N,O,OH,OW] and w [O,C/g,kh,kw]. */
    static void input(Tensor gy, Tensor w, ConvGeometry g, Tensor gx) {
        long cost = (long) g.og() * g.kh() * g.kw() * g.h() * g.w();
        Parallel.forRange(g.n() * g.c(), cost, (s, e) -> {
            for (int idx = s; idx < e; idx++) inputPlane(gy, w, g, idx / g.c(), idx % g.c(), gx);
        });
    }

    /** One input-gradient plane gx[n, ch, :, :]. */
    private static void inputPlane(Tensor gy, Tensor w, ConvGeometry g, int n, int ch, Tensor gx) {
        Storage ys = gy.storage(), ws = w.storage(), xs = gx.storage();
        DType yt = gy.dtype(), wt = w.dtype(), xt = gx.dtype();
        long[] yst = gy.strides(), wst = w.strides(), xst = gx.strides();
        int grp = ch / g.cg(), c = ch % g.cg(), o0 = grp * g.og();
        long yn = gy.offset() + n * yst[0], wc = w.offset() + c * wst[1];
        long dst = gx.offset() + n * xst[0] + ch * xst[1];
        for (int iy = 0; iy < g.h(); iy++)
            for (int ix = 0; ix < g.w(); ix++) {
                double acc = 0;
                for (int i = 0; i < g.kh(); i++) {
                    int oy = tap(iy + g.ph() - i * g.dh(), g.sh(), g.oh());
                    if (oy < 0) continue;
                    for (int j = 0; j < g.kw(); j++) {
                        int ox = tap(ix + g.pw() - j * g.dw(), g.sw(), g.ow());
                        if (ox < 0) continue;
                        for (int o = o0; o < o0 + g.og(); o++) {
                            double yv = ys.getDouble(yt, yn + o * yst[1] + oy * yst[2] + ox * yst[3]);
                            double wv = ws.getDouble(wt, wc + o * wst[0] + i * wst[2] + j * wst[3]);
                            acc += yv * wv;
                        }
                    }
                }
                xs.setDouble(xt, dst + iy * xst[2] + ix * xst[3], acc);
            }
    }

    /** The output index q with q*stride == pos and 0 <= q < size, or -1 when there is none. */
    private static int tap(int pos, int stride, int size) {
        if (pos < 0 || pos % stride != 0) return -1;
        int q = pos / stride;
        return q < size ? q : -1;
    }

    /** gw [O,C/g,kh,kw] from x [N,C,H,W] and gy [N,O,OH,OW]. */
    static void weight(Tensor x, Tensor gy, ConvGeometry g, Tensor gw) {
        long cost = (long) g.n() * g.kg() * g.p();
        Parallel.forRange(g.o(), cost, (s, e) -> {
            for (int o = s; o < e; o++)
                for (int c = 0; c < g.cg(); c++)
                    for (int i = 0; i < g.kh(); i++)
                        for (int j = 0; j < g.kw(); j++) weightTap(x, gy, g, o, c, i, j, gw);
        });
    }

    /** One weight-gradient element gw[o, c, i, j]. */
    private static void weightTap(Tensor x, Tensor gy, ConvGeometry g, int o, int c, int i, int j, Tensor gw) {
        Storage xs = x.storage(), ys = gy.storage();
        DType xt = x.dtype(), yt = gy.dtype();
        long[] xst = x.strides(), yst = gy.strides(), wst = gw.strides();
        int ch = (o / g.og()) * g.cg() + c;
        double acc = 0;
        for (int n = 0; n < g.n(); n++) {
            long xp = x.offset() + n * xst[0] + ch * xst[1];
            long yp = gy.offset() + n * yst[0] + o * yst[1];
            for (int oy = 0; oy < g.oh(); oy++) {
                int iy = oy * g.sh() - g.ph() + i * g.dh();
                if (iy < 0 || iy >= g.h()) continue;
                for (int ox = 0; ox < g.ow(); ox++) {
                    int ix = ox * g.sw() - g.pw() + j * g.dw();
                    if (ix < 0 || ix >= g.w()) continue;
                    acc += ys.getDouble(yt, yp + oy * yst[2] + ox * yst[3]) * xs.getDouble(xt, xp + iy * xst[2] + ix * xst[3]);
                }
            }
        }
        gw.storage().setDouble(gw.dtype(), gw.offset() + o * wst[0] + c * wst[1] + i * wst[2] + j * wst[3], acc);
    }
}
