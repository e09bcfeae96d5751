package dev.kiln.onnx;

import dev.kiln.onnx.ops.OnnxOp;
import dev.kiln.onnx.ops.OpCall;
import dev.kiln.onnx.ops.OpRegistry;
import dev.kiln.ops.UnaryOp;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;

/**
 * Kiln-internal fused nodes that {@link GraphOptimizer} creates, in domain {@value #DOMAIN}. A node
 * "Base+Relu" runs the standard op Base (its attributes and inputs unchanged), then Relu on its
 * first output: in place when that output is a fresh tensor (it shares no storage with an input),
 * otherwise into a new tensor. A fused type that the registry implements itself in this domain
 * (Conv+Relu: the ReLU applied by the conv kernel as it stores) runs that implementation instead.
 */
final class FusedOps {
    private FusedOps() {}

    static final String DOMAIN = "dev.kiln";

    static boolean isFused(OnnxNode node) { return node.domain().equals(DOMAIN); }

    /** The op for a fused node: the standard base op followed by its activation. */
    static OnnxOp lookup(OnnxNode node, int opset, OpRegistry registry) {
        String type = node.opType();
        if (registry.has(DOMAIN, type)) return registry.lookup(node, opset); // a kernel that fuses the pair itself
        int plus = type.indexOf('+');
        if (plus < 0 || !type.substring(plus + 1).equals("Relu"))
            throw new OnnxException("unsupported ONNX op " + node.describe() + " (opset " + opset + ")");
        OnnxNode base = new OnnxNode(node.name(), type.substring(0, plus), "", node.inputs(), node.outputs(), node.attributes());
        OnnxOp op = registry.lookup(base, opset);
        return call -> withRelu(op.run(call), call);
    }

    private static List<Value> withRelu(List<Value> outs, OpCall call) {
        Tensor t = outs.get(0).tensor();
        ElemType type = ((Value.TensorValue) outs.get(0)).type();
        List<Value> r = new ArrayList<>(outs);
        if ((t.dtype() == DType.F32 || t.dtype() == DType.F64) && t.isContiguous() && !sharesInput(t, call)) {
            t.backend().unary(UnaryOp.RELU, t, t, 0, 0);
        } else {
            Tensor relu = t.relu();
            if (!isInput(t, call)) t.close();
            r.set(0, Value.of(relu, type));
        }
        return r;
    }

    private static boolean sharesInput(Tensor t, OpCall call) {
        for (int i = 0; i < call.inputCount(); i++) {
            Value v = call.valueOrNull(i);
            if (v instanceof Value.TensorValue tv && tv.tensor().storage() == t.storage()) return true;
        }
        return false;
    }

    /** Whether t is one of the input tensor objects itself (then the caller owns it, not this op). */
    private static boolean isInput(Tensor t, OpCall call) {
        for (int i = 0; i < call.inputCount(); i++) {
            Value v = call.valueOrNull(i);
            if (v instanceof Value.TensorValue tv && tv.tensor() == t) return true;
        }
        return false;
    }
}
