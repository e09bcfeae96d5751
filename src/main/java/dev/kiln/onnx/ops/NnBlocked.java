package dev.kiln.onnx.ops;

import dev.kiln.backend.cpu.ConvBlocked;
import dev.kiln.onnx.Value;
import dev.kiln.tensor.Tensor;

import java.util.List;

/**
 * The channel-blocked (NCHW16c) nodes that the importer's layout pass (dev.kiln.onnx.BlockedLayout)
 * writes in domain dev.kiln; their tensors are [N, C/16, H, W, 16] (see {@link ConvBlocked}):
 * <ul>
 *   <li>"ConvNchwc"(x, W, B or "", residual or "" [, fq scale, fq zero point]; strides, pads
 *       (symmetric), relu [, fq_to]): x blocked or planar NCHW, output blocked; with the fq inputs
 *       the output is fake-quantized as the FakeQuant it took in;</li>
 *   <li>"MaxPoolNchwc"(x; kernel_shape, strides, pads): blocked to blocked;</li>
 *   <li>"GlobalAveragePoolNchwc"(x): blocked to planar [N, C, 1, 1];</li>
 *   <li>"ToNchwc"(x) and "ToNchw"(x): the reorders where a blocked chain meets other ops.</li>
 * </ul>
 * Relu and Add run unchanged on blocked tensors (elementwise on equal shapes).
 */
final class NnBlocked {
    private NnBlocked() {}

    static void register(OpRegistry r) {
        r.register("dev.kiln", "ConvNchwc", NnBlocked::conv);
        r.register("dev.kiln", "MaxPoolNchwc", NnBlocked::maxPool);
        r.register("dev.kiln", "GlobalAveragePoolNchwc", call -> out(call, ConvBlocked.globalAveragePool(call.in(0))));
        r.register("dev.kiln", "ToNchwc", call -> out(call, ConvBlocked.toBlocked(call.in(0))));
        r.register("dev.kiln", "ToNchw", call -> out(call, ConvBlocked.toPlanar(call.in(0))));
    }

    private static List<Value> out(OpCall call, Tensor t) { return List.of(Value.of(t, call.type(0))); }

    private static List<Value> conv(OpCall call) {
        int[] s = call.attrIntArray("strides", new int[]{1, 1}), p = call.attrIntArray("pads", new int[]{0, 0, 0, 0});
        try {
            return out(call, ConvBlocked.conv(call.in(0), call.in(1), call.inOrNull(2), s[0], s[1], p[0], p[1],
                    call.inOrNull(3), call.attrInt("relu", 0) != 0, fakeQuant(call)));
        } catch (IllegalArgumentException e) {
            throw call.error(e.getMessage());
        }
    }

    /** The fused FakeQuant of a ConvNchwc (inputs 4 and 5: its scale and zero point; attribute fq_to: the code type), or null. */
    private static ConvBlocked.FakeQuant fakeQuant(OpCall call) {
        if (!call.has(4)) return null;
        dev.kiln.onnx.ElemType to = dev.kiln.onnx.ElemType.fromCode((int) call.attrInt("fq_to", dev.kiln.onnx.ElemType.UINT8.code()));
        return new ConvBlocked.FakeQuant((float) call.in(4).item(), call.has(5) ? (float) call.in(5).item() : 0f, (float) to.minValue(), (float) to.maxValue());
    }

    private static List<Value> maxPool(OpCall call) {
        int[] k = call.attrIntArray("kernel_shape", null), s = call.attrIntArray("strides", new int[]{1, 1}),
                p = call.attrIntArray("pads", new int[]{0, 0, 0, 0});
        try {
            return out(call, ConvBlocked.maxPool(call.in(0), k[0], k[1], s[0], s[1], p[0], p[1]));
        } catch (IllegalArgumentException e) {
            throw call.error(e.getMessage());
        }
    }
}
