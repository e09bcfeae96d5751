package dev.kiln.compress.quant;

import dev.kiln.compress.fuse.Epilogue;
import dev.kiln.nn.Module;
import dev.kiln.ops.Conv2dParams;
import dev.kiln.tensor.Tensor;

/**
 * A Linear or Conv2d prepared for quantization-aware training: its input goes through
 * {@link FakeQuant} with per-tensor asymmetric parameters from a moving-average observer (updated
 * in training mode, frozen in eval mode), its weight through {@link FakeQuant} with per-channel
 * symmetric parameters recomputed from the current weight, both with straight-through gradients.
 * {@link #convert} gives the int8 layer computing the same function as this layer in eval mode.
 */
public final class QatLayer extends Module {
    private final Tensor weight, bias;
    private final Conv2dParams conv; // null for Linear
    private final Epilogue epilogue;
    private final Observer observer = new Observers.MovingAverage(0.01);
    private boolean observed;

    public QatLayer(Tensor weight, Tensor bias, Conv2dParams conv, Epilogue epilogue) {
        this.weight = registerParameter("weight", weight);
        this.bias = bias == null ? null : registerParameter("bias", bias);
        this.conv = conv;
        this.epilogue = epilogue == null ? Epilogue.NONE : epilogue;
    }

    public Tensor weight() { return weight; }

    /** The activation parameters learned so far (null before any training batch). */
    public QParams inputParams() { return observed ? observer.qparams(false) : null; }

    @Override
    public Tensor forward(Tensor x) {
        if (isTraining() || !observed) { observer.observe(x); observed = true; }
        Tensor xq = FakeQuant.apply(x, observer.qparams(false));
        Tensor wq = FakeQuant.apply(weight, weightParams());
        Tensor y = conv == null ? dev.kiln.ops.Linear.linear(xq, wq, bias) : xq.conv2d(wq, bias, conv);
        return epilogue.finish(y);
    }

    /** Per-output-channel symmetric parameters of the current weight (axis 0, any rank). */
    private QParams weightParams() { return QParams.symmetricPerChannel(weight, 0); }

    /** The int8 inference layer with this layer's weights and calibrated input parameters. */
    public Module convert() {
        QParams act = inputParams();
        return conv == null ? new QuantizedLinear(weight.detach(), bias == null ? null : bias.detach(), epilogue, act)
                : new QuantizedConv2d(weight.detach(), bias == null ? null : bias.detach(), conv, epilogue, act);
    }
}
