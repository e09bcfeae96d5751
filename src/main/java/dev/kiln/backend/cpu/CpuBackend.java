package dev.kiln.backend.cpu;

import dev.kiln.backend.Backend;
import dev.kiln.ops.BinaryOp;
import dev.kiln.ops.Conv2dParams;
import dev.kiln.ops.Pool2dParams;
import dev.kiln.ops.PoolOp;
import dev.kiln.ops.ReduceOp;
import dev.kiln.ops.UnaryOp;
import dev.kiln.tensor.Storage;
import dev.kiln.tensor.Tensor;

/** The CPU backend: off-heap host memory and Vector API kernels (see {@link CpuConfig}). */
public final class CpuBackend implements Backend {
    @Override public String name() { return "cpu"; }

    @Override public Storage allocate(long bytes) { return Storage.allocateHost(this, bytes); }

    @Override public void copy(Tensor src, Tensor dst) { CpuCopy.copy(src, dst); }

    @Override public void unary(UnaryOp op, Tensor x, Tensor out, double a, double b) { CpuElementwise.unary(op, x, out, a, b); }

    @Override public void binary(BinaryOp op, Tensor a, Tensor b, Tensor out) { CpuElementwise.binary(op, a, b, out); }

    @Override public void where(Tensor cond, Tensor a, Tensor b, Tensor out) { CpuElementwise.where(cond, a, b, out); }

    @Override public void reduce(ReduceOp op, Tensor x, int[] axes, Tensor out, double param) { CpuReduce.reduce(op, x, axes, out, param); }

    @Override public void softmax(Tensor x, int axis, boolean log, Tensor out) { CpuReduce.softmax(x, axis, log, out); }

    @Override public void layerNorm(Tensor x, Tensor w, Tensor b, int normalizedDims, double eps, Tensor out) {
        CpuReduce.layerNorm(x, w, b, normalizedDims, eps, out);
    }

    @Override public void gemm(boolean transA, boolean transB, double alpha, Tensor a, Tensor b, double beta, Tensor c) {
        CpuGemm.gemm(transA, transB, alpha, a, b, beta, c);
    }

    @Override public void conv2d(Tensor x, Tensor w, Tensor bias, Conv2dParams p, Tensor out) { CpuConv.conv2d(x, w, bias, p, out); }

    @Override public void gather(Tensor x, int axis, Tensor index, Tensor out) { CpuIndex.gather(x, axis, index, out); }

    @Override public void scatterAdd(Tensor dst, int axis, Tensor index, Tensor src) { CpuIndex.scatterAdd(dst, axis, index, src); }

    @Override public void sgdStep(Tensor p, Tensor g, Tensor buf, double lr, double momentum, double dampening,
                                  double wd, boolean nesterov, boolean first) {
        CpuOptim.sgd(p, g, buf, lr, momentum, dampening, wd, nesterov, first);
    }

    @Override public void adamStep(Tensor p, Tensor g, Tensor m, Tensor v, double lr, double b1, double b2, double eps,
                                   double wd, boolean decoupled, long step) {
        CpuOptim.adam(p, g, m, v, lr, b1, b2, eps, wd, decoupled, step);
    }

    @Override public void pool2d(PoolOp op, Tensor x, Pool2dParams p, Tensor out, Tensor indices) { CpuConv.pool2d(op, x, p, out, indices); }
}
