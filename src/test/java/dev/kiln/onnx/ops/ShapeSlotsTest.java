package dev.kiln.onnx.ops;

import dev.kiln.onnx.ElemType;
import dev.kiln.onnx.OnnxAttribute;
import dev.kiln.onnx.OnnxNode;
import dev.kiln.onnx.Value;
import dev.kiln.ops.Join;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;

/**
 * ConcatSlot writes its result into its slot of the run's stack tensor, and StackNested takes that
 * tensor without copying those slots; a slot whose Concat ran elsewhere is copied, and without run
 * tensors both are the plain ops.
 */
class ShapeSlotsTest {
    private static final Generator G = new Generator(5);

    /** The executor's run tensors, as a map (closed by the test). */
    private static final class Run implements OpCall.RunTensors {
        final Map<String, Tensor> map = new HashMap<>();
        @Override public Tensor get(String key) { return map.get(key); }
        @Override public void put(String key, Tensor t) { map.put(key, t); }
        @Override public Tensor take(String key) { return map.remove(key); }
    }

    private static List<Value> call(String op, List<Tensor> ins, Map<String, OnnxAttribute> attrs, OpCall.RunTensors run) {
        List<String> names = new ArrayList<>();
        List<Value> vals = new ArrayList<>();
        for (int i = 0; i < ins.size(); i++) {
            names.add("i" + i);
            vals.add(Value.of(ins.get(i), ElemType.FLOAT));
        }
        OnnxNode node = new OnnxNode(op, op, "dev.kiln", names, List.of("y"), attrs);
        return OpRegistry.standard().lookup(node, 17).run(new OpCall(node, vals, 17, null, 1, run));
    }

    private static Map<String, OnnxAttribute> slot(int slot) {
        return Map.of("axis", OnnxAttribute.ofInt("axis", 1), "dest", OnnxAttribute.ofString("dest", "y"),
                "slot", OnnxAttribute.ofInt("slot", slot), "count", OnnxAttribute.ofInt("count", 4), "inner", OnnxAttribute.ofInt("inner", 2));
    }

    @Test
    void slotsAreWrittenInPlaceAndTheStackTakesThem() {
        for (boolean withRun : new boolean[]{true, false}) {
            Run run = withRun ? new Run() : null;
            List<Tensor> pasts = new ArrayList<>(), news = new ArrayList<>(), ws = new ArrayList<>();
            for (int i = 0; i < 4; i++) {
                pasts.add(Tensor.randn(G, 2, 3, 5));
                news.add(Tensor.randn(G, 2, 1, 5));
            }
            for (int i = 0; i < 3; i++)                       // slot 3's Concat is a plain one (not rewritten)
                ws.add(call("ConcatSlot", List.of(pasts.get(i), news.get(i)), slot(i), run).get(0).tensor());
            ws.add(Join.cat(new Tensor[]{pasts.get(3), news.get(3)}, 1));
            if (withRun) {
                Tensor dest = run.get("y");
                assertArrayEquals(new int[]{2, 2, 2, 4, 5}, dest.shape());
                for (int i = 0; i < 3; i++) assertSame(dest.storage(), ws.get(i).storage(), "slot " + i + " is a view of the stack");
            }
            Tensor y = call("StackNested", ws, Map.of("inner", OnnxAttribute.ofInt("inner", 2), "dest", OnnxAttribute.ofString("dest", "y")), run).get(0).tensor();
            if (withRun) assertEquals(0, run.map.size(), "StackNested took the tensor");
            else assertNotSame(ws.get(0).storage(), y.storage());
            assertArrayEquals(new int[]{2, 2, 2, 4, 5}, y.shape());
            for (int i = 0; i < 4; i++)
                try (Tensor want = Join.cat(new Tensor[]{pasts.get(i), news.get(i)}, 1); Tensor a = y.select(0, i / 2); Tensor b = a.select(0, i % 2)) {
                    assertArrayEquals(want.toFloatArray(), b.toFloatArray(), "slot " + i + (withRun ? "" : ", no run tensors"));
                }
            y.close();
            for (List<Tensor> l : List.of(pasts, news, ws)) l.forEach(Tensor::close);
        }
    }
}
