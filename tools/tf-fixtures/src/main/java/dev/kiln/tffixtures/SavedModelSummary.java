package dev.kiln.tffixtures;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.tensorflow.proto.AttrValue;
import org.tensorflow.proto.FunctionDef;
import org.tensorflow.proto.MetaGraphDef;
import org.tensorflow.proto.NodeDef;
import org.tensorflow.proto.OpDef;
import org.tensorflow.proto.SavedModel;
import org.tensorflow.proto.SignatureDef;
import org.tensorflow.proto.TensorInfo;
import org.tensorflow.proto.TensorShapeProto;

/**
 * Dumps what a SavedModel's saved_model.pb holds (pure protobuf, no TF runtime): signatures, op
 * types of the main graph (all nodes, and those reachable from the signature outputs), the
 * function library (op types per function, call edges), variables and the checkpoint keys named by
 * the saver's SaveV2 node. {@code main(DIR...)} prints it.
 */
public final class SavedModelSummary {
  private SavedModelSummary() {}

  public static void main(String[] args) throws IOException {
    for (String a : args) System.out.println(summarize(Paths.get(a)));
  }

  static SavedModel read(Path dir) throws IOException {
    try (InputStream in = Files.newInputStream(dir.resolve("saved_model.pb"))) {
      return SavedModel.parseFrom(in);
    }
  }

  static String summarize(Path dir) throws IOException {
    SavedModel sm = read(dir);
    StringBuilder o = new StringBuilder();
    o.append("# ").append(dir.getFileName()).append('\n');
    o.append("saved_model_schema_version: ").append(sm.getSavedModelSchemaVersion()).append('\n');
    o.append("meta_graphs: ").append(sm.getMetaGraphsCount()).append('\n');
    for (MetaGraphDef mg : sm.getMetaGraphsList()) {
      o.append("tags: ").append(mg.getMetaInfoDef().getTagsList()).append('\n');
      o.append("object_graph_def (SavedObjectGraph): ")
          .append(mg.hasObjectGraphDef() ? mg.getObjectGraphDef().getNodesCount() + " nodes" : "absent")
          .append('\n');
      o.append("collection_def keys: ").append(new TreeMap<>(mg.getCollectionDefMap()).keySet()).append('\n');
      o.append("saver_def: filename_tensor=").append(mg.getSaverDef().getFilenameTensorName())
          .append(" save_tensor=").append(mg.getSaverDef().getSaveTensorName())
          .append(" restore_op=").append(mg.getSaverDef().getRestoreOpName())
          .append(" version=").append(mg.getSaverDef().getVersion()).append('\n');
      o.append("graph_def producer: ").append(mg.getGraphDef().getVersions().getProducer()).append('\n');

      List<NodeDef> nodes = mg.getGraphDef().getNodeList();
      Map<String, NodeDef> byName = new HashMap<>();
      for (NodeDef nd : nodes) byName.put(nd.getName(), nd);

      o.append("\n## signatures\n");
      List<String> outputNodes = new ArrayList<>();
      for (Map.Entry<String, SignatureDef> e : new TreeMap<>(mg.getSignatureDefMap()).entrySet()) {
        o.append(e.getKey()).append(" (method ").append(e.getValue().getMethodName()).append(")\n");
        for (Map.Entry<String, TensorInfo> in : new TreeMap<>(e.getValue().getInputsMap()).entrySet()) {
          o.append("  in  ").append(in.getKey()).append(" = ").append(tensorInfo(in.getValue())).append('\n');
        }
        for (Map.Entry<String, TensorInfo> out : new TreeMap<>(e.getValue().getOutputsMap()).entrySet()) {
          o.append("  out ").append(out.getKey()).append(" = ").append(tensorInfo(out.getValue())).append('\n');
          outputNodes.add(nodeOf(out.getValue().getName()));
        }
      }

      o.append("\n## main graph: ").append(nodes.size()).append(" nodes\n");
      o.append("all op types: ").append(opCounts(nodes)).append('\n');
      Set<String> reach = reachable(outputNodes, byName);
      List<NodeDef> serving = nodes.stream().filter(nd -> reach.contains(nd.getName())).collect(Collectors.toList());
      o.append("op types reachable from signature outputs: ").append(opCounts(serving)).append('\n');
      List<NodeDef> rest = nodes.stream().filter(nd -> !reach.contains(nd.getName())).collect(Collectors.toList());
      o.append("op types only in the rest (saver/initializers): ").append(opCounts(rest)).append('\n');
      for (NodeDef nd : nodes) {
        if (nd.getAttrMap().containsKey("f")) {
          o.append("call node ").append(nd.getName()).append(" [").append(nd.getOp()).append("] f=")
              .append(nd.getAttrMap().get("f").getFunc().getName()).append('\n');
        }
      }

      o.append("\n## function library: ").append(mg.getGraphDef().getLibrary().getFunctionCount()).append(" functions\n");
      for (FunctionDef fd : mg.getGraphDef().getLibrary().getFunctionList()) {
        OpDef s = fd.getSignature();
        o.append("function ").append(s.getName()).append(s.getIsStateful() ? " (stateful)" : "").append('\n');
        o.append("  args: ").append(s.getInputArgList().stream().map(a -> a.getName() + ":" + a.getType()).toList()).append('\n');
        o.append("  rets: ").append(s.getOutputArgList().stream().map(a -> a.getName() + ":" + a.getType()).toList())
            .append(" ret map ").append(new TreeMap<>(fd.getRetMap())).append('\n');
        o.append("  op types: ").append(opCounts(fd.getNodeDefList())).append('\n');
        for (NodeDef nd : fd.getNodeDefList()) {
          AttrValue f = nd.getAttrMap().get("f");
          if (f != null) {
            o.append("  call node ").append(nd.getName()).append(" [").append(nd.getOp()).append("] f=")
                .append(f.getFunc().getName()).append('\n');
          }
        }
      }

      o.append("\n## variables\n");
      for (NodeDef nd : nodes) {
        if (nd.getOp().equals("VarHandleOp") || nd.getOp().equals("VariableV2")) {
          o.append(nd.getOp()).append(' ').append(nd.getName());
          if (nd.getOp().equals("VarHandleOp")) {
            o.append(" shared_name=").append(nd.getAttrMap().get("shared_name").getS().toStringUtf8());
          }
          o.append(" dtype=").append(nd.getAttrMap().get("dtype").getType())
              .append(" shape=").append(shape(nd.getAttrMap().get("shape").getShape())).append('\n');
        }
      }
      o.append("\n## checkpoint keys (SaveV2 tensor_names, as written to variables.index)\n");
      for (NodeDef nd : nodes) {
        if (nd.getOp().equals("SaveV2")) {
          NodeDef names = byName.get(nodeOf(nd.getInput(1)));
          if (names != null && names.getOp().equals("Const")) {
            for (String k : strings(names.getAttrMap().get("value").getTensor())) o.append(k).append('\n');
          }
        }
      }
      // TF2-style bundles save from a library function (saver_def.save_tensor_name is a call).
      for (FunctionDef fd : mg.getGraphDef().getLibrary().getFunctionList()) {
        Map<String, NodeDef> body = new HashMap<>();
        for (NodeDef nd : fd.getNodeDefList()) body.put(nd.getName(), nd);
        for (NodeDef nd : fd.getNodeDefList()) {
          if (!nd.getOp().equals("SaveV2")) continue;
          NodeDef names = body.get(nodeOf(nd.getInput(1)));
          if (names != null && names.getOp().equals("Const")) {
            o.append("(SaveV2 in function ").append(fd.getSignature().getName()).append(")\n");
            for (String k : strings(names.getAttrMap().get("value").getTensor())) o.append(k).append('\n');
          }
        }
      }
      restoreWiring(o, mg, byName);
    }
    o.append("\n## files\n");
    try (Stream<Path> s = Files.walk(dir)) {
      for (Path p : s.filter(Files::isRegularFile).sorted().toList()) {
        String rel = dir.relativize(p).toString();
        if (rel.startsWith("io/") || rel.equals("summary.txt")) continue;
        o.append(rel).append(' ').append(Files.size(p)).append('\n');
      }
    }
    return o.toString();
  }

  /**
   * When saver_def.restore_op_name is a call of a library function (TF2 style: the restore runs
   * in {@code __inference__traced_restore_N}), traces each checkpoint key to the variable it lands
   * in: RestoreV2 output i (key i) -> Identity -> AssignVariableOp(resource arg k) -> input k of
   * the call node -> main-graph node. Prints nothing for TF1-style savers.
   */
  static void restoreWiring(StringBuilder o, MetaGraphDef mg, Map<String, NodeDef> byName) {
    NodeDef call = byName.get(nodeOf(mg.getSaverDef().getRestoreOpName()));
    if (call == null || !call.getAttrMap().containsKey("f")) return;
    String fname = call.getAttrMap().get("f").getFunc().getName();
    FunctionDef fd = null;
    for (FunctionDef f : mg.getGraphDef().getLibrary().getFunctionList()) {
      if (f.getSignature().getName().equals(fname)) fd = f;
    }
    if (fd == null) return;
    o.append("\n## restore wiring (saver_def restore_op ").append(call.getName()).append(" [").append(call.getOp())
        .append("] f=").append(fname).append(")\n");
    Map<String, NodeDef> body = new HashMap<>();
    for (NodeDef nd : fd.getNodeDefList()) body.put(nd.getName(), nd);
    List<String> args = fd.getSignature().getInputArgList().stream().map(a -> a.getName()).toList();
    Map<Integer, String> lines = new TreeMap<>();
    for (NodeDef nd : fd.getNodeDefList()) {
      if (!nd.getOp().equals("AssignVariableOp")) continue;
      String res = nd.getInput(0);
      String value = nd.getInput(1);
      List<String> path = new ArrayList<>();
      NodeDef src = body.get(nodeOf(value));
      while (src != null && src.getOp().equals("Identity")) {
        path.add(src.getName());
        value = src.getInput(0);
        src = body.get(nodeOf(value));
      }
      if (src == null || !src.getOp().equals("RestoreV2")) continue;
      int i = Integer.parseInt(value.substring(value.lastIndexOf(':') + 1));
      NodeDef names = body.get(nodeOf(src.getInput(1)));
      String key = names == null ? "?" : strings(names.getAttrMap().get("value").getTensor()).get(i);
      int k = args.indexOf(res);
      String target = k < 0 || k >= call.getInputCount() ? "?" : call.getInput(k);
      NodeDef t = byName.get(nodeOf(target));
      path.add(nd.getName());
      lines.put(i, key + ": " + src.getName() + ":tensors:" + i + " -> " + String.join(" -> ", path) + " (resource arg "
          + k + " " + res + " = " + call.getName() + " input " + k + ") = " + target
          + (t == null ? "" : " [" + t.getOp() + "]"));
    }
    lines.values().forEach(l -> o.append(l).append('\n'));
  }

  /**
   * The strings of a DT_STRING TensorProto: {@code string_val}, or else {@code tensor_content} in
   * TF's EncodeStringList form (N varint32 lengths, then the N byte strings back to back), which
   * is how TF Java / the C API serialize string Const values.
   */
  static List<String> strings(org.tensorflow.proto.TensorProto t) {
    List<String> out = new ArrayList<>();
    if (t.getStringValCount() > 0) {
      t.getStringValList().forEach(b -> out.add(b.toStringUtf8()));
      return out;
    }
    long n = 1;
    for (TensorShapeProto.Dim d : t.getTensorShape().getDimList()) n *= d.getSize();
    byte[] c = t.getTensorContent().toByteArray();
    int pos = 0;
    int[] lens = new int[(int) n];
    for (int i = 0; i < n; i++) {
      int v = 0;
      for (int shift = 0; ; shift += 7) {
        int b = c[pos++] & 0xff;
        v |= (b & 0x7f) << shift;
        if (b < 0x80) break;
      }
      lens[i] = v;
    }
    for (int i = 0; i < n; i++) {
      out.add(new String(c, pos, lens[i], java.nio.charset.StandardCharsets.UTF_8));
      pos += lens[i];
    }
    return out;
  }

  static String nodeOf(String tensorName) {
    String t = tensorName.startsWith("^") ? tensorName.substring(1) : tensorName;
    int c = t.indexOf(':');
    return c < 0 ? t : t.substring(0, c);
  }

  static Set<String> reachable(List<String> roots, Map<String, NodeDef> byName) {
    Set<String> seen = new HashSet<>();
    Deque<String> q = new ArrayDeque<>(roots);
    while (!q.isEmpty()) {
      String n = q.pop();
      if (!seen.add(n)) continue;
      NodeDef nd = byName.get(n);
      if (nd == null) continue;
      for (String in : nd.getInputList()) q.push(nodeOf(in));
    }
    return seen;
  }

  static String opCounts(List<NodeDef> nodes) {
    Map<String, Integer> m = new TreeMap<>();
    for (NodeDef nd : nodes) m.merge(nd.getOp(), 1, Integer::sum);
    return m.entrySet().stream().map(e -> e.getKey() + (e.getValue() > 1 ? "x" + e.getValue() : "")).collect(Collectors.joining(", "));
  }

  static String tensorInfo(TensorInfo t) {
    return t.getName() + " " + t.getDtype() + " " + shape(t.getTensorShape());
  }

  static String shape(TensorShapeProto s) {
    if (s.getUnknownRank()) return "<unknown rank>";
    return s.getDimList().stream().map(d -> Long.toString(d.getSize())).collect(Collectors.joining(",", "[", "]"));
  }
}
