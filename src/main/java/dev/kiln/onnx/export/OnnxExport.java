package dev.kiln.onnx.export;

import dev.kiln.autograd.GradMode;
import dev.kiln.io.AtomicWrite;
import dev.kiln.nn.Module;
import dev.kiln.nn.MultiheadAttention;
import dev.kiln.nn.TransformerEncoderLayer;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Tensor;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Exports a Kiln module to an ONNX model file (ModelProto, IR version 8, default-domain opset
 * 13..17) in eval semantics: Dropout disappears, BatchNorm uses its running statistics.
 * Supported: Sequential of Linear, Conv2d, BatchNorm, Pool2d (max/avg/adaptive avg), activations
 * (ReLU, GELU, SiLU, Tanh, Sigmoid, (Log)Softmax, Flatten, Identity), Dropout, LayerNorm,
 * MultiheadAttention (self-attention), TransformerEncoderLayer, and the int8 layers of
 * {@code dev.kiln.compress.quant} (QuantizedLinear / QuantizedConv2d, written as QDQ: int8 weight
 * initializers with DequantizeLinear, Quantize/DequantizeLinear on their inputs, see
 * {@link QdqEmitter}). Float weights are float32 initializers (raw_data). The graph has one input "input" and one output "output"; their batch
 * axis (axis 0, or axis 1 for sequence-first attention) is the symbolic dim "batch".
 * <pre>
 * OnnxExport.export(Models.cnn(gen), new int[]{1, 1, 28, 28}, Path.of("cnn.onnx"), 17);
 * </pre>
 */
public final class OnnxExport {
    public static final int MIN_OPSET = 13, MAX_OPSET = 17, DEFAULT_OPSET = 17;
    public static final String INPUT = "input", OUTPUT = "output", BATCH = "batch";

    private OnnxExport() {}

    /** Writes the model at the default opset (17). */
    public static void export(Module model, int[] inputShape, Path out) throws IOException {
        export(model, inputShape, out, DEFAULT_OPSET);
    }

    /**
     * Writes the model to out (atomically). inputShape is the full input shape; its batch dim is
     * exported as "batch" (the given size is only a placeholder).
     */
    public static void export(Module model, int[] inputShape, Path out, int opset) throws IOException {
        byte[] bytes = toBytes(model, inputShape, opset);
        AtomicWrite.write(out, ch -> {
            ByteBuffer b = ByteBuffer.wrap(bytes);
            while (b.hasRemaining()) ch.write(b);
        });
    }

    /** The serialized ModelProto. The model's train/eval mode is restored afterwards. */
    public static byte[] toBytes(Module model, int[] inputShape, int opset) {
        if (opset < MIN_OPSET || opset > MAX_OPSET)
            throw new IllegalArgumentException("ONNX export: opset " + opset + " not supported (use " + MIN_OPSET + ".." + MAX_OPSET + ")");
        int batchAxis = batchAxis(model);
        if (inputShape.length <= batchAxis)
            throw new IllegalArgumentException("ONNX export: input shape " + java.util.Arrays.toString(inputShape)
                    + " has no batch axis " + batchAxis);
        boolean wasTraining = model.isTraining();
        model.eval();
        try (GradMode.Guard ng = GradMode.noGrad(); Scope s = Scope.open()) {
            GraphBuilder g = new GraphBuilder();
            g.fresh(OUTPUT); // reserved for the graph output
            int[] probeShape = inputShape.clone();
            probeShape[batchAxis] = 1;
            ModuleEmitter.Emitted in = new ModuleEmitter.Emitted(g.fresh(INPUT), Tensor.zeros(probeShape));
            g.input(in.name(), dims(probeShape, batchAxis));
            ModuleEmitter.Emitted y = new ModuleEmitter(g, opset).emit(model, "", in);
            String outName = y.name().equals(in.name()) ? g.op("Identity", "identity", in.name()) : y.name();
            renameOutput(g, outName);
            g.output(OUTPUT, dims(y.probe().shape(), batchAxis));
            return ModelEncoder.encode(g, model.getClass().getSimpleName(), opset, "0.1.0");
        } finally {
            model.setTraining(wasTraining);
        }
    }

    /** Sequence-first attention layers ([L, B, E]) batch on axis 1; everything else on axis 0. */
    private static int batchAxis(Module m) {
        return switch (m) {
            case MultiheadAttention a -> a.batchFirst ? 0 : 1;
            case TransformerEncoderLayer t -> ((MultiheadAttention) t.children().get("self_attn")).batchFirst ? 0 : 1;
            default -> 0;
        };
    }

    private static List<Object> dims(int[] shape, int batchAxis) {
        List<Object> d = new ArrayList<>();
        for (int k = 0; k < shape.length; k++) d.add(k == batchAxis ? (Object) BATCH : (Object) (long) shape[k]);
        return d;
    }

    /** Gives the last node's output the graph output name "output". */
    private static void renameOutput(GraphBuilder g, String from) {
        for (int k = g.nodes.size() - 1; k >= 0; k--) {
            GraphBuilder.Node n = g.nodes.get(k);
            int at = n.outputs().indexOf(from);
            if (at < 0) continue;
            List<String> outs = new ArrayList<>(n.outputs());
            outs.set(at, OUTPUT);
            g.nodes.set(k, new GraphBuilder.Node(n.opType(), n.name(), n.inputs(), List.copyOf(outs), n.attrs()));
            return;
        }
        throw new IllegalStateException("ONNX export: no node produces " + from);
    }
}
