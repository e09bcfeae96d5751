package dev.kiln.nn;

import dev.kiln.tensor.DType;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Tensor;
import dev.kiln.train.Models;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ModuleTest {
    private Scope scope;

    @BeforeEach void open() { scope = Scope.open(); }
    @AfterEach void close() { scope.close(); }

    @Test void stateDictNamesMatchPyTorch() {
        assertEquals(List.of("1.weight", "1.bias", "3.weight", "3.bias", "5.weight", "5.bias"),
                List.copyOf(Models.mlp(new Generator(0)).stateDict().keySet()));
        assertEquals(List.of("0.weight", "0.bias", "3.weight", "3.bias", "7.weight", "7.bias", "9.weight", "9.bias"),
                List.copyOf(Models.cnn(new Generator(0)).stateDict().keySet()));
        assertEquals(List.of("weight", "bias", "running_mean", "running_var", "num_batches_tracked"),
                List.copyOf(BatchNorm.batchNorm2d(3).stateDict().keySet()));
        assertEquals(206_922, Models.cnn(new Generator(0)).parameterCount());
    }

    @Test void defaultInitBoundsFollowPyTorch() {
        Linear l = new Linear(100, 50, true, new Generator(1));
        double bound = 1 / Math.sqrt(100);
        for (float v : l.weight().toFloatArray()) assertTrue(Math.abs(v) <= bound);
        assertTrue(l.weight().abs().max().item() > 0.9 * bound, "uniform fills the range");
    }

    @Test void dropoutScalesInTrainingAndIsIdentityInEval() {
        Dropout d = new Dropout(0.25, new Generator(3));
        Tensor x = Tensor.ones(100_000);
        float[] y = d.forward(x).toFloatArray();
        int zeros = 0;
        double sum = 0;
        for (float v : y) {
            if (v == 0) zeros++;
            else assertEquals(1 / 0.75, v, 1e-6);
            sum += v;
        }
        assertEquals(0.25, zeros / 100_000.0, 0.01);
        assertEquals(1.0, sum / 100_000, 0.02);
        d.eval();
        assertEquals(100_000.0, d.forward(x).sum().item(), 0.0);
    }

    @Test void batchNormEvalUsesRunningStatistics() {
        BatchNorm bn = BatchNorm.batchNorm1d(2);
        Tensor x = Tensor.fromArray(new float[]{1, 10, 3, 20, 5, 30}, 3, 2);
        bn.forward(x);
        // running_mean = 0.9*0 + 0.1*mean, running_var = 0.9*1 + 0.1*unbiased var
        assertEquals(0.3, bn.runningMean().getDouble(0), 1e-6);
        assertEquals(0.9 + 0.1 * 4, bn.runningVar().getDouble(0), 1e-6);
        bn.eval();
        double y = bn.forward(x).getDouble(0, 0);
        assertEquals((1 - 0.3) / Math.sqrt(1.3 + 1e-5), y, 1e-5);
    }

    @Test void trainEvalReachesChildren() {
        Sequential s = new Sequential(new Linear(2, 2), new Sequential(new Dropout(0.5)));
        s.eval();
        assertFalse(s.get(1).isTraining());
        assertFalse(((Sequential) s.get(1)).get(0).isTraining());
    }

    @Test void loadStateDictReportsMissingUnexpectedAndShapes() {
        Linear l = new Linear(3, 2, true, new Generator(0));
        var e = assertThrows(IllegalArgumentException.class, () -> l.loadStateDict(Map.of("weight", Tensor.zeros(2, 3), "extra", Tensor.zeros(1)), true));
        assertTrue(e.getMessage().contains("missing keys [bias]") && e.getMessage().contains("unexpected keys [extra]"), e.getMessage());
        var s = assertThrows(IllegalArgumentException.class, () -> l.loadStateDict(Map.of("weight", Tensor.zeros(3, 2)), false));
        assertTrue(s.getMessage().contains("weight has shape [3, 2]"), s.getMessage());
    }

    @Test void noGradAndDetachRecordNothing() {
        Tensor w = Tensor.ones(3).requiresGrad(true);
        try (var g = dev.kiln.autograd.GradMode.noGrad()) {
            assertFalse(w.mul(2.0).requiresGrad());
        }
        assertFalse(w.detach().mul(2.0).requiresGrad());
        assertTrue(w.mul(2.0).requiresGrad());
        Tensor y = w.mul(w).sum();
        y.backward();
        assertEquals(2.0, w.grad().getDouble(1), 0);
        w.mul(w).sum().backward();
        assertEquals(4.0, w.grad().getDouble(1), 0, "gradients accumulate");
        assertThrows(IllegalArgumentException.class, () -> Tensor.zeros(DType.I64, 2).requiresGrad(true));
    }
}
