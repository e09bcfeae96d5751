package dev.kiln.optable;

import dev.kiln.autograd.GradCheck;
import dev.kiln.onnx.ops.OpRegistry;
import dev.kiln.ops.BinaryOp;
import dev.kiln.ops.Elementwise;
import dev.kiln.ops.UnaryOp;
import dev.kiln.savedmodel.TfImporter;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Tensor;
import dev.kiln.torchscript.interp.Interpreter;
import org.junit.jupiter.api.Test;

import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The op table's completeness: every engine op has a CPU kernel (vector or its reference), a CUDA
 * kernel for F32 and F64 in kernels/elementwise.cu, a gradient that matches finite differences,
 * and is reachable under each importer name it declares; no unary CUDA kernel is without its op.
 * The kernels' values against the float64 reference are ElementwiseTest's (CPU, every op, views,
 * vector and scalar paths) and CudaBackendGpuTest's (GPU).
 */
class OpTableTest {
    @Test
    void everyOpHasACpuAndACudaKernelPerFloatDtype() {
        for (OpTable.Row r : OpTable.rows()) {
            if (r.family().equals("reduction")) {
                assertEquals("kernel (CpuReduce)", r.cpuF32(), r.op());
                continue;
            }
            if (r.family().equals("backend op")) {
                assertEquals("kernel (CpuBackend)", r.cpuF32(), r.op() + ": every Backend method has a CPU kernel");
                assertNotEquals("-", r.cudaF32(), r.op() + ": CUDA neither implements it nor marks it not implemented");
                continue;
            }
            assertTrue(List.of("vector", "reference").contains(r.cpuF32()), r.op() + " cpu f32: " + r.cpuF32());
            assertTrue(List.of("vector", "reference").contains(r.cpuF64()), r.op() + " cpu f64: " + r.cpuF64());
            assertEquals("kiln_" + r.op() + "_f32", r.cudaF32(), r.op() + ": no CUDA f32 kernel (and its _strided twin) in elementwise.cu");
            assertEquals("kiln_" + r.op() + "_f64", r.cudaF64(), r.op() + ": no CUDA f64 kernel (and its _strided twin) in elementwise.cu");
        }
        long elementwise = OpTable.rows().stream().filter(r -> r.family().contains("elementwise") || r.family().equals("comparison")).count();
        assertEquals(UnaryOp.values().length + BinaryOp.values().length, elementwise);
        assertEquals(dev.kiln.ops.ReduceOp.values().length, OpTable.rows().stream().filter(r -> r.family().equals("reduction")).count());
        assertTrue(OpTable.rows().stream().anyMatch(r -> r.op().equals("conv2d") && r.cudaF32().equals("not implemented")));
        assertTrue(OpTable.rows().stream().anyMatch(r -> r.op().equals("gemm") && r.cudaF32().equals("kernel (CudaBackend)")));
    }

    @Test
    void noElementwiseCudaKernelWithoutItsOp() {
        Set<String> expected = new HashSet<>();
        for (Enum<?> op : ops())
            for (String dt : new String[] {"f32", "f64"})
                for (String tail : new String[] {"", "_strided"}) expected.add("kiln_" + OpTable.name(op) + "_" + dt + tail);
        Set<String> defined = OpTable.cudaKernels();
        assertTrue(defined.size() >= 4 * (UnaryOp.values().length + BinaryOp.values().length), "the kernel scan found " + defined.size());
        for (String k : defined) assertTrue(expected.contains(k), k + " is defined in elementwise.cu but no UnaryOp / BinaryOp launches it");
    }

    private static List<Enum<?>> ops() {
        List<Enum<?>> ops = new java.util.ArrayList<>(List.of(UnaryOp.values()));
        ops.addAll(List.of(BinaryOp.values()));
        return ops;
    }

    @Test
    void everyImporterNameReachesItsOp() {
        OpRegistry onnx = OpRegistry.standard();
        Set<String> torch = Interpreter.builtins(), tf = TfImporter.supportedOps();
        for (UnaryOp op : UnaryOp.values()) {
            UnaryOp.Names n = op.names();
            if (n.onnx() != null) {
                assertTrue(onnx.has("", n.onnx()), op + ": ONNX " + n.onnx() + " not registered");
                assertEquals(op, UnaryOp.ofOnnx(n.onnx()));
            }
            for (String t : n.torchscript()) {
                assertTrue(torch.contains("torch." + t) && torch.contains("ops.aten." + t), op + ": TorchScript " + t + " not registered");
            }
            for (String t : n.tensorflow()) {
                assertTrue(tf.contains(t), op + ": TensorFlow " + t + " not lowered");
                assertNotNull(n.onnx(), op + ": TensorFlow names lower through the op's ONNX name");
            }
        }
        for (BinaryOp op : BinaryOp.values()) {
            for (String n : op.onnxNames()) assertTrue(onnx.has("", n), op + ": ONNX " + n + " not registered");
            for (String t : op.names().torchscript())
                assertTrue(torch.contains("torch." + t) && torch.contains("ops.aten." + t), op + ": TorchScript " + t + " not registered");
            for (String t : op.names().tensorflow()) assertTrue(tf.contains(t), op + ": TensorFlow " + t + " not lowered");
        }
        int mapped = 0;
        for (OpTable.ImporterOp o : OpTable.importerOps()) {
            if (o.engineOp() == null) continue;
            mapped++;
            String n = o.engineOp().toUpperCase();
            assertTrue(ops().stream().anyMatch(op -> op.name().equals(n)) || java.util.Arrays.stream(dev.kiln.ops.ReduceOp.values())
                    .anyMatch(op -> op.name().equals(n)), o.toString());
        }
        assertTrue(mapped > 50, "importer names mapped to engine ops: " + mapped);
    }

    @Test
    void everyBinaryGradientMatchesFiniteDifferencesWithBroadcasting() {
        Generator gen = new Generator(19);
        for (BinaryOp op : BinaryOp.values()) {
            if (!op.hasGradient()) continue;
            boolean positive = op == BinaryOp.POW || op == BinaryOp.DIV;
            Tensor a = positive ? Tensor.uniform(gen, 0.5, 2, DType.F64, 3, 4) : Tensor.uniform(gen, -2, 2, DType.F64, 3, 4);
            Tensor b = positive ? Tensor.uniform(gen, 0.5, 2, DType.F64, 4) : Tensor.uniform(gen, -2, 2, DType.F64, 4);
            GradCheck.check(OpTable.name(op), in -> Elementwise.binary(op, in[0], in[1]), a, b);
        }
    }

    @Test
    void everyReductionGradientMatchesFiniteDifferences() {
        Generator gen = new Generator(20);
        for (dev.kiln.ops.ReduceOp op : dev.kiln.ops.ReduceOp.values()) {
            if (!op.hasGradient()) continue;
            boolean positive = op == dev.kiln.ops.ReduceOp.PROD;
            Tensor x = positive ? Tensor.uniform(gen, 0.5, 2, DType.F64, 3, 4) : Tensor.uniform(gen, -2, 2, DType.F64, 3, 4);
            GradCheck.check(OpTable.name(op), in -> dev.kiln.ops.Reductions.reduce(op, in[0], new int[] {1}, false, 1), x);
        }
        OpRegistry onnx = OpRegistry.standard();
        Set<String> torch = Interpreter.builtins(), tf = TfImporter.supportedOps();
        for (dev.kiln.ops.ReduceOp op : dev.kiln.ops.ReduceOp.values()) {
            if (op.names().onnx() != null) assertTrue(onnx.has("", op.names().onnx()), op + ": ONNX " + op.names().onnx());
            for (String t : op.names().torchscript()) assertTrue(torch.contains("torch." + t), op + ": TorchScript " + t);
            for (String t : op.names().tensorflow()) assertTrue(tf.contains(t), op + ": TensorFlow " + t);
        }
    }

    @Test
    void referencesAndIntegerRules() {
        for (BinaryOp op : BinaryOp.values()) {
            double r = op.reference(3, 2);
            if (op.definedOnInts()) assertEquals(r, op.onInt(3, 2), op.toString());
            else assertThrows(IllegalArgumentException.class, () -> op.onInt(3, 2));
            if (op.isComparison()) assertTrue(r == 0 || r == 1, op.toString());
        }
        assertEquals(9.0, BinaryOp.POW.reference(3, 2));
        assertEquals(1.5, BinaryOp.DIV.reference(3, 2));
    }

    @Test
    void everyGradientMatchesFiniteDifferences() {
        Generator gen = new Generator(18);
        for (UnaryOp op : UnaryOp.values()) {
            double a = op == UnaryOp.CLAMP ? -0.7 : 2.5, b = 0.9;
            boolean positive = switch (op) {
                case LOG, SQRT, RSQRT, RECIPROCAL, POW_SCALAR -> true;
                default -> false;
            };
            Tensor x = positive ? Tensor.uniform(gen, 0.5, 2, DType.F64, 3, 5) : Tensor.uniform(gen, -2, 2, DType.F64, 3, 5);
            GradCheck.check(OpTable.name(op), in -> Elementwise.unary(op, in[0], a, b), x);
        }
    }
}
