package dev.kiln.savedmodel;

import dev.kiln.io.KilnFormatException;
import dev.kiln.onnx.proto.ProtoReader;
import dev.kiln.savedmodel.TfGraph.Attr;
import dev.kiln.savedmodel.TfGraph.Node;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Which checkpoint entry holds which variable. The graph says it exactly: its restore ops
 * ({@code RestoreV2}, fed a constant list of checkpoint keys) feed {@code AssignVariableOp} (resource
 * variables) or {@code Assign} (reference variables), in the graph itself (TF1 savers) or in a
 * restore function the graph calls with the variables' handles (TF2, Keras). Where a graph has no restore ops the
 * variable's {@code shared_name}, its node name, or TF2's {@code NAME/.ATTRIBUTES/VARIABLE_VALUE}
 * is looked up in the checkpoint.
 */
final class TfVariables {
    private TfVariables() {}

    /**
     * Variable node name -> checkpoint key, from the restore ops of the graph and of the restore
     * functions it calls: TF2 and Keras SavedModels restore inside a library function
     * ({@code __inference__traced_restore_N}) called with the variables' handles as arguments.
     */
    static Map<String, String> restoreKeys(List<Node> graph, Map<String, TfGraph.Function> functions, String file) throws KilnFormatException {
        Map<String, String> out = restoreKeys(graph, file);
        Map<String, Node> byName = new HashMap<>();
        for (Node n : graph) byName.put(n.name(), n);
        for (Node call : graph) {
            if (!call.op().equals("StatefulPartitionedCall") && !call.op().equals("PartitionedCall")) continue;
            Attr f = call.attrs().get("f");
            TfGraph.Function fn = f == null || f.kind() != Attr.Kind.FUNC ? null : functions.get(f.func().name());
            if (fn == null || fn.body().stream().noneMatch(n -> n.op().equals("RestoreV2"))) continue;
            // the function's argument k is the call's k-th data input
            Map<String, Node> argVar = new HashMap<>();
            List<String> data = call.inputs().stream().filter(i -> !i.startsWith("^")).toList();
            for (int k = 0; k < fn.inputs().size() && k < data.size(); k++) {
                Node v = producer(byName, data.get(k));
                if (v != null) argVar.put(fn.inputs().get(k).name(), v);
            }
            for (Map.Entry<String, String> e : bodyRestoreKeys(fn.body(), file).entrySet()) {
                Node v = argVar.get(e.getKey());
                if (v != null) out.putIfAbsent(v.name(), e.getValue());
            }
        }
        return out;
    }

    /** In a function body: the name of the argument each AssignVariableOp writes -> the checkpoint key of the RestoreV2 output it stores. */
    private static Map<String, String> bodyRestoreKeys(List<Node> body, String file) throws KilnFormatException {
        Map<String, Node> byName = new HashMap<>();
        for (Node n : body) byName.put(n.name(), n);
        Map<String, List<String>> names = new HashMap<>();
        for (Node n : body) {
            if (!n.op().equals("RestoreV2") || n.inputs().size() < 2) continue;
            Node c = byName.get(bodyNode(n.inputs().get(1)));
            Attr v = c == null || !c.op().equals("Const") ? null : c.attrs().get("value");
            if (v != null && v.kind() == Attr.Kind.TENSOR) names.put(n.name(), strings(v.tensor(), file));
        }
        Map<String, String> out = new HashMap<>();
        for (Node n : body) {
            if (!n.op().equals("AssignVariableOp") || n.inputs().size() < 2 || byName.containsKey(bodyNode(n.inputs().get(0)))) continue;
            String value = throughIdentities(n.inputs().get(1), v -> byName.get(bodyNode(v)));
            List<String> keys = names.get(bodyNode(value));
            int index = bodyIndex(value);
            if (keys != null && index >= 0 && index < keys.size()) out.put(n.inputs().get(0), keys.get(index));
        }
        return out;
    }

    /** The tensor a restored value comes from, back through up to 16 Identity ops (producer: the node of a reference). */
    private static String throughIdentities(String value, java.util.function.Function<String, Node> producer) {
        for (int hops = 0; hops < 16; hops++) {
            Node p = producer.apply(value);
            if (p == null || !p.op().equals("Identity") || p.inputs().isEmpty()) break;
            value = p.inputs().get(0);
        }
        return value;
    }

    /** "node:out_arg:k" -> node ("arg" stays itself). */
    private static String bodyNode(String ref) {
        int c = ref.indexOf(':');
        return c < 0 ? ref : ref.substring(0, c);
    }

    /** "node:out_arg:k" -> k (RestoreV2 has one list output, so k is the output's position); -1 if malformed. */
    private static int bodyIndex(String ref) {
        String[] p = ref.split(":");
        if (p.length != 3) return -1;
        try {
            return Integer.parseInt(p[2]);
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    /** Variable node name -> checkpoint key, from the graph's own restore ops. */
    static Map<String, String> restoreKeys(List<Node> graph, String file) throws KilnFormatException {
        Map<String, Node> byName = new HashMap<>();
        for (Node n : graph) byName.put(n.name(), n);
        Map<String, List<String>> restoreNames = new HashMap<>();
        for (Node n : graph) {
            if (!n.op().equals("RestoreV2") || n.inputs().size() < 2) continue;
            Node names = producer(byName, n.inputs().get(1));
            if (names == null || !names.op().equals("Const")) continue;
            Attr v = names.attrs().get("value");
            if (v != null && v.kind() == Attr.Kind.TENSOR) restoreNames.put(n.name(), strings(v.tensor(), file));
        }
        Map<String, String> out = new HashMap<>();
        if (restoreNames.isEmpty()) return out;
        for (Node n : graph) {
            if (!(n.op().equals("AssignVariableOp") || n.op().equals("Assign")) || n.inputs().size() < 2) continue;
            Node var = producer(byName, n.inputs().get(0));
            String value = throughIdentities(n.inputs().get(1), v -> producer(byName, v));
            int c = value.lastIndexOf(':');
            String node = c < 0 ? value : value.substring(0, c);
            int index = 0;
            if (c >= 0) {
                try {
                    index = Integer.parseInt(value.substring(c + 1));
                } catch (NumberFormatException e) {
                    continue;
                }
            }
            List<String> names = restoreNames.get(node);
            if (var != null && names != null && index >= 0 && index < names.size()) out.put(var.name(), names.get(index));
        }
        return out;
    }

    /** The checkpoint key of a variable node, or null when none of the rules finds one. */
    static String key(Node var, Map<String, String> restoreKeys, TensorBundle bundle) {
        String k = restoreKeys.get(var.name());
        if (k != null) return k;
        List<String> tries = new ArrayList<>();
        Attr shared = var.attrs().get("shared_name");
        if (shared != null && shared.kind() == Attr.Kind.S && shared.s().length > 0) tries.add(shared.string());
        tries.add(var.name());
        tries.add(var.name() + "/.ATTRIBUTES/VARIABLE_VALUE");
        for (String t : tries) if (bundle.entries().containsKey(t)) return t;
        return null;
    }

    private static Node producer(Map<String, Node> byName, String input) {
        String s = input.startsWith("^") ? input.substring(1) : input;
        int c = s.lastIndexOf(':');
        return byName.get(c < 0 ? s : s.substring(0, c));
    }

    /**
     * The values of a DT_STRING {@code TensorProto}: one {@code string_val} (field 8) per element, or
     * TensorFlow's packed form in {@code tensor_content} (the varint lengths of all elements, then
     * their bytes), which some writers use.
     */
    static List<String> strings(ProtoReader tensor, String file) throws KilnFormatException {
        ProtoReader r = tensor.copy();
        List<String> out = new ArrayList<>();
        long[] shape = new long[0];
        java.lang.foreign.MemorySegment content = null;
        while (r.next()) {
            switch (r.field()) {
                case 2 -> shape = TfProtoReader.shape(r.readMessage("tensor_shape"));
                case 4 -> content = r.readBytesSegment();
                case 8 -> {
                    if (out.size() >= TensorBundle.MAX_ENTRIES) throw r.error("too many strings");
                    out.add(r.readString());
                }
                default -> r.skip();
            }
        }
        if (!out.isEmpty() || content == null) return out;
        int[] dims = TfTensors.checkedShape(shape, file + ": string constant");
        long n = 1;
        for (int d : dims) n *= d;
        if (n > TensorBundle.MAX_ENTRIES) throw new KilnFormatException(file + ": string constant of " + n + " elements");
        ProtoReader lengths = ProtoReader.of(content, file + " (string tensor_content)");
        long[] len = new long[(int) n];
        long total = 0;
        long pos = 0;
        for (int k = 0; k < n; k++) {
            long[] at = {pos};
            len[k] = TensorBundle.varint(content, at, content.byteSize(), file);
            pos = at[0];
            total += len[k];
        }
        if (total != content.byteSize() - pos) throw lengths.error("string lengths do not match the packed bytes");
        for (int k = 0; k < n; k++) {
            out.add(new String(content.asSlice(pos, len[k]).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE), java.nio.charset.StandardCharsets.UTF_8));
            pos += len[k];
        }
        return out;
    }
}
