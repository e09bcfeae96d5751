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
 * variables) or {@code Assign} (reference variables). Where a graph has no restore ops the
 * variable's {@code shared_name}, its node name, or TF2's {@code NAME/.ATTRIBUTES/VARIABLE_VALUE}
 * is looked up in the checkpoint.
 */
final class TfVariables {
    private TfVariables() {}

    /** Variable node name -> checkpoint key, from the graph's restore ops. */
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
            String value = n.inputs().get(1);
            // the restored value may pass through Identity ops on its way
            for (int hops = 0; hops < 16; hops++) {
                Node p = producer(byName, value);
                if (p == null || !p.op().equals("Identity") || p.inputs().isEmpty()) break;
                value = p.inputs().get(0);
            }
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
