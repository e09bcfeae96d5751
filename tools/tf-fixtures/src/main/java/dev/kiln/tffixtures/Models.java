package dev.kiln.tffixtures;

import static org.tensorflow.proto.DataType.DT_DOUBLE;
import static org.tensorflow.proto.DataType.DT_FLOAT;
import static org.tensorflow.proto.DataType.DT_INT64;
import static org.tensorflow.proto.DataType.DT_RESOURCE;

import dev.kiln.tffixtures.Net.Var;
import java.util.List;
import org.tensorflow.ConcreteFunction;
import org.tensorflow.Graph;
import org.tensorflow.Output;
import org.tensorflow.Signature;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.proto.DataType;
import org.tensorflow.types.TFloat32;

/** The fixture model graphs. Each builder adds ops to {@code n} and returns its signatures. */
final class Models {
  private Models() {}

  static final String PREDICT = "tensorflow/serving/predict";

  static Signature.Builder sig(String key) {
    return Signature.builder(key).methodName(PREDICT);
  }

  // ------------------------------------------------------------------------------------ mlp

  /** x[b,16] -> MatMul+BiasAdd -> Relu -> MatMul+Add -> Softmax -> y[b,8]. */
  static List<Signature> mlp(Net n) {
    Output<?> x = n.placeholder("x", DT_FLOAT, -1, 16);
    Output<?> h = n.unary("Relu", "dense/Relu", n.dense("dense", x, 16, 32));
    Var w2 = n.variable("dense_1/kernel", (float) (1 / Math.sqrt(32)), 32, 8);
    Var b2 = n.variable("dense_1/bias", 0.1f, 8);
    Output<?> z = n.op("Add", "dense_1/Add").in(n.matmul("dense_1/MatMul", h, n.read(w2)), n.read(b2)).out();
    Output<?> y = n.unary("Softmax", "dense_1/Softmax", z);
    return List.of(sig("serving_default").input("x", x).output("y", y).build());
  }

  // ------------------------------------------------------------------------------ mlp_refvar

  /**
   * The same MLP written with TF Java's own variable API ({@code tf.variable(init)}): legacy
   * reference variables (VariableV2 + Assign initializers + "Init" NoOp), saved by TF Java's
   * built-in saver. Initial values are Const nodes in the graph; the checkpoint holds the same
   * values and is what the SavedModel loader restores.
   */
  static List<Signature> mlpRefVar(Net n) {
    Output<?> x = n.placeholder("x", DT_FLOAT, -1, 16);
    Output<?> w1 = refVar(n, "dense/kernel", (float) (1 / Math.sqrt(16)), 16, 32);
    Output<?> b1 = refVar(n, "dense/bias", 0.1f, 32);
    Output<?> w2 = refVar(n, "dense_1/kernel", (float) (1 / Math.sqrt(32)), 32, 8);
    Output<?> b2 = refVar(n, "dense_1/bias", 0.1f, 8);
    Output<?> h = n.unary("Relu", "dense/Relu", n.biasAdd("dense/BiasAdd", n.matmul("dense/MatMul", x, w1), b1));
    Output<?> z = n.biasAdd("dense_1/BiasAdd", n.matmul("dense_1/MatMul", h, w2), b2);
    Output<?> y = n.unary("Softmax", "dense_1/Softmax", z);
    return List.of(sig("serving_default").input("x", x).output("y", y).build());
  }

  /**
   * A legacy reference variable as TF Java's {@code tf.variable(init)} builds it (VariableV2 and
   * Assign in the init scope), written with raw ops so the node names are exact ("a/b" names are
   * rejected by Ops.withName and uniquified by withSubScope): name/initial_value (Const),
   * name (VariableV2), name/Assign, name/read (Identity, what the model consumes).
   */
  private static Output<?> refVar(Net n, String name, float scale, long... shape) {
    float[] data = n.gaussian(Net.numel(shape), scale);
    Output<?> init;
    try (TFloat32 t = TFloat32.tensorOf(Shape.of(shape), DataBuffers.of(data))) {
      init = n.initOp("Const", name + "/initial_value").a("dtype", DT_FLOAT).a("value", t).out();
    }
    Output<?> v =
        n.initOp("VariableV2", name).a("shape", Shape.of(shape)).a("dtype", DT_FLOAT)
            .a("container", "").a("shared_name", "").out();
    n.initOp("Assign", name + "/Assign").in(v, init).a("validate_shape", true).a("use_locking", true).op();
    return n.unary("Identity", name + "/read", v);
  }

  // ------------------------------------------------------------------------------------ cnn

  /**
   * x[b,16,16,3] -> Conv2D 3x3x3x8 SAME + BiasAdd -> FusedBatchNormV3 -> Relu -> MaxPool 2x2/2
   * VALID -> Conv2D 3x3x8x16 /2 SAME -> Relu6 -> AvgPool 2x2/2 VALID -> DepthwiseConv2dNative
   * 3x3x16x1 SAME -> Mean[1,2] -> MatMul 16x10 + BiasAdd -> logits[b,10].
   */
  static List<Signature> cnn(Net n) {
    Output<?> x = n.placeholder("x", DT_FLOAT, -1, 16, 16, 3);
    Var k1 = n.variable("conv1/kernel", (float) (1 / Math.sqrt(27)), 3, 3, 3, 8);
    Var b1 = n.variable("conv1/bias", 0.1f, 8);
    Output<?> c1 = n.biasAdd("conv1/BiasAdd", n.conv2d("conv1/Conv2D", x, n.read(k1), 1, "SAME"), n.read(b1));
    Output<?> bn = n.batchNorm("bn1", c1, 8);
    Output<?> r1 = n.unary("Relu", "relu1", bn);
    Output<?> p1 =
        n.op("MaxPool", "pool1/MaxPool").in(r1).a("ksize", new long[] {1, 2, 2, 1}).a("strides", new long[] {1, 2, 2, 1})
            .a("padding", "VALID").a("data_format", "NHWC").out();
    Var k2 = n.variable("conv2/kernel", (float) (1 / Math.sqrt(72)), 3, 3, 8, 16);
    Output<?> c2 = n.conv2d("conv2/Conv2D", p1, n.read(k2), 2, "SAME");
    Output<?> r2 = n.unary("Relu6", "relu6", c2);
    Output<?> p2 =
        n.op("AvgPool", "pool2/AvgPool").in(r2).a("ksize", new long[] {1, 2, 2, 1}).a("strides", new long[] {1, 2, 2, 1})
            .a("padding", "VALID").a("data_format", "NHWC").out();
    Var dk = n.variable("dwconv/depthwise_kernel", (float) (1 / 3.0), 3, 3, 16, 1);
    Output<?> dw =
        n.op("DepthwiseConv2dNative", "dwconv/depthwise").in(p2, n.read(dk)).a("strides", new long[] {1, 1, 1, 1})
            .a("padding", "SAME").a("data_format", "NHWC").out();
    Output<?> gap = n.mean("gap/Mean", dw, false, 1, 2);
    Output<?> logits = n.dense("logits", gap, 16, 10);
    return List.of(sig("serving_default").input("x", x).output("logits", logits).build());
  }

  // ---------------------------------------------------------------------------- transformer

  /** x[b,8,32]: one post-LN encoder block, 4 heads of 8, FFN 32->64 (Einsum) -> GELU -> 32. */
  static List<Signature> transformer(Net n) {
    return encoder(n, 8, 32, 4, 64);
  }

  /** One post-LN transformer encoder block; see {@link #transformer}. */
  static List<Signature> encoder(Net n, int seq, int d, int heads, int ffn) {
    int hd = d / heads;
    Output<?> x = n.placeholder("x", DT_FLOAT, -1, seq, d);
    Output<?> x2 = n.reshape("attn/Reshape", x, -1, d);
    Output<?>[] qkv = new Output<?>[3];
    String[] names = {"query", "key", "value"};
    for (int i = 0; i < 3; i++) {
      Output<?> p = n.dense("attn/" + names[i], x2, d, d);
      Output<?> r = n.reshape("attn/" + names[i] + "/Reshape", p, -1, seq, heads, hd);
      qkv[i] = n.transpose("attn/" + names[i] + "/Transpose", r, 0, 2, 1, 3); // [b,h,s,hd]
    }
    Output<?> scores = n.op("BatchMatMulV2", "attn/scores").in(qkv[0], qkv[1]).a("adj_x", false).a("adj_y", true).out();
    Output<?> scaled = n.mul("attn/scale", scores, n.scalarF("attn/scale/y", (float) (1 / Math.sqrt(hd))));
    Output<?> probs = n.unary("Softmax", "attn/Softmax", scaled);
    Output<?> ctx = n.op("BatchMatMulV2", "attn/context").in(probs, qkv[2]).out(); // [b,h,s,hd]
    Output<?> ctxT = n.transpose("attn/context/Transpose", ctx, 0, 2, 1, 3); // [b,s,h,hd]
    Output<?> ctx2 = n.reshape("attn/context/Reshape", ctxT, -1, d);
    Output<?> proj = n.reshape("attn/output/Reshape", n.dense("attn/output", ctx2, d, d), -1, seq, d);
    Output<?> res1 = n.addV2("attn/residual", x, proj);
    Output<?> ln1 = n.layerNorm("ln1", res1, d);

    Var w1 = n.variable("ffn/dense_1/kernel", (float) (1 / Math.sqrt(d)), d, ffn);
    Var b1 = n.variable("ffn/dense_1/bias", 0.1f, ffn);
    Output<?> h = n.op("Einsum", "ffn/dense_1/einsum/Einsum").list(List.of(ln1, n.read(w1))).a("equation", "bsd,df->bsf").out();
    h = n.addV2("ffn/dense_1/add", h, n.read(b1));
    Output<?> g = n.geluTanh("ffn/gelu", h);
    Output<?> g2 = n.reshape("ffn/Reshape", g, -1, ffn);
    Output<?> f2 = n.reshape("ffn/Reshape_1", n.dense("ffn/dense_2", g2, ffn, d), -1, seq, d);
    Output<?> res2 = n.addV2("ffn/residual", ln1, f2);
    Output<?> y = n.layerNorm("ln2", res2, d);
    return List.of(sig("serving_default").input("x", x).output("y", y).build());
  }

  // ------------------------------------------------------------------------ multi_signature

  /**
   * serving_default: x[b,4] -> y = Tanh(x W + b). embed: ids int64 [b] -> ResourceGather(emb
   * [10,4]) + b -> Sigmoid -> {embedding [b,3,4] via ExpandDims/Pack/ConcatV2 with a GatherV2 read,
   * head [b,2] via StridedSlice/ExpandDims/Squeeze}. Variable "dense/bias" is shared.
   */
  static List<Signature> multiSignature(Net n) {
    Output<?> x = n.placeholder("x", DT_FLOAT, -1, 4);
    Var w = n.variable("dense/kernel", 0.5f, 4, 4);
    Var b = n.variable("dense/bias", 0.1f, 4);
    Var emb = n.variable("embedding/embeddings", 1.0f, 10, 4);
    Output<?> y = n.unary("Tanh", "dense/Tanh", n.biasAdd("dense/BiasAdd", n.matmul("dense/MatMul", x, n.read(w)), n.read(b)));

    Output<?> ids = n.placeholder("ids", DT_INT64, -1);
    Output<?> e =
        n.op("ResourceGather", "embedding/embedding_lookup").in(emb.handle(), ids).a("dtype", DT_FLOAT).out(); // [b,4]
    Output<?> s = n.unary("Sigmoid", "embed/Sigmoid", n.addV2("embed/add", e, n.read(b))); // [b,4]
    Output<?> g =
        n.op("GatherV2", "embed/GatherV2").in(n.read(emb), ids, n.scalarI("embed/GatherV2/axis", 0)).out(); // [b,4]
    Output<?> s3 = n.op("ExpandDims", "embed/ExpandDims").in(s, n.scalarI("embed/ExpandDims/dim", 1)).out(); // [b,1,4]
    Output<?> packed = n.op("Pack", "embed/stack").in().list(List.of(s, g)).a("axis", 1L).out(); // [b,2,4]
    Output<?> cat =
        n.op("ConcatV2", "embed/concat").list(List.of(s3, packed)).in(n.scalarI("embed/concat/axis", 1)).out(); // [b,3,4]
    Output<?> head =
        n.op("StridedSlice", "embed/strided_slice")
            .in(s, n.constI("embed/strided_slice/begin", 0, 1), n.constI("embed/strided_slice/end", 0, 3),
                n.constI("embed/strided_slice/strides", 1, 1))
            .a("begin_mask", 1L).a("end_mask", 1L).out(); // s[:, 1:3] -> [b,2]
    Output<?> head3 = n.op("ExpandDims", "embed/ExpandDims_1").in(head, n.scalarI("embed/ExpandDims_1/dim", -1)).out();
    Output<?> headSq = n.op("Squeeze", "embed/Squeeze").in(head3).a("squeeze_dims", new long[] {2}).out();
    return List.of(
        sig("serving_default").input("x", x).output("y", y).build(),
        sig("embed").input("ids", ids).output("embedding", cat).output("head", headSq).build());
  }

  // -------------------------------------------------------------------------------- funclib

  /**
   * Serving graph: x[b,4] + 4 VarHandleOps -> StatefulPartitionedCall(f=body) -> Identity -> y[b,8].
   * body(x, w1, b1, w2, b2 : resource): ReadVariableOp, MatMul, BiasAdd, Greater/SelectV2 (leaky
   * relu), PartitionedCall(f=dense_relu)(a, read w2, read b2), Cast f32->f64, Mul, Cast f64->f32.
   * dense_relu(h, w, b) (stateless): MatMul, BiasAdd, Relu.
   */
  static List<Signature> funclib(Net n) {
    ConcreteFunction denseRelu;
    try (Graph fg = new Graph()) {
      Net f = new Net(fg, 0);
      Output<?> h = f.placeholder("h", DT_FLOAT, -1, 8);
      Output<?> w = f.placeholder("w", DT_FLOAT, 8, 8);
      Output<?> b = f.placeholder("b", DT_FLOAT, 8);
      Output<?> out = f.unary("Relu", "Relu", f.biasAdd("BiasAdd", f.matmul("MatMul", h, w), b));
      denseRelu =
          ConcreteFunction.create(
              Signature.builder("dense_relu").input("h", h).input("w", w).input("b", b).output("out", out).build(), fg);
    }
    ConcreteFunction body;
    try (Graph fg = new Graph()) {
      Net f = new Net(fg, 0);
      Output<?> x = f.placeholder("x", DT_FLOAT, -1, 4);
      Output<?> w1 = f.placeholder("w1", DT_RESOURCE);
      Output<?> b1 = f.placeholder("b1", DT_RESOURCE);
      Output<?> w2 = f.placeholder("w2", DT_RESOURCE);
      Output<?> b2 = f.placeholder("b2", DT_RESOURCE);
      Output<?> w1v = f.op("ReadVariableOp", "MatMul/ReadVariableOp").in(w1).a("dtype", DT_FLOAT).out();
      Output<?> b1v = f.op("ReadVariableOp", "BiasAdd/ReadVariableOp").in(b1).a("dtype", DT_FLOAT).out();
      Output<?> h = f.biasAdd("BiasAdd", f.matmul("MatMul", x, w1v), b1v);
      Output<?> pos = f.op("Greater", "Greater").in(h, f.scalarF("Greater/y", 0f)).out();
      Output<?> a = f.op("SelectV2", "SelectV2").in(pos, h, f.mul("mul", h, f.scalarF("mul/y", 0.1f))).out();
      Output<?> w2v = f.op("ReadVariableOp", "dense_relu/ReadVariableOp").in(w2).a("dtype", DT_FLOAT).out();
      Output<?> b2v = f.op("ReadVariableOp", "dense_relu/ReadVariableOp_1").in(b2).a("dtype", DT_FLOAT).out();
      Output<?> h2 =
          f.op("PartitionedCall", "PartitionedCall").list(List.of(a, w2v, b2v))
              .a("Tout", new DataType[] {DT_FLOAT}).a("f", denseRelu).out();
      Output<?> hd = f.op("Cast", "Cast").in(h2).a("DstT", DT_DOUBLE).out();
      Output<?> hs = f.mul("mul_1", hd, f.scalarD("mul_1/y", 0.5));
      Output<?> y = f.op("Cast", "Cast_1").in(hs).a("DstT", DT_FLOAT).out();
      body =
          ConcreteFunction.create(
              Signature.builder("body").input("x", x).input("w1", w1).input("b1", b1).input("w2", w2)
                  .input("b2", b2).output("y", y).build(),
              fg);
    }
    Output<?> x = n.placeholder("x", DT_FLOAT, -1, 4);
    Var w1 = n.variable("dense/kernel", 0.5f, 4, 8);
    Var b1 = n.variable("dense/bias", 0.1f, 8);
    Var w2 = n.variable("dense_relu/kernel", (float) (1 / Math.sqrt(8)), 8, 8);
    Var b2 = n.variable("dense_relu/bias", 0.1f, 8);
    Output<?> call =
        n.op("StatefulPartitionedCall", "StatefulPartitionedCall")
            .list(List.of(x, w1.handle(), b1.handle(), w2.handle(), b2.handle()))
            .a("Tout", new DataType[] {DT_FLOAT}).a("f", body).out();
    Output<?> y = n.unary("Identity", "Identity", call);
    return List.of(sig("serving_default").input("x", x).output("y", y).build());
  }

  // ------------------------------------------------------------------------------ cnn_large

  /**
   * ResNet-ish CNN on x[b,224,224,3]: stem conv3x3/2 32 + BN + Relu, MaxPool 3x3/2 SAME, four
   * residual stages (64, 128/2, 256/2, 256/2) of [conv3x3 BN Relu, conv3x3 BN] + 1x1 conv BN
   * shortcut, AddV2, Relu; global Mean, dense 256->1000 (output logits), Softmax (output probs). 13 convs.
   */
  static List<Signature> cnnLarge(Net n) {
    Output<?> x = n.placeholder("x", DT_FLOAT, -1, 224, 224, 3);
    Output<?> h = n.unary("Relu", "stem/Relu", n.batchNorm("stem/bn", convW(n, "stem/conv", x, 3, 3, 32, 2), 32));
    h = n.op("MaxPool", "stem/MaxPool").in(h).a("ksize", new long[] {1, 3, 3, 1}).a("strides", new long[] {1, 2, 2, 1})
        .a("padding", "SAME").a("data_format", "NHWC").out(); // 56x56x32
    int cin = 32;
    int[][] stages = {{64, 1}, {128, 2}, {256, 2}, {256, 2}};
    for (int s = 0; s < stages.length; s++) {
      int c = stages[s][0];
      int stride = stages[s][1];
      String p = "stage" + (s + 1);
      Output<?> a = n.unary("Relu", p + "/Relu", n.batchNorm(p + "/bn1", convW(n, p + "/conv1", h, 3, cin, c, stride), c));
      Output<?> b = n.batchNorm(p + "/bn2", convW(n, p + "/conv2", a, 3, c, c, 1), c);
      Output<?> sc = n.batchNorm(p + "/shortcut_bn", convW(n, p + "/shortcut", h, 1, cin, c, stride), c);
      h = n.unary("Relu", p + "/Relu_1", n.addV2(p + "/add", b, sc));
      cin = c;
    }
    Output<?> gap = n.mean("gap/Mean", h, false, 1, 2);
    Output<?> logits = n.dense("fc", gap, cin, 1000);
    Output<?> probs = n.unary("Softmax", "fc/Softmax", logits);
    return List.of(sig("serving_default").input("x", x).output("logits", logits).output("probs", probs).build());
  }

  private static Output<?> convW(Net n, String name, Output<?> x, int k, int cin, int cout, int stride) {
    Var w = n.variable(name + "/kernel", (float) Math.sqrt(2.0 / (k * k * cin)), k, k, cin, cout);
    return n.conv2d(name + "/Conv2D", x, n.read(w), stride, "SAME");
  }

  // ---------------------------------------------------------------------- transformer_large

  /** BERT-base-size encoder block: seq 128, d 768, 12 heads of 64, FFN 3072. */
  static List<Signature> transformerLarge(Net n) {
    return encoder(n, 128, 768, 12, 3072);
  }
}
