package dev.kiln.onnx.export;

import dev.kiln.compress.fuse.Epilogue;
import dev.kiln.compress.quant.QParams;
import dev.kiln.compress.quant.QuantizedConv2d;
import dev.kiln.compress.quant.QuantizedLinear;
import dev.kiln.nn.Module;
import dev.kiln.ops.Conv2dParams;
import dev.kiln.tensor.Tensor;

import java.lang.reflect.Field;

/**
 * What the QDQ exporter needs from a {@link QuantizedLinear} / {@link QuantizedConv2d}: int8 weight,
 * its per-channel parameters, the activation parameters (null = dynamic), the float bias and the
 * epilogue. The layers do not expose the bias, the epilogue, or (for conv) the weight parameters
 * publicly yet, so those few are read from their private fields here (same module); once getters
 * exist ({@code bias()}, {@code epilogue()}, {@code QuantizedConv2d.weightParams()}) this class
 * should call them instead.
 */
record QuantLayers(Tensor weightInt8, QParams weightParams, QParams inputParams, float[] bias, Epilogue epilogue,
                   Conv2dParams conv) {

    static QuantLayers of(QuantizedLinear l) {
        return new QuantLayers(l.weightInt8(), l.weightParams(), l.inputParams(), (float[]) field(l, "bias"),
                (Epilogue) field(l, "epilogue"), null);
    }

    static QuantLayers of(QuantizedConv2d c) {
        Object w = field(c, "w");
        return new QuantLayers(c.weightInt8(), (QParams) field(w, "params"), c.inputParams(), (float[]) field(c, "bias"),
                (Epilogue) field(c, "epilogue"), c.params());
    }

    private static Object field(Object owner, String name) {
        try {
            Field f = owner.getClass().getDeclaredField(name);
            f.setAccessible(true);
            return f.get(owner);
        } catch (ReflectiveOperationException | RuntimeException e) {
            String what = owner instanceof Module m ? m.getClass().getSimpleName() : owner.getClass().getSimpleName();
            throw new IllegalStateException("ONNX export: cannot read " + what + "." + name + " (quantized layer layout changed?)", e);
        }
    }
}
