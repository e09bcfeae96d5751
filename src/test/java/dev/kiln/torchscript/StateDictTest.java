package dev.kiln.torchscript;

import dev.kiln.io.Npz;
import dev.kiln.nn.Activation;
import dev.kiln.nn.BatchNorm;
import dev.kiln.nn.Linear;
import dev.kiln.nn.Sequential;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Storage;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static dev.kiln.torchscript.TorchArchiveTest.fixture;
import static org.junit.jupiter.api.Assertions.*;

/** torch.save(model.state_dict()) files loaded into Kiln modules give PyTorch's outputs. */
class StateDictTest {
    static Sequential mlp() {
        Generator g = new Generator(3);
        return new Sequential(new Linear(5, 8, true, g), BatchNorm.batchNorm1d(8), Activation.relu(), new Linear(8, 3, true, g));
    }

    static final List<String> KEYS = List.of("0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var",
            "1.num_batches_tracked", "3.weight", "3.bias");

    @Test
    void mlpMatchesPyTorch() throws Exception {
        Map<String, Tensor> sd = StateDict.load(fixture("mlp_state.pt"));
        assertEquals(KEYS, List.copyOf(sd.keySet()));
        assertEquals(DType.I64, sd.get("1.num_batches_tracked").dtype());
        assertEquals(3, sd.get("1.num_batches_tracked").getLong());
        Map<String, Tensor> io = Npz.read(fixture("mlp_io.npz"));
        try (Sequential m = mlp()) {
            StateDict.loadInto(m, sd, true);
            m.eval();
            try (Tensor y = m.forward(io.get("x"))) {
                float[] got = y.toFloatArray(), want = io.get("y").toFloatArray();
                assertEquals(want.length, got.length);
                for (int i = 0; i < want.length; i++) assertEquals(want[i], got[i], 1e-5 + 1e-5 * Math.abs(want[i]), "y[" + i + "]");
            }
            assertEquals(3, m.stateDict().get("1.num_batches_tracked").getLong());
        }
        sd.values().forEach(Tensor::close);
        io.values().forEach(Tensor::close);
    }

    @Test
    void checkpointFlattensAndFreesWhatItSkips() throws Exception {
        long before = Storage.liveCountIgnoringCleaner();
        Map<String, Tensor> sd = StateDict.load(fixture("checkpoint.pt"));
        assertEquals(KEYS.stream().map(k -> "model." + k).toList(), List.copyOf(sd.keySet()), "epoch and int-keyed optimizer state skipped");
        sd.values().forEach(Tensor::close);
        assertEquals(before, Storage.liveCountIgnoringCleaner(), "the skipped optimizer tensor was freed too");
    }

    @Test
    void strictErrorsNameKeysAndShapes() throws Exception {
        Map<String, Tensor> sd = StateDict.load(fixture("mlp_state.pt"));
        try (Sequential m = mlp()) {
            Map<String, Tensor> partial = new LinkedHashMap<>(sd);
            partial.remove("3.bias");
            partial.remove("1.num_batches_tracked"); // older checkpoints lack it: never "missing"
            partial.put("extra.weight", sd.get("0.bias"));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> StateDict.loadInto(m, partial, true));
            assertEquals("load_state_dict into Sequential: missing keys [3.bias], unexpected keys [extra.weight]", e.getMessage());
            StateDict.loadInto(m, partial, false); // non-strict copies what matches
            assertArrayEquals(sd.get("0.weight").toFloatArray(), m.stateDict().get("0.weight").toFloatArray());

            Map<String, Tensor> wrong = new LinkedHashMap<>(sd);
            wrong.put("0.weight", sd.get("3.weight"));
            e = assertThrows(IllegalArgumentException.class, () -> StateDict.loadInto(m, wrong, false));
            assertTrue(e.getMessage().contains("0.weight is [3, 8] in the state dict but [8, 5] in the model"), e.getMessage());
        }
        sd.values().forEach(Tensor::close);
    }

    @Test
    void scriptedModuleTensorsByDottedName() throws Exception {
        Map<String, Tensor> sd = StateDict.load(fixture("scripted.pt"));
        assertEquals(List.of("table", "fc.weight", "fc.bias"), List.copyOf(sd.keySet()));
        sd.values().forEach(Tensor::close);
    }
}
