package dev.kiln.onnx.ops;

import dev.kiln.onnx.ElemType;
import dev.kiln.onnx.OnnxGraph;
import dev.kiln.onnx.Value;
import dev.kiln.onnx.ValueInfo;
import dev.kiln.onnx.Values;
import dev.kiln.ops.Join;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Tensor;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * ONNX control flow: If, Loop, Scan (subgraphs run through {@link OpCall#runGraph}); the sequence
 * and optional ops are in {@link SequenceOps}. Subgraph outputs belong to the op that ran the
 * subgraph: values carried from one iteration to the next are closed when replaced, scan outputs
 * are stacked into one tensor and their per-iteration pieces closed.
 */
final class ControlOps {
    private ControlOps() {}

    static void register(OpRegistry r) {
        r.register("If", ControlOps::ifOp);
        r.register("Loop", ControlOps::loop);
        r.register("Scan", ControlOps::scan);
        SequenceOps.register(r);
    }

    // ------------------------------------------------------------------ If

    private static List<Value> ifOp(OpCall c) {
        Tensor cond = c.in(0);
        if (cond.numel() != 1) throw c.error("cond must hold one element, got shape " + java.util.Arrays.toString(cond.shape()));
        boolean take = truthy(cond);
        OnnxGraph branch = c.attrGraph(take ? "then_branch" : "else_branch");
        List<Value> outs = c.runGraph(branch, List.of());
        if (outs.size() != c.outputCount()) {
            outs.forEach(Values::close);
            throw c.error((take ? "then" : "else") + "_branch returns " + outs.size() + " values for " + c.outputCount() + " outputs");
        }
        return outs;
    }

    // ------------------------------------------------------------------ Loop

    /** Loop(M?, cond?, v_initial...): body(iter, cond, v...) -> (cond, v..., scan outputs...). */
    private static List<Value> loop(OpCall c) {
        OnnxGraph body = c.attrGraph("body");
        long max = c.has(0) ? c.longs(0)[0] : Long.MAX_VALUE;
        boolean cond = !c.has(1) || truthy(c.in(1));
        int n = c.inputCount() - 2;
        List<Value> carried = new ArrayList<>();
        for (int i = 0; i < n; i++) carried.add(c.valueOrNull(i + 2));
        int k = body.outputs().size() - 1 - n;
        if (k < 0) throw c.error("body returns " + body.outputs().size() + " values, needs at least " + (n + 1));
        List<List<Tensor>> scans = new ArrayList<>();
        for (int j = 0; j < k; j++) scans.add(new ArrayList<>());
        boolean owned = false; // carried values are ours once the body produced them
        try {
            for (long it = 0; it < max && cond; it++) {
                List<Value> ins = new ArrayList<>();
                Tensor iter = Tensor.scalar(it, DType.I64), cin = Tensor.full(1, DType.BOOL);
                ins.add(Value.of(iter, ElemType.INT64));
                ins.add(Value.of(cin, ElemType.BOOL));
                ins.addAll(carried);
                List<Value> outs;
                try {
                    outs = c.runGraph(body, ins);
                } finally {
                    iter.close();
                    cin.close();
                }
                cond = truthy(outs.getFirst().tensor());
                Values.close(outs.getFirst());
                if (owned) carried.forEach(Values::close);
                carried = new ArrayList<>(outs.subList(1, 1 + n));
                owned = true;
                for (int j = 0; j < k; j++) scans.get(j).add(outs.get(1 + n + j).tensor());
            }
            List<Value> result = new ArrayList<>(carried);
            for (int j = 0; j < k; j++) result.add(stackOrEmpty(c, scans.get(j), body.outputs().get(1 + n + j), 0, false));
            return result;
        } catch (RuntimeException e) {
            if (owned) carried.forEach(Values::close);
            throw e;
        } finally {
            for (List<Tensor> s : scans) s.forEach(Tensor::close);
        }
    }

    /** Stacks per-iteration tensors along a new {@code axis}; an empty list gives a [0] tensor of the declared type. */
    private static Value stackOrEmpty(OpCall c, List<Tensor> parts, ValueInfo decl, int axis, boolean reverse) {
        if (parts.isEmpty()) {
            ElemType t = decl.elemType() == null || decl.elemType() == ElemType.UNDEFINED ? ElemType.FLOAT : decl.elemType();
            return Value.of(Tensor.zeros(t.storage(), 0), t);
        }
        List<Tensor> ordered = new ArrayList<>(parts);
        if (reverse) Collections.reverse(ordered);
        ElemType type = decl.elemType() != null && decl.elemType() != ElemType.UNDEFINED ? decl.elemType()
                : ElemType.of(parts.getFirst().dtype());
        if (type.storage() != parts.getFirst().dtype()) type = ElemType.of(parts.getFirst().dtype());
        return Value.of(stack(ordered, axis), type);
    }

    /** Stacks along a new axis, closing the temporary views. */
    static Tensor stack(List<Tensor> parts, int axis) {
        Tensor[] u = new Tensor[parts.size()];
        try {
            for (int i = 0; i < u.length; i++) u[i] = parts.get(i).unsqueeze(axis);
            return Join.cat(u, axis);
        } finally {
            for (Tensor t : u) if (t != null) t.close();
        }
    }

    // ------------------------------------------------------------------ Scan

    /**
     * Scan (opset 9+): states then num_scan_inputs scanned inputs; the body maps (states, slices)
     * to (states, scan outputs). Opset 8 has a leading sequence_lens input and a batch axis 0: it
     * runs the opset-9 logic per batch entry (scanning axis 1) and stacks the results.
     */
    private static List<Value> scan(OpCall c) {
        int m = (int) c.attrInt("num_scan_inputs", -1);
        if (m <= 0) throw c.error("num_scan_inputs must be positive");
        if (c.opset() >= 9) {
            List<Value> ins = new ArrayList<>();
            for (int i = 0; i < c.inputCount(); i++) ins.add(c.value(i));
            return scanOnce(c, ins, m);
        }
        return scanBatched(c, m);
    }

    private static List<Value> scanOnce(OpCall c, List<Value> ins, int m) {
        OnnxGraph body = c.attrGraph("body");
        int n = ins.size() - m;
        if (n < 0) throw c.error("has " + ins.size() + " inputs but num_scan_inputs is " + m);
        int[] inAxes = axes(c, "scan_input_axes", m), inDirs = axes(c, "scan_input_directions", m);
        List<Tensor> xs = new ArrayList<>();
        for (int j = 0; j < m; j++) xs.add(ins.get(n + j).tensor());
        int len = -1;
        for (int j = 0; j < m; j++) {
            int a = normAxis(c, inAxes[j], xs.get(j).dim());
            inAxes[j] = a;
            int l = xs.get(j).size(a);
            if (len >= 0 && l != len) throw c.error("scan inputs have different lengths " + len + " and " + l);
            len = l;
        }
        int k = body.outputs().size() - n;
        int[] outAxes = axes(c, "scan_output_axes", k), outDirs = axes(c, "scan_output_directions", k);
        List<Value> states = new ArrayList<>(ins.subList(0, n));
        List<List<Tensor>> scans = new ArrayList<>();
        for (int j = 0; j < k; j++) scans.add(new ArrayList<>());
        boolean owned = false;
        try {
            for (int t = 0; t < len; t++) {
                List<Value> bodyIns = new ArrayList<>(states);
                List<Tensor> slices = new ArrayList<>();
                for (int j = 0; j < m; j++) {
                    int idx = inDirs[j] == 1 ? len - 1 - t : t;
                    Tensor s = xs.get(j).select(inAxes[j], idx);
                    slices.add(s);
                    bodyIns.add(Value.of(s, ((Value.TensorValue) ins.get(n + j)).type()));
                }
                List<Value> outs;
                try {
                    outs = c.runGraph(body, bodyIns);
                } finally {
                    slices.forEach(Tensor::close);
                }
                if (owned) states.forEach(Values::close);
                states = new ArrayList<>(outs.subList(0, n));
                owned = true;
                for (int j = 0; j < k; j++) scans.get(j).add(outs.get(n + j).tensor());
            }
            List<Value> result = new ArrayList<>(states);
            for (int j = 0; j < k; j++) {
                ValueInfo decl = body.outputs().get(n + j);
                int rank = scans.get(j).isEmpty() ? 0 : scans.get(j).getFirst().dim();
                int axis = outAxes[j] < 0 ? outAxes[j] + rank + 1 : outAxes[j];
                result.add(stackOrEmpty(c, scans.get(j), decl, axis, outDirs[j] == 1));
            }
            return result;
        } catch (RuntimeException e) {
            if (owned) states.forEach(Values::close);
            throw e;
        } finally {
            for (List<Tensor> s : scans) s.forEach(Tensor::close);
        }
    }

    private static List<Value> scanBatched(OpCall c, int m) {
        if (c.has(0)) throw c.error("sequence_lens is not supported");
        int total = c.inputCount() - 1, n = total - m;
        int batch = c.in(1).size(0);
        List<List<Tensor>> perOutput = new ArrayList<>();
        List<ElemType> types = new ArrayList<>();
        try {
            for (int b = 0; b < batch; b++) {
                List<Value> ins = new ArrayList<>();
                List<Tensor> views = new ArrayList<>();
                for (int i = 0; i < total; i++) {
                    Tensor v = c.in(i + 1).select(0, b);
                    views.add(v);
                    ins.add(Value.of(v, c.type(i + 1)));
                }
                try {
                    List<Value> outs = scanOnce(c, ins, m);
                    for (int j = 0; j < outs.size(); j++) {
                        if (b == 0) {
                            perOutput.add(new ArrayList<>());
                            types.add(((Value.TensorValue) outs.get(j)).type());
                        }
                        Tensor o = outs.get(j).tensor();
                        perOutput.get(j).add(o.contiguous()); // its own reference: o may be one of our views
                        if (!views.contains(o)) o.close();
                    }
                } finally {
                    views.forEach(Tensor::close);
                }
            }
            List<Value> result = new ArrayList<>();
            for (int j = 0; j < perOutput.size(); j++) result.add(Value.of(stack(perOutput.get(j), 0), types.get(j)));
            return result;
        } finally {
            for (List<Tensor> l : perOutput) l.forEach(Tensor::close);
        }
    }

    private static int[] axes(OpCall c, String attr, int count) {
        int[] v = c.attrIntArray(attr, null);
        if (v == null) return new int[count];
        if (v.length != count) throw c.error(attr + " has " + v.length + " entries, expected " + count);
        return v;
    }

    private static int normAxis(OpCall c, int axis, int rank) {
        int a = axis < 0 ? axis + rank : axis;
        if (a < 0 || a >= rank) throw c.error("axis " + axis + " out of range for rank " + rank);
        return a;
    }

    /** Whether a condition tensor's first element is non-zero (the contiguous view closed at once, not left to the GC). */
    private static boolean truthy(Tensor t) {
        try (Tensor c = t.contiguous()) {
            return c.getFlat(0) != 0;
        }
    }
}
