package dev.kiln.onnx.ops;

import dev.kiln.ops.Conv;
import dev.kiln.ops.Conv2dParams;
import dev.kiln.tensor.Tensor;

/**
 * 3-d convolution of float types as a sum of engine conv2d calls, one per kernel depth:
 * <pre>
 * xp = x zero-padded on depth (and on H/W by the asymmetric part of the pads)
 * for kd: slab [N*OD, C, Hp, Wp] = xp[:, :, kd*dil + od*stride] (od = 0..OD-1)
 *         acc [N*OD, M, OH, OW] += conv2d(slab, W[:, :, kd])
 * y [N, M, OD, OH, OW] = acc permuted back + bias
 * </pre>
 */
final class NnConv3d {
    private NnConv3d() {}

    static Tensor conv3d(Tensor x, Tensor w, Tensor b, NnWindow win, int group) {
        int[] pb = win.padBegin(), pe = win.padEnd(), st = win.strides(), dil = win.dilations();
        int symH = Math.min(pb[1], pe[1]), symW = Math.min(pb[2], pe[2]);
        int[] extraB = {pb[0], pb[1] - symH, pb[2] - symW}, extraE = {pe[0], pe[1] - symH, pe[2] - symW};
        boolean padCopy = !NnData.allZero(extraB) || !NnData.allZero(extraE);
        Tensor xp = padCopy ? NnData.pad(x, extraB, extraE, 0) : x;
        int n = x.size(0), c = x.size(1), od = win.out()[0], m = w.size(0);
        Conv2dParams p = new Conv2dParams(st[1], st[2], symH, symW, dil[1], dil[2], group);
        Tensor acc = null;
        try {
            for (int kd = 0; kd < win.kernel()[0]; kd++) {
                int d0 = kd * dil[0];
                Tensor y2;
                try (Tensor slab = xp.slice(2, d0, d0 + (od - 1) * st[0] + 1, st[0]);
                     Tensor perm = slab.permute(0, 2, 1, 3, 4);
                     Tensor batch = perm.reshape(n * od, c, xp.size(3), xp.size(4));
                     Tensor wk = w.select(2, kd); Tensor wc = wk.contiguous()) {
                    y2 = Conv.conv2d(batch, wc, null, p);
                }
                if (acc == null) acc = y2;
                else {
                    try (Tensor old = acc; y2) {
                        acc = old.add(y2);
                    }
                }
            }
        } finally {
            if (xp != x) xp.close();
        }
        int oh = acc.size(2), ow = acc.size(3);
        Tensor y;
        try (Tensor a = acc; Tensor v = a.view(n, od, m, oh, ow); Tensor back = v.permute(0, 2, 1, 3, 4)) {
            y = back.contiguous();
        }
        if (b != null) {
            try (Tensor old = y; Tensor bb = b.reshape(1, m, 1, 1, 1)) {
                y = old.add(bb);
            }
        }
        return NnData.castTo(y, x.dtype());
    }
}
