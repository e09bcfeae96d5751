package dev.kiln.compress.fuse;

import dev.kiln.nn.Module;
import dev.kiln.tensor.Shape;
import dev.kiln.tensor.Tensor;

/**
 * y = x * scale + shift per channel (dim 1), then an optional epilogue: what an eval-mode
 * BatchNorm becomes when there is no preceding Conv2d/Linear to fold it into (e.g. a BatchNorm on
 * the network input). scale = gamma / sqrt(var + eps), shift = beta - mean * scale.
 */
public final class ChannelAffine extends Module {
    private final Tensor scale, shift;
    private final Epilogue epilogue;

    /** Takes ownership of scale [C] and shift [C]. */
    public ChannelAffine(Tensor scale, Tensor shift, Epilogue epilogue) {
        if (scale.dim() != 1 || !java.util.Arrays.equals(scale.shape(), shift.shape()))
            throw new IllegalArgumentException("ChannelAffine: scale " + Shape.str(scale.shape()) + " and shift " + Shape.str(shift.shape())
                    + " must both be [C]");
        this.scale = registerParameter("scale", scale).requiresGrad(false);
        this.shift = registerParameter("shift", shift).requiresGrad(false);
        this.epilogue = epilogue;
    }

    public int channels() { return scale.size(0); }
    public Tensor scale() { return scale; }
    public Tensor shift() { return shift; }
    public Epilogue epilogue() { return epilogue; }

    @Override
    public Tensor forward(Tensor x) {
        if (x.dim() < 2 || x.size(1) != channels())
            throw new IllegalArgumentException("ChannelAffine(" + channels() + "): bad input shape " + Shape.str(x.shape()));
        int[] chan = new int[x.dim()];
        java.util.Arrays.fill(chan, 1);
        chan[1] = channels();
        return epilogue.finish(x.mul(scale.reshape(chan)).add(shift.reshape(chan)));
    }

    @Override protected String extraRepr() { return channels() + ", epilogue=" + epilogue.id(); }
}
