package dev.kiln.cli;

import dev.kiln.io.Json;
import dev.kiln.ops.BinaryOp;
import dev.kiln.ops.UnaryOp;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class OpsCommandTest {
    @Test
    @SuppressWarnings("unchecked")
    void listsEveryOpAndWritesTheTableAsJson(@TempDir Path dir) throws Exception {
        Path json = dir.resolve("ops.json");
        CliRun r = CliRun.of("ops", "--json", json.toString());
        assertEquals(0, r.code(), r.err());
        String o = r.out();
        for (UnaryOp op : UnaryOp.values()) assertTrue(o.contains("\n" + op.name().toLowerCase() + " "), op + " missing:\n" + o);
        for (BinaryOp op : BinaryOp.values()) assertTrue(o.contains("\n" + op.name().toLowerCase() + " "), op + " missing:\n" + o);
        assertTrue(o.matches("(?s).*onnx: \\d+ op names, \\d+ of them run as engine ops.*"), o);
        Map<String, Object> t = (Map<String, Object>) Json.parse(Files.readString(json), json.toString());
        List<Map<String, Object>> ops = (List<Map<String, Object>>) t.get("ops");
        assertEquals(UnaryOp.values().length + BinaryOp.values().length, ops.stream().filter(m -> String.valueOf(m.get("family")).contains("elementwise")
                || "comparison".equals(m.get("family"))).count());
        assertTrue(ops.stream().anyMatch(m -> m.get("op").equals("logsumexp") && "reduction".equals(m.get("family"))));
        assertTrue(ops.stream().anyMatch(m -> m.get("op").equals("conv2d") && "backend op".equals(m.get("family"))));
        Map<String, Object> sigmoid = ops.stream().filter(m -> m.get("op").equals("sigmoid")).findFirst().orElseThrow();
        assertEquals("Sigmoid", sigmoid.get("onnx"));
        assertEquals("kiln_sigmoid_f32", ((Map<String, Object>) sigmoid.get("cuda")).get("f32"));
        List<Map<String, Object>> importers = (List<Map<String, Object>>) t.get("importers");
        assertTrue(importers.stream().anyMatch(m -> m.get("importer").equals("onnx") && m.get("name").equals("Sigmoid") && "sigmoid".equals(m.get("engineOp"))));
        assertTrue(importers.stream().anyMatch(m -> m.get("importer").equals("torchscript") && m.get("name").equals("torch.erf") && "erf".equals(m.get("engineOp"))));
        assertTrue(importers.stream().anyMatch(m -> m.get("importer").equals("tensorflow") && m.get("name").equals("RealDiv") && "div".equals(m.get("engineOp"))));
    }
}
