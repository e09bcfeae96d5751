package dev.kiln.onnx.export;

import dev.kiln.compress.quant.QParams;
import dev.kiln.compress.quant.QuantizedConv2d;
import dev.kiln.compress.quant.QuantizedLinear;
import dev.kiln.ops.Conv2dParams;
import dev.kiln.tensor.Tensor;

import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.List;

import static dev.kiln.onnx.export.OnnxAttr.i;
import static dev.kiln.onnx.export.OnnxAttr.ints;

/**
 * Emits Kiln's int8 layers as QDQ ("quantize-dequantize") ONNX, the form ONNX Runtime and other
 * runtimes recognise and fuse back into integer kernels:
 * <pre>
 * x -> QuantizeLinear(s_x, z_x int8) -> DequantizeLinear --+
 * W int8 -> DequantizeLinear(s_w[O], z_w = 0, axis 0) -----+-> Gemm / MatMul+Add / Conv -> epilogue
 * </pre>
 * Static layers quantize the activation with their calibrated per-tensor parameters, stored as an
 * int8 zero point exactly as Kiln holds them (Kiln's asymmetric int8 is uint8 shifted by 128, see
 * {@link QParams}). Dynamic layers use {@code DynamicQuantizeLinear} (uint8, the batch's min/max
 * widened to include 0, scale (max - min) / 255), which is the same scheme Kiln's dynamic layers
 * compute, so the exported graph keeps their semantics. Bias and epilogue stay float.
 */
final class QdqEmitter {
    private final GraphBuilder g;
    private final ModuleEmitter emitter;

    QdqEmitter(GraphBuilder g, ModuleEmitter emitter) {
        this.g = g;
        this.emitter = emitter;
    }

    /** A QuantizedLinear: Gemm (transB) for 2-d inputs, else Transpose + MatMul + Add. */
    String linear(QuantizedLinear l, String prefix, String x, int rank) {
        QuantLayers q = QuantLayers.of(l);
        String xd = activation(q.inputParams(), prefix, x);
        String w = weight(q, prefix, l.weightInt8().shape());
        String y;
        if (rank == 2) {
            List<String> in = q.bias() == null ? List.of(xd, w) : List.of(xd, w, bias(q, prefix));
            y = g.op("Gemm", prefix + "gemm", in, i("transB", 1));
        } else {
            String wt = g.op("Transpose", prefix + "weight_t", w, ints("perm", 1, 0));
            y = g.op("MatMul", prefix + "matmul", xd, wt);
            if (q.bias() != null) y = g.op("Add", prefix + "add", y, bias(q, prefix));
        }
        return emitter.epilogue(q.epilogue(), prefix, y, rank);
    }

    /** A QuantizedConv2d: the [O, C*kh*kw] int8 weight is stored as [O, C, kh, kw]. */
    String conv(QuantizedConv2d c, String prefix, String x, int inChannels) {
        QuantLayers q = QuantLayers.of(c);
        int[] ws = c.weightInt8().shape();
        Conv2dParams p = q.conv();
        int kh = c.kernelH(), kw = c.kernelW();
        String xd = activation(q.inputParams(), prefix, x);
        String w = weight(q, prefix, new int[]{ws[0], inChannels, kh, kw});
        List<String> in = q.bias() == null ? List.of(xd, w) : List.of(xd, w, bias(q, prefix));
        String y = g.op("Conv", prefix + "conv", in, ints("kernel_shape", kh, kw),
                ints("strides", p.strideH(), p.strideW()), ints("pads", p.padH(), p.padW(), p.padH(), p.padW()),
                ints("dilations", p.dilationH(), p.dilationW()), i("group", 1));
        return emitter.epilogue(q.epilogue(), prefix, y, 4);
    }

    /** x quantized and dequantized with static per-tensor parameters, or dynamically when act is null. */
    private String activation(QParams act, String prefix, String x) {
        if (act == null) {
            String dq = g.fresh(prefix + "input_q");
            String scale = g.fresh(prefix + "input_scale"), zero = g.fresh(prefix + "input_zero");
            g.nodes.add(new GraphBuilder.Node("DynamicQuantizeLinear", g.fresh("n:" + dq), List.of(x), List.of(dq, scale, zero), List.of()));
            return g.op("DequantizeLinear", prefix + "input_dq", List.of(dq, scale, zero));
        }
        if (act.perChannel()) throw new IllegalArgumentException("ONNX export: per-channel activation parameters at '" + prefix + "'");
        String scale = g.scalar(prefix + "input_scale", act.scale0());
        String zero = g.int8s(prefix + "input_zero", new byte[]{(byte) act.zero0()});
        String q = g.op("QuantizeLinear", prefix + "input_q", List.of(x, scale, zero));
        return g.op("DequantizeLinear", prefix + "input_dq", List.of(q, scale, zero));
    }

    /** The int8 weight initializer (given shape) dequantized per output channel (axis 0, zero points 0). */
    private String weight(QuantLayers q, String prefix, int[] shape) {
        QParams wp = q.weightParams();
        if (wp.axis() != 0 || !wp.symmetric())
            throw new IllegalArgumentException("ONNX export: expected symmetric per-output-channel weights at '" + prefix + "', got " + wp);
        long[] dims = Arrays.stream(shape).asLongStream().toArray();
        String wq = g.int8s(prefix + "weight_int8", bytes(q.weightInt8()), dims);
        String scale = g.floatInitializer(prefix + "weight_scale", wp.scale().clone(), wp.scale().length);
        String zero = g.int8s(prefix + "weight_zero", new byte[wp.scale().length], wp.scale().length);
        return g.op("DequantizeLinear", prefix + "weight_dq", List.of(wq, scale, zero), i("axis", 0));
    }

    private String bias(QuantLayers q, String prefix) {
        return g.floatInitializer(prefix + "bias", q.bias().clone(), q.bias().length);
    }

    private static byte[] bytes(Tensor q) {
        Tensor c = q.isContiguous() ? q : q.contiguous();
        byte[] b = c.segment().asSlice(c.offset(), c.numel()).toArray(ValueLayout.JAVA_BYTE);
        if (c != q) c.close();
        return b;
    }
}
