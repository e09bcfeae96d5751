package dev.kiln.tffixtures;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.tensorflow.Graph;
import org.tensorflow.Operation;
import org.tensorflow.OperationBuilder;
import org.tensorflow.Output;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.op.Ops;
import org.tensorflow.proto.DataType;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TString;

/**
 * Thin raw-op graph builder over a TensorFlow Java {@link Graph}.
 *
 * <p>Every node is created with an explicit op type and name through {@link Graph#opBuilder}, so the
 * exported GraphDef holds exactly the op types the fixture documents (AddV2, BatchMatMulV2, ...)
 * rather than whatever TF Java's typed wrappers map to. Type attrs ({@code T}, {@code Tidx}, ...)
 * are inferred by the TF C API from the inputs; non-inferable attrs are set explicitly.
 *
 * <p>Weights are <b>resource variables</b>: one {@code VarHandleOp} per variable (node name ==
 * shared_name == checkpoint key), read with {@code ReadVariableOp}. TF Java 1.1's built-in saver
 * only handles {@code VariableV2} (see {@code Graph.addVariableSaver}: "TODO handle resource
 * variables, too"), so {@link #addResourceSaver()} writes a TF1-style saver subgraph
 * ({@code save/filename}, {@code save/SaveV2}, {@code save/control_dependency},
 * {@code save/RestoreV2}, {@code save/AssignVariableOp_N}, {@code save/restore_all}) that
 * {@code Graph.saverDef()} then picks up by name. Initial values are loaded by restoring a
 * temporary checkpoint through that same restore op, so the exported graph has no initializer
 * nodes and the only source of weight values is variables/variables.{index,data-00000-of-00001}.
 */
final class Net {

  /** A resource variable: its VarHandleOp output, shape and the seeded initial values. */
  record Var(String name, Output<?> handle, long[] shape, float[] data) {}

  final Graph g;
  final Ops tf;
  final Random rng;
  final List<Var> vars = new ArrayList<>();
  /** Names of the nodes made through {@link B}, in creation order (a topological order). */
  final List<String> created = new ArrayList<>();
  /** Devices set with {@link B#dev}, by node name. */
  final java.util.Map<String, String> devices = new java.util.LinkedHashMap<>();
  private final Set<String> used = new HashSet<>();

  Net(Graph g, long seed) {
    this.g = g;
    this.tf = Ops.create(g);
    this.rng = new Random(seed);
  }

  // ---------------------------------------------------------------- raw op construction

  String uniq(String base) {
    String n = base;
    for (int i = 1; used.contains(n) || g.operation(n) != null; i++) {
      n = base + "_" + i;
    }
    used.add(n);
    return n;
  }

  /** Fluent wrapper over an OperationBuilder. */
  final class B {
    final OperationBuilder ob;
    final String name;

    B(String type, String name, boolean init) {
      this.name = uniq(name);
      created.add(this.name);
      ob = g.opBuilder(type, this.name, init ? tf.scope().withInitScope() : tf.scope());
    }

    B in(Output<?>... xs) {
      for (Output<?> x : xs) ob.addInput(x);
      return this;
    }

    B list(List<Output<?>> xs) {
      ob.addInputList(xs.toArray(new Output<?>[0]));
      return this;
    }

    B ctrl(Operation op) {
      ob.addControlInput(op);
      return this;
    }

    B ctrl(List<Operation> ops) {
      for (Operation op : ops) ob.addControlInput(op);
      return this;
    }

    /**
     * Sets the node's device. Also recorded in {@link #devices} by node name: TF_GraphToFunction
     * drops devices from function bodies, so a caller that wants them in a FunctionDef puts them
     * back from that map.
     */
    B dev(String device) {
      ob.setDevice(device);
      devices.put(name, device);
      return this;
    }

    B a(String k, String v) { ob.setAttr(k, v); return this; }
    B a(String k, long v) { ob.setAttr(k, v); return this; }
    B a(String k, long[] v) { ob.setAttr(k, v); return this; }
    B a(String k, float v) { ob.setAttr(k, v); return this; }
    B a(String k, boolean v) { ob.setAttr(k, v); return this; }
    B a(String k, DataType v) { ob.setAttr(k, v); return this; }
    B a(String k, DataType[] v) { ob.setAttr(k, v); return this; }
    B a(String k, Shape v) { ob.setAttr(k, v); return this; }
    B a(String k, String[] v) { ob.setAttr(k, v); return this; }
    B a(String k, org.tensorflow.Tensor v) { ob.setAttr(k, v); return this; }
    B a(String k, org.tensorflow.proto.AttrValue v) { ob.setAttr(k, v); return this; }
    B a(String k, org.tensorflow.ConcreteFunction v) { ob.setAttr(k, v); return this; }

    Operation op() { return ob.build(); }

    Output<?> out() { return ob.build().output(0); }
  }

  B op(String type, String name) {
    return new B(type, name, false);
  }

  /** An op in TF Java's init scope: registered as a graph initializer (run by Session.initialize). */
  B initOp(String type, String name) {
    return new B(type, name, true);
  }

  // ---------------------------------------------------------------- leaves

  Output<?> placeholder(String name, DataType dt, long... shape) {
    return op("Placeholder", name).a("dtype", dt).a("shape", Shape.of(shape)).out();
  }

  /** A Const node holding {@code t} (closed afterwards). */
  Output<?> constant(String name, org.tensorflow.Tensor t) {
    try (t) {
      return op("Const", name).a("dtype", t.dataType()).a("value", t).out();
    }
  }

  Output<?> constF(String name, float... v) {
    return constF(name, new long[] {v.length}, v);
  }

  Output<?> scalarF(String name, float v) {
    return constant(name, TFloat32.scalarOf(v));
  }

  Output<?> scalarD(String name, double v) {
    return constant(name, org.tensorflow.types.TFloat64.scalarOf(v));
  }

  Output<?> constF(String name, long[] shape, float[] v) {
    return constant(name, TFloat32.tensorOf(Shape.of(shape), DataBuffers.of(v)));
  }

  Output<?> constI(String name, int... v) {
    return constant(name, org.tensorflow.types.TInt32.vectorOf(v));
  }

  Output<?> scalarI(String name, int v) {
    return constant(name, org.tensorflow.types.TInt32.scalarOf(v));
  }

  /**
   * A DT_STRING vector Const written with {@code string_val} entries, as Python TF writes them.
   * (Setting a TString tensor attr through the C API would store it as {@code tensor_content} in
   * TF's varint-length-prefixed encoding instead.)
   */
  Output<?> constStr(String name, String... v) {
    org.tensorflow.proto.TensorProto.Builder t =
        org.tensorflow.proto.TensorProto.newBuilder()
            .setDtype(DataType.DT_STRING)
            .setTensorShape(
                org.tensorflow.proto.TensorShapeProto.newBuilder()
                    .addDim(org.tensorflow.proto.TensorShapeProto.Dim.newBuilder().setSize(v.length)));
    for (String x : v) t.addStringVal(com.google.protobuf.ByteString.copyFromUtf8(x));
    return op("Const", name)
        .a("dtype", DataType.DT_STRING)
        .a("value", org.tensorflow.proto.AttrValue.newBuilder().setTensor(t).build())
        .out();
  }

  // ---------------------------------------------------------------- variables

  /** A float32 resource variable with N(0,1)*scale values (uniform [lo,hi) if uniform). */
  Var variable(String name, float scale, long... shape) {
    return variableWith(name, gaussian(numel(shape), scale), shape);
  }

  Var variableUniform(String name, float lo, float hi, long... shape) {
    float[] d = new float[(int) numel(shape)];
    for (int i = 0; i < d.length; i++) d[i] = lo + (hi - lo) * rng.nextFloat();
    return variableWith(name, d, shape);
  }

  Var variableWith(String name, float[] data, long... shape) {
    if (used.contains(name) || g.operation(name) != null) {
      throw new IllegalArgumentException("duplicate variable " + name);
    }
    used.add(name);
    Output<?> h =
        g.opBuilder("VarHandleOp", name, tf.scope())
            .setAttr("dtype", DataType.DT_FLOAT)
            .setAttr("shape", Shape.of(shape))
            .setAttr("shared_name", name)
            .setAttr("container", "")
            .build()
            .output(0);
    Var v = new Var(name, h, shape, data);
    vars.add(v);
    return v;
  }

  Output<?> read(Var v) {
    return op("ReadVariableOp", v.name() + "/Read/ReadVariableOp")
        .in(v.handle())
        .a("dtype", DataType.DT_FLOAT)
        .out();
  }

  float[] gaussian(long n, float scale) {
    float[] d = new float[(int) n];
    for (int i = 0; i < d.length; i++) d[i] = (float) (rng.nextGaussian() * scale);
    return d;
  }

  static long numel(long... shape) {
    long n = 1;
    for (long s : shape) n *= s;
    return n;
  }

  // ---------------------------------------------------------------- saver

  /** Adds the TF1-style resource-variable saver subgraph under scope "save" (see class doc). */
  void addResourceSaver() {
    String[] names = vars.stream().map(Var::name).toArray(String[]::new);
    String[] slices = new String[names.length];
    java.util.Arrays.fill(slices, "");
    DataType[] dts = new DataType[names.length];
    java.util.Arrays.fill(dts, DataType.DT_FLOAT);

    Output<?> filename =
        op("Placeholder", "save/filename").a("dtype", DataType.DT_STRING).a("shape", Shape.scalar()).out();
    Output<?> saveNames = constStr("save/SaveV2/tensor_names", names);
    Output<?> saveSlices = constStr("save/SaveV2/shape_and_slices", slices);
    List<Output<?>> values = new ArrayList<>();
    for (Var v : vars) {
      values.add(
          op("ReadVariableOp", "save/" + v.name() + "/Read/ReadVariableOp")
              .in(v.handle())
              .a("dtype", DataType.DT_FLOAT)
              .out());
    }
    Operation save = op("SaveV2", "save/SaveV2").in(filename, saveNames, saveSlices).list(values).op();
    op("Identity", "save/control_dependency").in(filename).ctrl(save).op();

    Output<?> restoreNames = constStr("save/RestoreV2/tensor_names", names);
    Output<?> restoreSlices = constStr("save/RestoreV2/shape_and_slices", slices);
    Operation restore =
        op("RestoreV2", "save/RestoreV2").in(filename, restoreNames, restoreSlices).a("dtypes", dts).op();
    B all = op("NoOp", "save/restore_all");
    for (int i = 0; i < vars.size(); i++) {
      Operation assign =
          op("AssignVariableOp", "save/AssignVariableOp" + (i == 0 ? "" : "_" + i))
              .in(vars.get(i).handle(), restore.output(i))
              .a("dtype", DataType.DT_FLOAT)
              .op();
      all.ctrl(assign);
    }
    all.op();
  }

  /**
   * Loads the seeded initial values into the session's resource variables: writes them to a
   * temporary V2 checkpoint from a throwaway graph, then runs this graph's save/restore_all on it.
   */
  void loadInitialValues(Session session, java.nio.file.Path tmpDir) throws java.io.IOException {
    java.nio.file.Files.createDirectories(tmpDir);
    String prefix = tmpDir.resolve("init").toString();
    try (Graph tg = new Graph();
        Session ts = new Session(tg)) {
      Net t = new Net(tg, 0);
      String[] names = vars.stream().map(Var::name).toArray(String[]::new);
      String[] slices = new String[names.length];
      java.util.Arrays.fill(slices, "");
      Output<?> filename = t.placeholder("filename", DataType.DT_STRING);
      List<Output<?>> phs = new ArrayList<>();
      for (Var v : vars) phs.add(t.placeholder("v", DataType.DT_FLOAT, v.shape()));
      Operation save =
          t.op("SaveV2", "SaveV2").in(filename, t.constStr("names", names), t.constStr("slices", slices)).list(phs).op();
      List<TFloat32> feeds = new ArrayList<>();
      try {
        Session.Runner r = ts.runner().addTarget(save);
        try (TString fn = TString.scalarOf(prefix)) {
          r.feed(filename, fn);
          for (int i = 0; i < vars.size(); i++) {
            Var v = vars.get(i);
            TFloat32 tv = TFloat32.tensorOf(Shape.of(v.shape()), DataBuffers.of(v.data()));
            feeds.add(tv);
            r.feed(phs.get(i), tv);
          }
          r.run();
        }
      } finally {
        feeds.forEach(TFloat32::close);
      }
    }
    session.restore(prefix);
  }

  // ---------------------------------------------------------------- common layers

  Output<?> matmul(String name, Output<?> a, Output<?> b) {
    return op("MatMul", name).in(a, b).out();
  }

  Output<?> biasAdd(String name, Output<?> a, Output<?> b) {
    return op("BiasAdd", name).in(a, b).out();
  }

  Output<?> addV2(String name, Output<?> a, Output<?> b) {
    return op("AddV2", name).in(a, b).out();
  }

  Output<?> mul(String name, Output<?> a, Output<?> b) {
    return op("Mul", name).in(a, b).out();
  }

  Output<?> unary(String type, String name, Output<?> a) {
    return op(type, name).in(a).out();
  }

  Output<?> reshape(String name, Output<?> a, int... shape) {
    return op("Reshape", name).in(a, constI(name + "/shape", shape)).out();
  }

  Output<?> transpose(String name, Output<?> a, int... perm) {
    return op("Transpose", name).in(a, constI(name + "/perm", perm)).out();
  }

  Output<?> mean(String name, Output<?> a, boolean keep, int... axes) {
    return op("Mean", name).in(a, constI(name + "/reduction_indices", axes)).a("keep_dims", keep).out();
  }

  /** Conv2D NHWC, square stride. */
  Output<?> conv2d(String name, Output<?> x, Output<?> k, int stride, String padding) {
    return op("Conv2D", name)
        .in(x, k)
        .a("strides", new long[] {1, stride, stride, 1})
        .a("padding", padding)
        .a("data_format", "NHWC")
        .out();
  }

  /** Dense layer on [N, in]: MatMul + BiasAdd with kernel/bias variables under {@code scope}. */
  Output<?> dense(String scope, Output<?> x, int in, int out) {
    Var w = variable(scope + "/kernel", (float) (1.0 / Math.sqrt(in)), in, out);
    Var b = variable(scope + "/bias", 0.1f, out);
    return biasAdd(scope + "/BiasAdd", matmul(scope + "/MatMul", x, read(w)), read(b));
  }

  /** FusedBatchNormV3 inference with scale/offset/moving_mean/moving_variance variables. */
  Output<?> batchNorm(String scope, Output<?> x, int c) {
    Var gamma = variableUniform(scope + "/gamma", 0.5f, 1.5f, c);
    Var beta = variable(scope + "/beta", 0.1f, c);
    Var mean = variable(scope + "/moving_mean", 0.1f, c);
    Var var = variableUniform(scope + "/moving_variance", 0.5f, 1.5f, c);
    return op("FusedBatchNormV3", scope + "/FusedBatchNormV3")
        .in(x, read(gamma), read(beta), read(mean), read(var))
        .a("epsilon", 1e-3f)
        .a("is_training", false)
        .a("data_format", "NHWC")
        .out();
  }

  /**
   * Layer norm over the last axis written out as Keras does: Mean, SquaredDifference, Mean, AddV2
   * eps, Rsqrt, Mul gamma, then x*inv + (beta - mean*inv).
   */
  Output<?> layerNorm(String scope, Output<?> x, int d) {
    Var gamma = variableUniform(scope + "/gamma", 0.5f, 1.5f, d);
    Var beta = variable(scope + "/beta", 0.1f, d);
    Output<?> mu = mean(scope + "/moments/mean", x, true, -1);
    Output<?> sq = op("SquaredDifference", scope + "/moments/SquaredDifference").in(x, mu).out();
    Output<?> var = mean(scope + "/moments/variance", sq, true, -1);
    Output<?> ve = addV2(scope + "/batchnorm/add", var, scalarF(scope + "/batchnorm/add/y", 1e-3f));
    Output<?> inv = unary("Rsqrt", scope + "/batchnorm/Rsqrt", ve);
    Output<?> invg = mul(scope + "/batchnorm/mul", inv, read(gamma));
    Output<?> xs = mul(scope + "/batchnorm/mul_1", x, invg);
    Output<?> ms = mul(scope + "/batchnorm/mul_2", mu, invg);
    Output<?> sh = op("Sub", scope + "/batchnorm/sub").in(read(beta), ms).out();
    return addV2(scope + "/batchnorm/add_1", xs, sh);
  }

  /** tanh-form GELU: 0.5*x*(1+tanh(sqrt(2/pi)*(x+0.044715*x^3))). */
  Output<?> geluTanh(String scope, Output<?> x) {
    Output<?> x3 = op("Pow", scope + "/Pow").in(x, scalarF(scope + "/Pow/y", 3f)).out();
    Output<?> inner = addV2(scope + "/add", x, mul(scope + "/mul", scalarF(scope + "/mul/x", 0.044715f), x3));
    Output<?> t =
        unary("Tanh", scope + "/Tanh", mul(scope + "/mul_1", scalarF(scope + "/mul_1/x", (float) Math.sqrt(2 / Math.PI)), inner));
    Output<?> onePlus = addV2(scope + "/add_1", scalarF(scope + "/add_1/x", 1f), t);
    return mul(scope + "/mul_3", mul(scope + "/mul_2", scalarF(scope + "/mul_2/x", 0.5f), x), onePlus);
  }
}
