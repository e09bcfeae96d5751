package dev.kiln.onnx.ops;

import dev.kiln.onnx.ElemType;
import dev.kiln.ops.Linear;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Tensor;

import java.util.function.DoubleUnaryOperator;

/**
 * One direction of an RNN/GRU/LSTM: the time loop. Holds the precomputed input projections
 * {@code xw} ([seq*batch, G*H], biases folded in), the recurrent weights as Kiln tensors, and the
 * running state {@code h} (and {@code c}) as [batch, H] doubles. Each step runs the recurrent
 * GEMM(s) with Kiln and the gate equations of the ONNX spec element by element.
 */
final class RnnCell {
    private final RnnOps.Kind kind;
    private final int seq, batch, hidden, dirs, dir;
    double[] xw, recBias, peep, h, c;
    DoubleUnaryOperator[] acts;
    double clip;
    boolean linearBeforeReset, inputForget;
    private Tensor rMain, rGruH;
    private ElemType computeType;

    RnnCell(RnnOps.Kind kind, int seq, int batch, int hidden, int dirs, int dir) {
        this.kind = kind;
        this.seq = seq;
        this.batch = batch;
        this.hidden = hidden;
        this.dirs = dirs;
        this.dir = dir;
    }

    /** R of this direction ([G*H, H]); GRU splits off the h gate, whose input depends on r. */
    void setWeights(Tensor rd, DType dt) {
        computeType = ElemType.of(dt);
        if (kind == RnnOps.Kind.GRU) {
            rMain = rd.narrow(0, 0, 2 * hidden).to(dt);
            rGruH = rd.narrow(0, 2 * hidden, hidden).to(dt);
        } else {
            rMain = rd.to(dt);
        }
    }

    /** Runs all steps, writing each active step's h into y ([seq, dirs, batch, H]). */
    void run(int[] lens, boolean reverse, double[] y) {
        try {
            for (int step = 0; step < seq; step++) {
                int[] time = new int[batch];
                for (int b = 0; b < batch; b++) time[b] = step < lens[b] ? (reverse ? lens[b] - 1 - step : step) : -1;
                double[] rec = recurrent(rMain, h);
                switch (kind) {
                    case RNN -> stepRnn(time, rec);
                    case GRU -> stepGru(time, rec);
                    case LSTM -> stepLstm(time, rec);
                }
                for (int b = 0; b < batch; b++) {
                    if (time[b] < 0) continue;
                    int at = ((time[b] * dirs + dir) * batch + b) * hidden;
                    System.arraycopy(h, b * hidden, y, at, hidden);
                }
            }
        } finally {
            rMain.close();
            if (rGruH != null) rGruH.close();
        }
    }

    /** state [batch, H] x r^T with Kiln's GEMM. */
    private double[] recurrent(Tensor r, double[] state) {
        try (Tensor st = NormArrays.tensor(state, computeType, batch, hidden);
             Tensor prod = Linear.linear(st, r, null)) {
            return prod.toDoubleArray();
        }
    }

    private double act(int i, double v) {
        return acts[i].applyAsDouble(Math.max(-clip, Math.min(clip, v)));
    }

    private int xRow(int t, int b) { return (t * batch + b) * kind.gates * hidden; }

    private void stepRnn(int[] time, double[] rec) {
        for (int b = 0; b < batch; b++) {
            if (time[b] < 0) continue;
            int xr = xRow(time[b], b);
            for (int j = 0; j < hidden; j++) h[b * hidden + j] = act(0, xw[xr + j] + rec[b * hidden + j]);
        }
    }

    /** Gates z, r, h (f = acts[0], g = acts[1]); rec holds H x [Rz; Rr]^T. */
    private void stepGru(int[] time, double[] rec) {
        int n = batch * hidden;
        double[] z = new double[n], r = new double[n], gated = new double[n];
        for (int b = 0; b < batch; b++) {
            if (time[b] < 0) continue;
            int xr = xRow(time[b], b);
            for (int j = 0; j < hidden; j++) {
                int k = b * hidden + j;
                z[k] = act(0, xw[xr + j] + rec[b * 2 * hidden + j]);
                r[k] = act(0, xw[xr + hidden + j] + rec[b * 2 * hidden + hidden + j]);
                gated[k] = r[k] * h[k];
            }
        }
        double[] recH = recurrent(rGruH, linearBeforeReset ? h : gated);
        for (int b = 0; b < batch; b++) {
            if (time[b] < 0) continue;
            int xr = xRow(time[b], b) + 2 * hidden;
            for (int j = 0; j < hidden; j++) {
                int k = b * hidden + j;
                double pre = linearBeforeReset ? xw[xr + j] + r[k] * (recH[k] + recBias[j])
                        : xw[xr + j] + recH[k] + recBias[j];
                double cand = act(1, pre);
                h[k] = (1 - z[k]) * cand + z[k] * h[k];
            }
        }
    }

    /** Gates i, o, f, c (f = acts[0], g = acts[1], h = acts[2]); peepholes P = [Pi, Po, Pf]. */
    private void stepLstm(int[] time, double[] rec) {
        int gh = 4 * hidden;
        for (int b = 0; b < batch; b++) {
            if (time[b] < 0) continue;
            int xr = xRow(time[b], b);
            for (int j = 0; j < hidden; j++) {
                int k = b * hidden + j, rr = b * gh + j;
                double cPrev = c[k];
                double pi = peep == null ? 0 : peep[j], po = peep == null ? 0 : peep[hidden + j];
                double pf = peep == null ? 0 : peep[2 * hidden + j];
                double i = act(0, xw[xr + j] + rec[rr] + pi * cPrev);
                double f = inputForget ? 1 - i : act(0, xw[xr + 2 * hidden + j] + rec[rr + 2 * hidden] + pf * cPrev);
                double cand = act(1, xw[xr + 3 * hidden + j] + rec[rr + 3 * hidden]);
                double cNew = f * cPrev + i * cand;
                double o = act(0, xw[xr + hidden + j] + rec[rr + hidden] + po * cNew);
                c[k] = cNew;
                h[k] = o * acts[2].applyAsDouble(cNew);
            }
        }
    }
}
