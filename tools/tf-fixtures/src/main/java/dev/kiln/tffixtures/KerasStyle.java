package dev.kiln.tffixtures;

import static org.tensorflow.proto.DataType.DT_FLOAT;
import static org.tensorflow.proto.DataType.DT_INT32;
import static org.tensorflow.proto.DataType.DT_RESOURCE;
import static org.tensorflow.proto.DataType.DT_STRING;

import dev.kiln.tffixtures.Net.Var;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.tensorflow.ConcreteFunction;
import org.tensorflow.Graph;
import org.tensorflow.Operation;
import org.tensorflow.Output;
import org.tensorflow.Result;
import org.tensorflow.SavedModelBundle;
import org.tensorflow.Session;
import org.tensorflow.Signature;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.proto.AttrValue;
import org.tensorflow.proto.DataType;
import org.tensorflow.proto.FunctionDef;
import org.tensorflow.proto.FunctionDefLibrary;
import org.tensorflow.proto.GraphDef;
import org.tensorflow.proto.MetaGraphDef;
import org.tensorflow.proto.NodeDef;
import org.tensorflow.proto.SavedModel;
import org.tensorflow.proto.SaverDef;
import org.tensorflow.proto.SignatureDef;
import org.tensorflow.proto.TensorInfo;
import org.tensorflow.proto.TensorShapeProto;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TString;

/**
 * The {@code keras_style} fixture: a SavedModel wired the way TF2 ({@code tf.saved_model.save} /
 * Keras {@code model.save()}) wires variables, written by hand because TF Java's exporter can only
 * write TF1 session-style bundles.
 *
 * <p>x[b,6] -> dense (kernel [6,5], bias [5]) -> Relu -> dense_1 (kernel [5,3], bias [3]) ->
 * output_0[b,3]. Main graph: VarHandleOps {@code dense/kernel, dense/bias, dense_1/kernel,
 * dense_1/bias}, {@code serving_default_x}, {@code StatefulPartitionedCall} (f = signature
 * wrapper), {@code saver_filename}, {@code StatefulPartitionedCall_1} (f = traced save),
 * {@code StatefulPartitionedCall_2} (f = traced restore), {@code NoOp} (the
 * {@code __saved_model_init_op}). The checkpoint keys are TF2 object-graph paths
 * ({@code layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE}, ...) that have nothing to do
 * with the VarHandleOp names: the only link is the restore function, which RestoreV2s the keys and
 * AssignVariableOps them into its DT_RESOURCE arguments, which the restore call node feeds from
 * the VarHandleOps. saver_def points at that call node, so TF's own loader restores through it.
 *
 * <p>The checkpoint is written by running the save function (SaveV2 into a "_temp/part" shard,
 * then MergeV2Checkpoints), after the variables were filled by running the restore function on a
 * temporary checkpoint written with a plain SaveV2 from the seeded weights.
 */
final class KerasStyle implements GenerateFixtures.Custom {

  static final String CPU = "/device:CPU:0";
  static final String[] VAR_NAMES = {"dense/kernel", "dense/bias", "dense_1/kernel", "dense_1/bias"};
  static final String[] KEYS = {
    "layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE",
    "layer_with_weights-0/bias/.ATTRIBUTES/VARIABLE_VALUE",
    "layer_with_weights-1/kernel/.ATTRIBUTES/VARIABLE_VALUE",
    "layer_with_weights-1/bias/.ATTRIBUTES/VARIABLE_VALUE",
  };
  /** Final library function names (TF_GraphToFunction appends a hash; renamed to TF2-like uids). */
  static final String SIG_FN = "__inference_signature_wrapper_187";
  static final String SAVE_FN = "__inference__traced_save_262";
  static final String RESTORE_FN = "__inference__traced_restore_296";

  /**
   * A library function, the devices of its body nodes (TF_GraphToFunction drops them) and the
   * order its nodes were created in (TF_GraphToFunction's order follows hash sets).
   */
  record Fn(ConcreteFunction cf, Map<String, String> devices, List<String> order) {}

  /** The seeded weights of the last export (the reference for verify). */
  private List<Var> vars;

  // ------------------------------------------------------------------------------ export

  @Override
  public void export(GenerateFixtures.Fixture f, Path dir) throws IOException {
    GenerateFixtures.deleteTree(dir);
    Path tmp = Files.createTempDirectory("kiln-tf-keras");
    try (Graph g = new Graph()) {
      Net n = new Net(g, f.seed());
      Var k0 = n.variable("dense/kernel", (float) (1 / Math.sqrt(6)), 6, 5);
      Var b0 = n.variable("dense/bias", 0.1f, 5);
      Var k1 = n.variable("dense_1/kernel", (float) (1 / Math.sqrt(5)), 5, 3);
      Var b1 = n.variable("dense_1/bias", 0.1f, 3);
      vars = List.of(k0, b0, k1, b1);
      List<Output<?>> handles = vars.stream().<Output<?>>map(Var::handle).toList();

      Fn sig = signatureWrapper();
      Fn save = saveFunction();
      Fn restore = restoreFunction();
      ConcreteFunction sigFn = sig.cf();
      ConcreteFunction saveFn = save.cf();
      ConcreteFunction restoreFn = restore.cf();
      Map<String, String> rename = new LinkedHashMap<>();
      rename.put(sigFn.getDefinedName(), SIG_FN);
      rename.put(saveFn.getDefinedName(), SAVE_FN);
      rename.put(restoreFn.getDefinedName(), RESTORE_FN);
      Map<String, Fn> fns = Map.of(SIG_FN, sig, SAVE_FN, save, RESTORE_FN, restore);

      n.op("NoOp", "NoOp").op(); // __saved_model_init_op (nothing to initialize)
      Output<?> x = n.placeholder("serving_default_x", DT_FLOAT, -1, 6);
      Output<?> y =
          call(n, "StatefulPartitionedCall", x, handles, DT_FLOAT, sigFn).a("_read_only_resource_inputs", new long[] {1, 2, 3, 4})
              .out();
      Output<?> saverFilename = n.placeholder("saver_filename", DT_STRING);
      call(n, "StatefulPartitionedCall_1", saverFilename, handles, DT_STRING, saveFn).op();
      call(n, "StatefulPartitionedCall_2", saverFilename, handles, DT_STRING, restoreFn).op();
      SignatureDef serving =
          SignatureDef.newBuilder()
              .setMethodName(Models.PREDICT)
              .putInputs("x", tensorInfo(x))
              .putOutputs("output_0", tensorInfo(y))
              .build();

      try (Session s = new Session(g)) {
        // Fill the variables through the restore function from a plain-SaveV2 temporary checkpoint
        // (TF2 keys), then write the bundle's checkpoint through the save function.
        String tmpPrefix = tmp.resolve("init").toString();
        writeCheckpoint(tmpPrefix, vars);
        try (TString fn = TString.scalarOf(tmpPrefix)) {
          s.runner().feed("saver_filename", fn).addTarget("StatefulPartitionedCall_2").run();
        }
        Files.createDirectories(dir.resolve("variables"));
        try (TString fn = TString.scalarOf(dir.resolve("variables").resolve("variables").toString());
            Result r = s.runner().feed("saver_filename", fn).fetch("StatefulPartitionedCall_1").run()) {
          // r holds the prefix string returned by the save function
        }
      }

      GraphDef gd = fixGraphDef(g.toGraphDef(), rename, fns);
      SignatureDef initSig =
          SignatureDef.newBuilder()
              .putOutputs(
                  "__saved_model_init_op",
                  TensorInfo.newBuilder()
                      .setName("NoOp")
                      .setTensorShape(TensorShapeProto.newBuilder().setUnknownRank(true))
                      .build())
              .build();
      MetaGraphDef mg =
          MetaGraphDef.newBuilder()
              .setMetaInfoDef(MetaGraphDef.MetaInfoDef.newBuilder().addTags(SavedModelBundle.DEFAULT_TAG))
              .setGraphDef(gd)
              .setSaverDef(
                  SaverDef.newBuilder()
                      .setFilenameTensorName("saver_filename:0")
                      .setSaveTensorName("StatefulPartitionedCall_1:0")
                      .setRestoreOpName("StatefulPartitionedCall_2")
                      .setVersion(SaverDef.CheckpointFormatVersion.V2))
              .putSignatureDef("serving_default", serving)
              .putSignatureDef("__saved_model_init_op", initSig)
              .build();
      SavedModel sm = SavedModel.newBuilder().setSavedModelSchemaVersion(1).addMetaGraphs(mg).build();
      Files.write(dir.resolve("saved_model.pb"), sm.toByteArray());
      sigFn.close();
      saveFn.close();
      restoreFn.close();
    } finally {
      GenerateFixtures.deleteTree(tmp);
    }
    GenerateFixtures.canonicalize(dir.resolve("saved_model.pb"));
  }

  /** TensorInfo of a graph output: "node:index", dtype, the shape TF's shape inference gives it. */
  static TensorInfo tensorInfo(Output<?> o) {
    TensorShapeProto.Builder sh = TensorShapeProto.newBuilder();
    Shape s = o.shape();
    if (s.isUnknown()) {
      sh.setUnknownRank(true);
    } else {
      for (long d : s.asArray()) sh.addDim(TensorShapeProto.Dim.newBuilder().setSize(d));
    }
    return TensorInfo.newBuilder()
        .setName(o.op().name() + ":" + o.index())
        .setDtype(o.dataType())
        .setTensorShape(sh)
        .build();
  }

  /** StatefulPartitionedCall(first, handles...) with f = fn, as TF2 writes it in the main graph. */
  private static Net.B call(Net n, String name, Output<?> first, List<Output<?>> handles, DataType out, ConcreteFunction fn) {
    List<Output<?>> ins = new ArrayList<>();
    ins.add(first);
    ins.addAll(handles);
    return n.op("StatefulPartitionedCall", name)
        .list(ins)
        .a("Tout", new DataType[] {out})
        .a("f", fn)
        .a("_collective_manager_ids", new long[0]);
  }

  /**
   * __inference_signature_wrapper: (x, unknown, unknown_0, unknown_1, unknown_2: resource) ->
   * identity. The model, read through ReadVariableOp on the resource args; names as in a Keras
   * Sequential's traced call.
   */
  private static Fn signatureWrapper() {
    try (Graph fg = new Graph()) {
      Net f = new Net(fg, 0);
      Output<?> x = f.placeholder("x", DT_FLOAT, -1, 6);
      String[] argNames = {"unknown", "unknown_0", "unknown_1", "unknown_2"};
      List<Output<?>> res = new ArrayList<>();
      for (String a : argNames) res.add(f.placeholder(a, DT_RESOURCE));
      List<Operation> reads = new ArrayList<>();
      Output<?> h = x;
      String[] layers = {"sequential/dense", "sequential/dense_1"};
      for (int l = 0; l < 2; l++) {
        String p = layers[l];
        Output<?> w = f.op("ReadVariableOp", p + "/MatMul/ReadVariableOp").in(res.get(2 * l)).a("dtype", DT_FLOAT).out();
        Output<?> mm = f.matmul(p + "/MatMul", h, w);
        Output<?> b = f.op("ReadVariableOp", p + "/BiasAdd/ReadVariableOp").in(res.get(2 * l + 1)).a("dtype", DT_FLOAT).out();
        reads.add(w.op());
        reads.add(b.op());
        h = f.biasAdd(p + "/BiasAdd", mm, b);
        if (l == 0) h = f.unary("Relu", p + "/Relu", h);
      }
      Operation noop = f.op("NoOp", "NoOp").ctrl(reads).op();
      Output<?> y = f.op("Identity", "Identity").in(h).ctrl(noop).out();
      Signature.Builder sb = Signature.builder("__inference_signature_wrapper").input("x", x);
      for (int i = 0; i < argNames.length; i++) sb.input(argNames[i], res.get(i));
      return new Fn(ConcreteFunction.create(sb.output("identity", y).build(), fg), f.devices, f.created);
    }
  }

  /**
   * __inference__traced_restore: (file_prefix: string, assignvariableop_*: resource) -> identity_5.
   * RestoreV2 of the TF2 keys, then Identity + AssignVariableOp into the k-th resource arg.
   */
  private static Fn restoreFunction() {
    try (Graph fg = new Graph()) {
      Net f = new Net(fg, 0);
      Output<?> prefix = f.placeholder("file_prefix", DT_STRING);
      List<Output<?>> res = new ArrayList<>();
      List<String> argNames = new ArrayList<>();
      for (int k = 0; k < VAR_NAMES.length; k++) {
        String a = "assignvariableop_" + (k == 0 ? "" : k + "_") + norm(VAR_NAMES[k]);
        argNames.add(a);
        res.add(f.placeholder(a, DT_RESOURCE));
      }
      Output<?> names = strConst(f, "RestoreV2/tensor_names", KEYS);
      Output<?> slices = strConst(f, "RestoreV2/shape_and_slices", emptyStrings(KEYS.length));
      DataType[] dts = new DataType[KEYS.length];
      Arrays.fill(dts, DT_FLOAT);
      Operation restore = f.op("RestoreV2", "RestoreV2").in(prefix, names, slices).a("dtypes", dts).dev(CPU).op();
      List<Operation> assigns = new ArrayList<>();
      for (int k = 0; k < KEYS.length; k++) {
        Output<?> id = f.op("Identity", suffixed("Identity", k)).in(restore.output(k)).dev(CPU).out();
        assigns.add(
            f.op("AssignVariableOp", suffixed("AssignVariableOp", k)).in(res.get(k), id).a("dtype", DT_FLOAT)
                .a("_has_manual_control_dependencies", true).dev(CPU).op());
      }
      Operation noop = f.op("NoOp", "NoOp").a("_has_manual_control_dependencies", true).dev(CPU).op();
      Output<?> id4 = f.op("Identity", "Identity_" + KEYS.length).in(prefix).ctrl(assigns).ctrl(noop).dev(CPU).out();
      Operation noop1 = f.op("NoOp", "NoOp_1").ctrl(assigns).op();
      Output<?> id5 = f.op("Identity", "Identity_" + (KEYS.length + 1)).in(id4).ctrl(noop1).out();
      Signature.Builder sb = Signature.builder("__inference__traced_restore").input("file_prefix", prefix);
      for (int k = 0; k < res.size(); k++) sb.input(argNames.get(k), res.get(k));
      return new Fn(ConcreteFunction.create(sb.output("identity_" + (KEYS.length + 1), id5).build(), fg), f.devices, f.created);
    }
  }

  /**
   * __inference__traced_save: (file_prefix: string, read_*_disablecopyonread_*: resource) ->
   * identity_9. As TF 2.15+ writes it: StaticRegexFullMatch/Select/StringJoin make the
   * "_temp/part" prefix, DisableCopyOnRead + ReadVariableOp + Identity x2 per variable,
   * ShardedFilename, SaveV2 of the TF2 keys, Pack + MergeV2Checkpoints into file_prefix.
   */
  private static Fn saveFunction() {
    try (Graph fg = new Graph()) {
      Net f = new Net(fg, 0);
      Output<?> prefix = f.placeholder("file_prefix", DT_STRING);
      List<Output<?>> res = new ArrayList<>();
      List<String> argNames = new ArrayList<>();
      for (int k = 0; k < VAR_NAMES.length; k++) {
        String a = "read_" + (k == 0 ? "" : k + "_") + "disablecopyonread_" + norm(VAR_NAMES[k]);
        argNames.add(a);
        res.add(f.placeholder(a, DT_RESOURCE));
      }
      Output<?> match = f.op("StaticRegexFullMatch", "StaticRegexFullMatch").in(prefix).a("pattern", "^s3://.*").dev(CPU).out();
      Output<?> part = strScalar(f, "Const", ".part");
      Output<?> tempPart = strScalar(f, "Const_1", "_temp/part");
      Output<?> sel = f.op("Select", "Select").in(match, part, tempPart).dev(CPU).out();
      Output<?> join = f.op("StringJoin", "StringJoin").list(List.of(prefix, sel)).dev(CPU).out();
      List<Operation> readOps = new ArrayList<>();
      List<Output<?>> values = new ArrayList<>();
      for (int k = 0; k < res.size(); k++) {
        String r = suffixed("Read", k);
        Operation dis = f.op("DisableCopyOnRead", r + "/DisableCopyOnRead").in(res.get(k)).op();
        Operation rd = f.op("ReadVariableOp", r + "/ReadVariableOp").in(res.get(k)).ctrl(dis).a("dtype", DT_FLOAT).op();
        readOps.add(dis);
        readOps.add(rd);
        Output<?> idA = f.op("Identity", suffixed("Identity", 2 * k)).in(rd.output(0)).out();
        values.add(f.op("Identity", "Identity_" + (2 * k + 1)).in(idA).dev(CPU).out());
      }
      Output<?> numShards = intScalar(f, "num_shards", 1, null);
      Output<?> shard = intScalar(f, "ShardedFilename/shard", 0, CPU);
      Output<?> sharded = f.op("ShardedFilename", "ShardedFilename").in(join, shard, numShards).dev(CPU).out();
      Output<?> names = strConst(f, "SaveV2/tensor_names", KEYS);
      Output<?> slices = strConst(f, "SaveV2/shape_and_slices", emptyStrings(KEYS.length));
      Operation save =
          f.op("SaveV2", "SaveV2").in(sharded, names, slices).list(values).a("_has_manual_control_dependencies", true)
              .dev(CPU).op();
      Output<?> prefixes =
          f.op("Pack", "MergeV2Checkpoints/checkpoint_prefixes").list(List.of(sharded)).ctrl(save).dev(CPU).out();
      Operation merge =
          f.op("MergeV2Checkpoints", "MergeV2Checkpoints").in(prefixes, prefix).a("_has_manual_control_dependencies", true)
              .dev(CPU).op();
      int last = 2 * res.size();
      Output<?> id8 = f.op("Identity", "Identity_" + last).in(prefix).ctrl(merge).dev(CPU).out();
      List<Operation> deps = new ArrayList<>();
      deps.add(merge);
      deps.addAll(readOps);
      Operation noop = f.op("NoOp", "NoOp").ctrl(deps).op();
      Output<?> id9 = f.op("Identity", "Identity_" + (last + 1)).in(id8).ctrl(noop).out();
      Signature.Builder sb = Signature.builder("__inference__traced_save").input("file_prefix", prefix);
      for (int k = 0; k < res.size(); k++) sb.input(argNames.get(k), res.get(k));
      return new Fn(ConcreteFunction.create(sb.output("identity_" + (last + 1), id9).build(), fg), f.devices, f.created);
    }
  }

  /** "dense_1/kernel" -> "dense_1_kernel" (TF's arg-name normalization). */
  static String norm(String name) {
    return name.toLowerCase().replaceAll("[^a-z0-9_]", "_");
  }

  static String suffixed(String base, int k) {
    return k == 0 ? base : base + "_" + k;
  }

  static String[] emptyStrings(int n) {
    String[] s = new String[n];
    Arrays.fill(s, "");
    return s;
  }

  /** DT_STRING vector Const with string_val entries, on CPU (as in TF2's save/restore functions). */
  private static Output<?> strConst(Net f, String name, String... v) {
    org.tensorflow.proto.TensorProto.Builder t =
        org.tensorflow.proto.TensorProto.newBuilder()
            .setDtype(DT_STRING)
            .setTensorShape(TensorShapeProto.newBuilder().addDim(TensorShapeProto.Dim.newBuilder().setSize(v.length)));
    for (String x : v) t.addStringVal(com.google.protobuf.ByteString.copyFromUtf8(x));
    return f.op("Const", name).a("dtype", DT_STRING).a("value", AttrValue.newBuilder().setTensor(t).build()).dev(CPU).out();
  }

  private static Output<?> strScalar(Net f, String name, String v) {
    org.tensorflow.proto.TensorProto t =
        org.tensorflow.proto.TensorProto.newBuilder()
            .setDtype(DT_STRING)
            .setTensorShape(TensorShapeProto.getDefaultInstance())
            .addStringVal(com.google.protobuf.ByteString.copyFromUtf8(v))
            .build();
    return f.op("Const", name).a("dtype", DT_STRING).a("value", AttrValue.newBuilder().setTensor(t).build()).dev(CPU).out();
  }

  private static Output<?> intScalar(Net f, String name, int v, String device) {
    try (TInt32 t = TInt32.scalarOf(v)) {
      Net.B b = f.op("Const", name).a("dtype", DT_INT32).a("value", t);
      if (device != null) b.dev(device);
      return b.out();
    }
  }

  /** Writes vars under the TF2 keys with one plain SaveV2 (V2 bundle: prefix.index + prefix.data-*). */
  static void writeCheckpoint(String prefix, List<Var> vars) {
    try (Graph tg = new Graph();
        Session ts = new Session(tg)) {
      Net t = new Net(tg, 0);
      Output<?> filename = t.placeholder("filename", DT_STRING);
      List<Output<?>> phs = new ArrayList<>();
      for (Var v : vars) phs.add(t.placeholder("v", DT_FLOAT, v.shape()));
      Operation save =
          t.op("SaveV2", "SaveV2").in(filename, t.constStr("names", KEYS), t.constStr("slices", emptyStrings(KEYS.length)))
              .list(phs).op();
      List<TFloat32> feeds = new ArrayList<>();
      try (TString fn = TString.scalarOf(prefix)) {
        Session.Runner r = ts.runner().addTarget(save).feed(filename, fn);
        for (int i = 0; i < vars.size(); i++) {
          TFloat32 tv = TFloat32.tensorOf(Shape.of(vars.get(i).shape()), DataBuffers.of(vars.get(i).data()));
          feeds.add(tv);
          r.feed(phs.get(i), tv);
        }
        r.run();
      } finally {
        feeds.forEach(TFloat32::close);
      }
    }
  }

  /**
   * Renames the library functions to fixed TF2-style names (TF_GraphToFunction appends a hash),
   * sorts the library by name (the C API's order is a hash-map order), clears the signature
   * description (TF Java puts the signature key there; TF2 leaves it empty), puts back the body
   * nodes' devices (TF_GraphToFunction drops them), orders the body nodes by creation (as TF2
   * writes them; TF_GraphToFunction's order varies from run to run) and adds the control outputs TF2's automatic
   * control dependencies declare (signature.control_output + control_ret): the stateful ops
   * that the function's final NoOp waits on.
   */
  static GraphDef fixGraphDef(GraphDef gd, Map<String, String> rename, Map<String, Fn> built) {
    GraphDef.Builder b = gd.toBuilder();
    for (NodeDef.Builder nd : b.getNodeBuilderList()) renameCalls(nd, rename);
    List<FunctionDef> fns = new ArrayList<>();
    for (FunctionDef fd : gd.getLibrary().getFunctionList()) {
      FunctionDef.Builder fb = fd.toBuilder();
      String name = rename.getOrDefault(fd.getSignature().getName(), fd.getSignature().getName());
      fb.getSignatureBuilder().setName(name).clearDescription();
      Fn fn = built.get(name);
      if (fn == null) throw new IllegalStateException("unexpected library function " + name);
      for (NodeDef.Builder nd : fb.getNodeDefBuilderList()) {
        renameCalls(nd, rename);
        if (fn.devices().containsKey(nd.getName())) nd.setDevice(fn.devices().get(nd.getName()));
      }
      List<NodeDef> body = new ArrayList<>(fb.getNodeDefList());
      body.sort(Comparator.comparingInt(nd -> {
        int i = fn.order().indexOf(nd.getName());
        if (i < 0) throw new IllegalStateException("unknown node " + nd.getName() + " in " + name);
        return i;
      }));
      fb.clearNodeDef().addAllNodeDef(body);
      List<String> ctrl = new ArrayList<>();
      for (NodeDef nd : fd.getNodeDefList()) {
        if (!nd.getOp().equals("NoOp")) continue;
        for (String in : nd.getInputList()) {
          if (in.startsWith("^")) ctrl.add(in.substring(1));
        }
        if (!ctrl.isEmpty()) break;
      }
      ctrl.sort(null);
      for (String c : ctrl) {
        fb.getSignatureBuilder().addControlOutput(c);
        fb.putControlRet(c, c);
      }
      fns.add(fb.build());
    }
    fns.sort(Comparator.comparing(fd -> fd.getSignature().getName()));
    b.setLibrary(FunctionDefLibrary.newBuilder(gd.getLibrary()).clearFunction().addAllFunction(fns));
    return b.build();
  }

  private static void renameCalls(NodeDef.Builder nd, Map<String, String> rename) {
    for (Map.Entry<String, AttrValue> e : nd.getAttrMap().entrySet()) {
      if (e.getValue().hasFunc() && rename.containsKey(e.getValue().getFunc().getName())) {
        AttrValue.Builder av = e.getValue().toBuilder();
        av.getFuncBuilder().setName(rename.get(e.getValue().getFunc().getName()));
        nd.putAttr(e.getKey(), av.build());
      }
    }
  }

  // ------------------------------------------------------------------------------ verify

  /**
   * Checks, with TF's own loader, that the variables were restored through the restore function
   * (the loaded variables equal the seeded weights bit for bit; nothing else in the graph assigns
   * them), that TF's outputs in io/ equal a plain float64 computation of the model from the seeded
   * weights, and that the save function (saver_def.save_tensor_name) writes a checkpoint
   * byte-identical to variables/. Prints the results; throws on a mismatch.
   */
  @Override
  public void verify(GenerateFixtures.Fixture f, Path dir) throws IOException {
    if (vars == null) throw new IllegalStateException("verify before export");
    try (SavedModelBundle b = SavedModelBundle.load(dir.toString(), SavedModelBundle.DEFAULT_TAG)) {
      Net n = new Net(b.graph(), 0);
      for (Var v : vars) {
        Output<?> r =
            n.op("ReadVariableOp", "kiln_verify/" + v.name()).in(b.graph().operation(v.name()).output(0))
                .a("dtype", DT_FLOAT).out();
        try (Result res = b.session().runner().fetch(r).run()) {
          TFloat32 t = (TFloat32) res.get(0);
          float[] got = new float[v.data().length];
          t.copyTo(DataBuffers.of(got, false, false));
          if (!Arrays.equals(got, v.data())) throw new IllegalStateException("loaded " + v.name() + " != seeded weights");
        }
      }
      System.out.println("keras_style: SavedModelBundle.load restored all 4 variables through " + RESTORE_FN
          + " (bit-identical to the seeded weights)");

      Path tmp = Files.createTempDirectory("kiln-tf-keras-save");
      try {
        String prefix = tmp.resolve("variables").toString();
        try (TString fn = TString.scalarOf(prefix);
            Result r = b.session().runner().feed("saver_filename", fn).fetch("StatefulPartitionedCall_1").run()) {
          String ret = ((TString) r.get(0)).getObject();
          if (!ret.equals(prefix)) throw new IllegalStateException("save function returned " + ret);
        }
        for (String file : List.of("variables.index", "variables.data-00000-of-00001")) {
          if (!Arrays.equals(Files.readAllBytes(tmp.resolve(file)), Files.readAllBytes(dir.resolve("variables").resolve(file)))) {
            throw new IllegalStateException("save function output " + file + " differs from variables/" + file);
          }
        }
        try (var s = Files.list(tmp)) {
          List<String> left = s.map(p -> p.getFileName().toString()).sorted().toList();
          if (!left.equals(List.of("variables.data-00000-of-00001", "variables.index"))) {
            throw new IllegalStateException("save function left " + left);
          }
        }
      } finally {
        GenerateFixtures.deleteTree(tmp);
      }
      System.out.println("keras_style: running StatefulPartitionedCall_1 (" + SAVE_FN
          + ") rewrote variables.index and variables.data-00000-of-00001 byte-identically");
    }

    double maxDiff = 0;
    for (int batch : f.batches()) {
      float[] x = Npy.read(dir.resolve("io/serving_default__b" + batch + "__in__x.npy")).floats();
      Npy.Array out = Npy.read(dir.resolve("io/serving_default__b" + batch + "__out__output_0.npy"));
      if (out.shape().length != 2 || out.shape()[0] != batch || out.shape()[1] != 3) {
        throw new IllegalStateException("output shape " + Arrays.toString(out.shape()));
      }
      float[] y = out.floats();
      double[] ref = reference(x, batch);
      for (int i = 0; i < ref.length; i++) maxDiff = Math.max(maxDiff, Math.abs(ref[i] - y[i]));
    }
    System.out.printf("keras_style: max |TF - plain float64 reference| = %.3g%n", maxDiff);
    if (maxDiff > 1e-5) throw new IllegalStateException("TF output differs from the reference by " + maxDiff);
  }

  /** relu(x W0 + b0) W1 + b1 in float64 from the seeded weights; x [batch,6] -> [batch,3]. */
  double[] reference(float[] x, int batch) {
    float[] w0 = vars.get(0).data(), b0 = vars.get(1).data(), w1 = vars.get(2).data(), b1 = vars.get(3).data();
    double[] y = new double[batch * 3];
    for (int r = 0; r < batch; r++) {
      double[] h = new double[5];
      for (int j = 0; j < 5; j++) {
        double acc = b0[j];
        for (int i = 0; i < 6; i++) acc += (double) x[r * 6 + i] * w0[i * 5 + j];
        h[j] = Math.max(acc, 0);
      }
      for (int j = 0; j < 3; j++) {
        double acc = b1[j];
        for (int i = 0; i < 5; i++) acc += h[i] * w1[i * 3 + j];
        y[r * 3 + j] = acc;
      }
    }
    return y;
  }
}
