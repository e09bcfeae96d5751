package dev.kiln.nn;

import dev.kiln.ops.Pool2dParams;
import dev.kiln.tensor.Tensor;

/** MaxPool2d / AvgPool2d / AdaptiveAvgPool2d layers. */
public final class Pool2d extends Module {
    private final String name;
    private final Pool2dParams p;
    private final boolean max;
    private final int outH, outW; // adaptive when > 0

    private Pool2d(String name, Pool2dParams p, boolean max, int outH, int outW) {
        this.name = name;
        this.p = p;
        this.max = max;
        this.outH = outH;
        this.outW = outW;
    }

    /** torch.nn.MaxPool2d(kernel, stride = kernel, padding = 0). */
    public static Pool2d max(int kernel) { return max(kernel, kernel, 0); }
    public static Pool2d max(int kernel, int stride, int padding) { return new Pool2d("MaxPool2d", Pool2dParams.of(kernel, stride, padding), true, 0, 0); }
    public static Pool2d avg(int kernel) { return avg(kernel, kernel, 0); }
    public static Pool2d avg(int kernel, int stride, int padding) { return new Pool2d("AvgPool2d", Pool2dParams.of(kernel, stride, padding), false, 0, 0); }
    public static Pool2d of(Pool2dParams p, boolean max) { return new Pool2d(max ? "MaxPool2d" : "AvgPool2d", p, max, 0, 0); }

    /** torch.nn.AdaptiveAvgPool2d((h, w)): bins of start floor(i*H/h), end ceil((i+1)*H/h). */
    public static Pool2d adaptiveAvg(int h, int w) { return new Pool2d("AdaptiveAvgPool2d", null, false, h, w); }

    @Override
    public Tensor forward(Tensor x) {
        if (outH > 0) return adaptive(x);
        return max ? x.maxPool2d(p) : x.avgPool2d(p);
    }

    private Tensor adaptive(Tensor x) {
        int[] s = x.shape();
        int h = s[s.length - 2], w = s[s.length - 1];
        if (h % outH == 0 && w % outW == 0) {
            // uniform bins: a plain average pool
            int kh = h / outH, kw = w / outW;
            return x.avgPool2d(new Pool2dParams(kh, kw, kh, kw, 0, 0, false, true));
        }
        // general bins: average each bin with slices (small outputs, e.g. 1x1 or 7x7)
        Tensor[] rows = new Tensor[outH];
        for (int i = 0; i < outH; i++) {
            int h0 = Math.floorDiv(i * h, outH), h1 = -Math.floorDiv(-(i + 1) * h, outH);
            Tensor[] cols = new Tensor[outW];
            for (int j = 0; j < outW; j++) {
                int w0 = Math.floorDiv(j * w, outW), w1 = -Math.floorDiv(-(j + 1) * w, outW);
                cols[j] = x.narrow(-2, h0, h1 - h0).narrow(-1, w0, w1 - w0).mean(new int[]{-2, -1}, false).unsqueeze(-1);
            }
            rows[i] = dev.kiln.ops.Join.cat(cols, -1).unsqueeze(-2);
        }
        return dev.kiln.ops.Join.cat(rows, -2);
    }

    /** The window parameters, or null for an adaptive pool. */
    public Pool2dParams params() { return p; }

    public boolean isMax() { return max; }

    /** {h, w} of an adaptive pool's output, or null for a fixed-window pool. */
    public int[] adaptiveOutput() { return outH > 0 ? new int[]{outH, outW} : null; }

    @Override public String toString() { return name + (outH > 0 ? "(" + outH + ", " + outW + ")" : "(" + p + ")"); }
}
