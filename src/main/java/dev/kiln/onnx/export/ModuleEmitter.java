package dev.kiln.onnx.export;

import dev.kiln.compress.fuse.ChannelAffine;
import dev.kiln.compress.fuse.Epilogue;
import dev.kiln.compress.fuse.FusedConv2d;
import dev.kiln.compress.fuse.FusedLinear;
import dev.kiln.compress.quant.QatLayer;
import dev.kiln.compress.quant.QuantizedConv2d;
import dev.kiln.compress.quant.QuantizedLinear;
import dev.kiln.nn.Activation;
import dev.kiln.nn.BatchNorm;
import dev.kiln.nn.Conv2d;
import dev.kiln.nn.Dropout;
import dev.kiln.nn.LayerNorm;
import dev.kiln.nn.Linear;
import dev.kiln.nn.Module;
import dev.kiln.nn.MultiheadAttention;
import dev.kiln.nn.Pool2d;
import dev.kiln.nn.Sequential;
import dev.kiln.nn.TransformerEncoderLayer;
import dev.kiln.ops.Conv2dParams;
import dev.kiln.ops.Pool2dParams;
import dev.kiln.tensor.Tensor;

import java.util.Arrays;
import java.util.List;

import static dev.kiln.onnx.export.OnnxAttr.f;
import static dev.kiln.onnx.export.OnnxAttr.i;
import static dev.kiln.onnx.export.OnnxAttr.ints;

/**
 * Emits the ONNX nodes of one Kiln module (eval semantics) into a {@link GraphBuilder}. Each layer
 * also runs on a probe tensor (the model's input at batch 1), so shapes and ranks are known
 * exactly without shape rules of our own. Initializers are named after the state-dict keys.
 */
final class ModuleEmitter {
    /** A graph value: its name and the Kiln value it has for the probe input. */
    record Emitted(String name, Tensor probe) {
        int rank() { return probe.dim(); }
    }

    private final GraphBuilder g;
    private final int opset;
    private final AttentionEmitter attention;
    private final QdqEmitter qdq;

    ModuleEmitter(GraphBuilder g, int opset) {
        this.g = g;
        this.opset = opset;
        this.attention = new AttentionEmitter(g, this);
        this.qdq = new QdqEmitter(g, this);
    }

    int opset() { return opset; }

    /** Nodes computing m(x); prefix is m's state-dict prefix ("" or "3."). */
    Emitted emit(Module m, String prefix, Emitted x) {
        return switch (m) {
            case Sequential s -> sequential(s, prefix, x);
            case Linear l -> new Emitted(linear(x.name(), x.rank(), l.weight(), l.bias(), prefix), m.forward(x.probe()));
            case Conv2d c -> new Emitted(conv(c.weight(), c.bias(), c.params, prefix, x.name()), m.forward(x.probe()));
            case QuantizedLinear q -> new Emitted(qdq.linear(q, prefix, x.name(), x.rank()), m.forward(x.probe()));
            case QuantizedConv2d q -> new Emitted(qdq.conv(q, prefix, x.name(), x.probe().size(1)), q.forwardFloats(x.probe()));
            case dev.kiln.compress.quant.AbsorbedPool a -> emit(a.pool(), prefix, x);   // the conv before it pools only at run time
            case QatLayer q -> qat(q, prefix, x);
            case FusedLinear f -> new Emitted(epilogue(f.epilogue(), prefix,
                    linear(x.name(), x.rank(), f.weight(), f.bias(), prefix), x.rank()), m.forward(x.probe()));
            case FusedConv2d f -> new Emitted(epilogue(f.epilogue(), prefix,
                    conv(f.weight(), f.bias(), f.params(), prefix, x.name()), x.rank()), m.forward(x.probe()));
            case ChannelAffine a -> new Emitted(epilogue(a.epilogue(), prefix, channelAffine(a, prefix, x), x.rank()), m.forward(x.probe()));
            case BatchNorm b -> new Emitted(batchNorm(b, prefix, x.name()), m.forward(x.probe()));
            case Pool2d p -> new Emitted(pool(p, prefix, x), m.forward(x.probe()));
            case Activation a -> new Emitted(activation(a, prefix, x), m.forward(x.probe()));
            case Dropout d -> x;
            case LayerNorm ln -> new Emitted(layerNorm(ln, prefix, x.name()), m.forward(x.probe()));
            case MultiheadAttention mha -> new Emitted(attention.selfAttention(mha, prefix, x), m.forward(x.probe()));
            case TransformerEncoderLayer t -> new Emitted(attention.encoderLayer(t, prefix, x), m.forward(x.probe()));
            default -> throw new IllegalArgumentException("ONNX export: unsupported module " + m.getClass().getSimpleName()
                    + (prefix.isEmpty() ? "" : " at '" + prefix.substring(0, prefix.length() - 1) + "'"));
        };
    }

    /**
     * A quantization-aware-training layer before conversion: exported as the QDQ graph of the int8
     * layer it converts to, which computes what the QAT layer computes in eval mode (same
     * fake-quantized input and per-channel weights). The layer must have seen training data.
     */
    private Emitted qat(QatLayer q, String prefix, Emitted x) {
        if (q.inputParams() == null)
            throw new IllegalArgumentException("ONNX export: QAT layer" + (prefix.isEmpty() ? "" : " '" + prefix.substring(0, prefix.length() - 1) + "'")
                    + " has no activation range yet (train or run it in training mode first)");
        try (Module converted = q.convert()) {
            return emit(converted, prefix, x);
        }
    }

    private Emitted sequential(Sequential s, String prefix, Emitted x) {
        Emitted h = x;
        for (int k = 0; k < s.size(); k++) h = emit(s.get(k), prefix + k + ".", h);
        return h;
    }

    /**
     * y = x W^T + b: Gemm (transB) for a 2-d input, else MatMul with W^T stored transposed plus Add.
     */
    String linear(String x, int rank, Tensor weight, Tensor bias, String prefix) {
        GraphBuilder.checkFloat(prefix + "weight", weight);
        if (rank == 2) {
            String w = g.initializer(prefix + "weight", weight);
            List<String> in = bias == null ? List.of(x, w) : List.of(x, w, g.initializer(prefix + "bias", bias));
            return g.op("Gemm", prefix + "gemm", in, i("transB", 1));
        }
        String wt;
        try (Tensor t = weight.transpose(0, 1)) {
            wt = g.initializer(prefix + "weight_t", t);
        }
        String y = g.op("MatMul", prefix + "matmul", x, wt);
        return bias == null ? y : g.op("Add", prefix + "add", y, g.initializer(prefix + "bias", bias));
    }

    private String conv(Tensor weight, Tensor bias, Conv2dParams p, String prefix, String x) {
        String w = g.initializer(prefix + "weight", weight);
        List<String> in = bias == null ? List.of(x, w) : List.of(x, w, g.initializer(prefix + "bias", bias));
        return g.op("Conv", prefix + "conv", in, ints("kernel_shape", weight.size(2), weight.size(3)),
                ints("strides", p.strideH(), p.strideW()), ints("pads", p.padH(), p.padW(), p.padH(), p.padW()),
                ints("dilations", p.dilationH(), p.dilationW()), i("group", p.groups()));
    }

    private String batchNorm(BatchNorm b, String prefix, String x) {
        List<String> in = List.of(x, g.initializer(prefix + "weight", b.weight()), g.initializer(prefix + "bias", b.bias()),
                g.initializer(prefix + "running_mean", b.runningMean()), g.initializer(prefix + "running_var", b.runningVar()));
        return g.op("BatchNormalization", prefix + "batchnorm", in, f("epsilon", b.eps()));
    }

    private String pool(Pool2d p, String prefix, Emitted x) {
        int[] adaptive = p.adaptiveOutput();
        if (adaptive != null) return adaptivePool(adaptive, prefix, x);
        Pool2dParams q = p.params();
        boolean max = p.isMax();
        OnnxAttr[] common = {ints("kernel_shape", q.kernelH(), q.kernelW()), ints("strides", q.strideH(), q.strideW()),
                ints("pads", q.padH(), q.padW(), q.padH(), q.padW()), i("ceil_mode", q.ceilMode() ? 1 : 0)};
        if (max) return g.op("MaxPool", prefix + "maxpool", x.name(), common);
        OnnxAttr[] avg = Arrays.copyOf(common, common.length + 1);
        avg[common.length] = i("count_include_pad", q.countIncludePad() ? 1 : 0);
        return g.op("AveragePool", prefix + "avgpool", x.name(), avg);
    }

    /** AdaptiveAvgPool2d: global average for 1x1, a plain AveragePool for bins that divide the input evenly. */
    private String adaptivePool(int[] out, String prefix, Emitted x) {
        int[] s = x.probe().shape();
        int h = s[s.length - 2], w = s[s.length - 1];
        if (out[0] == 1 && out[1] == 1) return g.op("GlobalAveragePool", prefix + "gap", x.name());
        if (h % out[0] != 0 || w % out[1] != 0)
            throw new IllegalArgumentException("ONNX export: AdaptiveAvgPool2d(" + out[0] + ", " + out[1] + ") over " + h + "x" + w
                    + " has uneven bins, which no single ONNX op expresses");
        int kh = h / out[0], kw = w / out[1];
        return g.op("AveragePool", prefix + "avgpool", x.name(), ints("kernel_shape", kh, kw), ints("strides", kh, kw));
    }

    /** x * scale + shift per channel (axis 1), scale and shift shaped to broadcast over the trailing axes. */
    private String channelAffine(ChannelAffine a, String prefix, Emitted x) {
        long[] chan = new long[x.rank() - 1];
        java.util.Arrays.fill(chan, 1);
        chan[0] = a.channels();
        String scaled = g.op("Mul", prefix + "scale_mul", x.name(), g.floatInitializer(prefix + "scale", a.scale().toFloatArray(), chan));
        return g.op("Add", prefix + "shift_add", scaled, g.floatInitializer(prefix + "shift", a.shift().toFloatArray(), chan));
    }

    /** A fused layer's activation as its own nodes (ONNX has no epilogues; runtimes fuse them again). */
    String epilogue(Epilogue e, String prefix, String y, int rank) {
        String kind = switch (e) {
            case NONE -> null;
            case RELU -> "ReLU";
            case GELU -> "GELU";
            case GELU_TANH -> "GELU(tanh)";
            case SILU -> "SiLU";
            case TANH -> "Tanh";
            case SIGMOID -> "Sigmoid";
        };
        return kind == null ? y : activation(kind, prefix + e.id(), y, rank);
    }

    private String activation(Activation a, String prefix, Emitted x) {
        return activation(a.kind(), prefix + a.kind().toLowerCase().replaceAll("[^a-z0-9]", ""), x.name(), x.rank());
    }

    private String activation(String kind, String hint, String in, int rank) {
        if (kind.startsWith("Softmax(dim=") || kind.startsWith("LogSoftmax(dim=")) {
            int dim = Integer.parseInt(kind.substring(kind.indexOf('=') + 1, kind.length() - 1));
            return g.op(kind.startsWith("Log") ? "LogSoftmax" : "Softmax", hint, in, i("axis", dim));
        }
        return switch (kind) {
            case "ReLU" -> g.op("Relu", hint, in);
            case "Tanh" -> g.op("Tanh", hint, in);
            case "Sigmoid" -> g.op("Sigmoid", hint, in);
            case "SiLU" -> g.op("Mul", hint, in, g.op("Sigmoid", hint + "_sigmoid", in));
            case "GELU" -> geluErf(in, hint);
            case "GELU(tanh)" -> geluTanh(in, hint);
            case "Identity" -> g.op("Identity", hint, in);
            case "Flatten" -> rank <= 1 ? g.op("Reshape", hint, in, g.int64s(hint + "_shape", -1))
                    : g.op("Flatten", hint, in, i("axis", 1));
            default -> throw new IllegalArgumentException("ONNX export: unsupported activation " + kind);
        };
    }

    /** gelu(x) = 0.5 x (1 + erf(x / sqrt 2)) (ONNX has no Gelu op before opset 20). */
    String geluErf(String x, String hint) {
        String e = g.op("Erf", hint + "_erf", g.op("Div", hint + "_div", x, g.scalar(hint + "_sqrt2", Math.sqrt(2))));
        String one = g.op("Add", hint + "_1p", e, g.scalar(hint + "_one", 1));
        return g.op("Mul", hint, g.op("Mul", hint + "_xmul", x, one), g.scalar(hint + "_half", 0.5));
    }

    /** gelu_tanh(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
    String geluTanh(String x, String hint) {
        String x3 = g.op("Mul", hint + "_x3", g.op("Mul", hint + "_x2", x, x), x);
        String inner = g.op("Add", hint + "_inner", x, g.op("Mul", hint + "_cx3", x3, g.scalar(hint + "_c", 0.044715)));
        String t = g.op("Tanh", hint + "_tanh", g.op("Mul", hint + "_scaled", inner, g.scalar(hint + "_k", Math.sqrt(2 / Math.PI))));
        String one = g.op("Add", hint + "_1p", t, g.scalar(hint + "_one", 1));
        return g.op("Mul", hint, g.op("Mul", hint + "_xmul", x, one), g.scalar(hint + "_half", 0.5));
    }

    /** LayerNormalization at opset 17; before it, mean / variance / scale written out with ReduceMean. */
    String layerNorm(LayerNorm ln, String prefix, String x) {
        int[] shape = ln.normalizedShape();
        double eps = ln.eps();
        Tensor w = ln.weight(), b = ln.bias();
        String hint = prefix + "layernorm";
        if (opset >= 17) {
            String scale = w != null ? g.initializer(prefix + "weight", w) : g.initializer(prefix + "ones", ones(shape));
            List<String> in = b == null ? List.of(x, scale) : List.of(x, scale, g.initializer(prefix + "bias", b));
            return g.op("LayerNormalization", hint, in, i("axis", -shape.length), f("epsilon", eps));
        }
        long[] axes = new long[shape.length];
        for (int k = 0; k < axes.length; k++) axes[k] = k - axes.length;
        String mean = g.op("ReduceMean", hint + "_mean", x, ints("axes", axes), i("keepdims", 1));
        String d = g.op("Sub", hint + "_centered", x, mean);
        String var = g.op("ReduceMean", hint + "_var", g.op("Mul", hint + "_sq", d, d), ints("axes", axes), i("keepdims", 1));
        String std = g.op("Sqrt", hint + "_std", g.op("Add", hint + "_vareps", var, g.scalar(hint + "_eps", eps)));
        String y = g.op("Div", hint + "_norm", d, std);
        if (w != null) y = g.op("Mul", hint + "_scaled", y, g.initializer(prefix + "weight", w));
        if (b != null) y = g.op("Add", hint, y, g.initializer(prefix + "bias", b));
        return y;
    }

    private static Tensor ones(int[] shape) { return Tensor.ones(shape); }
}
