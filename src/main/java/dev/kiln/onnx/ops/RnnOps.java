package dev.kiln.onnx.ops;

import dev.kiln.onnx.ElemType;
import dev.kiln.onnx.Value;
import dev.kiln.ops.Linear;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.DoubleUnaryOperator;

/**
 * ONNX RNN, GRU and LSTM (all directions, both layouts, sequence_lens, initial states, peepholes,
 * clip, GRU linear_before_reset, LSTM input_forget, custom activations).
 *
 * <p>Per direction, the input projection of every time step is one Kiln GEMM
 * ({@code X [seq*batch, I] x W^T + biases}); each step then runs the recurrent GEMM
 * {@code H [batch, H] x R^T} with Kiln and the gate arithmetic in double precision
 * ({@link RnnCell}). With sequence_lens, batch entry b runs only its first len[b] steps (the
 * reverse direction walks them backwards), Y is zero past its length, and Y_h / Y_c hold its last
 * valid state.
 */
final class RnnOps {
    private RnnOps() {}

    /** The three recurrent ops: gate count and default activations per direction. */
    enum Kind {
        RNN(1, "Tanh"), GRU(3, "Sigmoid", "Tanh"), LSTM(4, "Sigmoid", "Tanh", "Tanh");

        final int gates;
        final String[] activations;

        Kind(int gates, String... activations) {
            this.gates = gates;
            this.activations = activations;
        }
    }

    static void register(OpRegistry r) {
        r.register("RNN", c -> run(c, Kind.RNN));
        r.register("GRU", c -> run(c, Kind.GRU));
        r.register("LSTM", c -> run(c, Kind.LSTM));
    }

    private static List<Value> run(OpCall call, Kind kind) {
        boolean batchFirst = call.attrInt("layout", 0) == 1;
        try (Scope s = Scope.open()) {
            Tensor x = call.in(0);
            if (x.dim() != 3) throw call.error("X must have rank 3, got shape " + Arrays.toString(x.shape()));
            if (batchFirst) x = x.transpose(0, 1);
            int seq = x.size(0), batch = x.size(1), input = x.size(2);
            Tensor w = call.in(1), r = call.in(2);
            int hidden = call.hasAttr("hidden_size") ? (int) call.attrInt("hidden_size", 0) : r.size(-1);
            String direction = call.attrString("direction", "forward");
            if (!direction.equals("forward") && !direction.equals("reverse") && !direction.equals("bidirectional"))
                throw call.error("direction must be forward, reverse or bidirectional, got '" + direction + "'");
            int dirs = direction.equals("bidirectional") ? 2 : 1;
            int gh = kind.gates * hidden;
            checkShape(call, w, "W", dirs, gh, input);
            checkShape(call, r, "R", dirs, gh, hidden);

            DType dt = x.dtype() == DType.F64 ? DType.F64 : DType.F32;
            Tensor x2 = x.to(dt).reshape(seq * batch, input);
            double[] bias = call.has(3) ? vector(call, 3, "B", dirs * 2 * gh) : new double[dirs * 2 * gh];
            int[] lens = sequenceLengths(call, seq, batch);
            double[] h0 = state(call, 5, "initial_h", dirs, batch, hidden, batchFirst);
            double[] c0 = kind == Kind.LSTM ? state(call, 6, "initial_c", dirs, batch, hidden, batchFirst) : null;
            double[] peep = kind == Kind.LSTM && call.has(7) ? vector(call, 7, "P", dirs * 3 * hidden) : null;
            int perDir = kind.activations.length;
            DoubleUnaryOperator[] acts = RnnActivations.resolve(call, kind.activations, perDir * dirs);

            double[] y = new double[seq * dirs * batch * hidden];
            double[] yh = new double[dirs * batch * hidden], yc = new double[dirs * batch * hidden];
            for (int d = 0; d < dirs; d++) {
                RnnCell cell = new RnnCell(kind, seq, batch, hidden, dirs, d);
                cell.clip = call.hasAttr("clip") ? call.attrFloat("clip", 0) : Double.POSITIVE_INFINITY;
                cell.linearBeforeReset = call.attrInt("linear_before_reset", 0) != 0;
                cell.inputForget = call.attrInt("input_forget", 0) != 0;
                cell.acts = Arrays.copyOfRange(acts, d * perDir, (d + 1) * perDir);
                cell.peep = peep == null ? null : Arrays.copyOfRange(peep, d * 3 * hidden, (d + 1) * 3 * hidden);
                double[] bd = Arrays.copyOfRange(bias, d * 2 * gh, (d + 1) * 2 * gh);
                cell.xw = projectInputs(kind, x2, w.select(0, d), bd, hidden, dt);
                cell.recBias = recurrentBias(kind, bd, hidden);
                cell.setWeights(r.select(0, d), dt);
                cell.h = Arrays.copyOfRange(h0, d * batch * hidden, (d + 1) * batch * hidden);
                cell.c = c0 == null ? null : Arrays.copyOfRange(c0, d * batch * hidden, (d + 1) * batch * hidden);
                boolean reverse = direction.equals("reverse") || d == 1;
                cell.run(lens, reverse, y);
                System.arraycopy(cell.h, 0, yh, d * batch * hidden, batch * hidden);
                if (cell.c != null) System.arraycopy(cell.c, 0, yc, d * batch * hidden, batch * hidden);
            }
            return outputs(call, kind, s, batchFirst, y, yh, yc, new int[]{seq, dirs, batch, hidden});
        }
    }

    private static void checkShape(OpCall call, Tensor t, String name, int d0, int d1, int d2) {
        int[] want = {d0, d1, d2};
        if (!Arrays.equals(t.shape(), want))
            throw call.error(name + " has shape " + Arrays.toString(t.shape()) + ", expected " + Arrays.toString(want));
    }

    private static double[] vector(OpCall call, int i, String name, int count) {
        Tensor t = call.in(i);
        if (t.numel() != count)
            throw call.error(name + " has shape " + Arrays.toString(t.shape()) + ", expected " + count + " values");
        return t.toDoubleArray();
    }

    private static int[] sequenceLengths(OpCall call, int seq, int batch) {
        int[] lens = new int[batch];
        Arrays.fill(lens, seq);
        if (!call.has(4)) return lens;
        int[] given = call.ints(4);
        if (given.length != batch) throw call.error("sequence_lens has " + given.length + " values, batch is " + batch);
        for (int b = 0; b < batch; b++)
            if (given[b] < 0 || given[b] > seq)
                throw call.error("sequence_lens[" + b + "] = " + given[b] + " is outside [0, " + seq + "]");
        return given;
    }

    /** An initial state as [dirs, batch, hidden] doubles (zeros when absent). */
    private static double[] state(OpCall call, int i, String name, int dirs, int batch, int hidden, boolean batchFirst) {
        if (!call.has(i)) return new double[dirs * batch * hidden];
        Tensor t = call.in(i);
        int[] want = batchFirst ? new int[]{batch, dirs, hidden} : new int[]{dirs, batch, hidden};
        if (!Arrays.equals(t.shape(), want))
            throw call.error(name + " has shape " + Arrays.toString(t.shape()) + ", expected " + Arrays.toString(want));
        try (Tensor v = batchFirst ? t.transpose(0, 1) : t.detach()) {
            return v.toDoubleArray();
        }
    }

    /** X W^T + Wb + Rb for every step and gate ([seq*batch, G*H]); GRU's h gate gets Wb only. */
    private static double[] projectInputs(Kind kind, Tensor x2, Tensor wd, double[] bd, int hidden, DType dt) {
        int gh = kind.gates * hidden;
        double[] b = new double[gh];
        for (int k = 0; k < gh; k++) {
            boolean gruH = kind == Kind.GRU && k >= 2 * hidden;
            b[k] = bd[k] + (gruH ? 0 : bd[gh + k]);
        }
        try (Scope s = Scope.open()) {
            Tensor w = wd.to(dt);
            Tensor bt = NormArrays.tensor(b, ElemType.of(dt), gh);
            return Linear.linear(x2, w, bt).toDoubleArray();
        }
    }

    /** Bias added to the recurrent product: only GRU's Rbh (kept apart for linear_before_reset). */
    private static double[] recurrentBias(Kind kind, double[] bd, int hidden) {
        double[] rb = new double[hidden];
        if (kind == Kind.GRU) System.arraycopy(bd, 3 * hidden + 2 * hidden, rb, 0, hidden);
        return rb;
    }

    private static List<Value> outputs(OpCall call, Kind kind, Scope s, boolean batchFirst, double[] y, double[] yh,
                                       double[] yc, int[] ys) {
        ElemType type = call.type(0);
        int seq = ys[0], dirs = ys[1], batch = ys[2], hidden = ys[3];
        int last = 0;
        for (int i = 0; i < call.outputCount(); i++) if (call.wantsOutput(i)) last = i;
        List<Value> out = new ArrayList<>();
        Tensor yt = NormArrays.tensor(y, type, ys);
        out.add(Value.of(s.keep(batchFirst ? yt.permute(2, 0, 1, 3).contiguous() : yt), type));
        if (last >= 1) out.add(Value.of(s.keep(stateOut(yh, type, dirs, batch, hidden, batchFirst)), type));
        if (last >= 2 && kind == Kind.LSTM) out.add(Value.of(s.keep(stateOut(yc, type, dirs, batch, hidden, batchFirst)), type));
        return out;
    }

    private static Tensor stateOut(double[] v, ElemType type, int dirs, int batch, int hidden, boolean batchFirst) {
        Tensor t = NormArrays.tensor(v, type, dirs, batch, hidden);
        return batchFirst ? t.transpose(0, 1).contiguous() : t;
    }
}
