package dev.kiln.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** kiln bench jmh --plot: JMH's JSON result (the shape JMH 1.37 writes) becomes one bar per result. */
class BenchJmhPlotTest {
    static final String JSON = """
            [
                {
                    "jmhVersion" : "1.37",
                    "benchmark" : "dev.kiln.bench.ElementwiseBenchmark.kiln",
                    "mode" : "thrpt",
                    "params" : {
                        "op" : "add",
                        "size" : "1024"
                    },
                    "primaryMetric" : {
                        "score" : 12.5,
                        "scoreError" : 0.5,
                        "scoreUnit" : "ops/us",
                        "rawData" : [ [ 12.0, 13.0 ] ]
                    },
                    "secondaryMetrics" : {
                    }
                },
                {
                    "jmhVersion" : "1.37",
                    "benchmark" : "dev.kiln.bench.ReduceBenchmark.sum",
                    "mode" : "avgt",
                    "primaryMetric" : {
                        "score" : "NaN",
                        "scoreUnit" : "us/op"
                    }
                },
                {
                    "jmhVersion" : "1.37",
                    "benchmark" : "dev.kiln.bench.ReduceBenchmark.max",
                    "mode" : "avgt",
                    "primaryMetric" : {
                        "score" : 3.25E-1,
                        "scoreUnit" : "us/op"
                    }
                }
            ]
            """;

    @Test
    void parsesScoresUnitsAndParameters() {
        List<BenchJmh.Result> r = BenchJmh.parse(JSON);
        assertEquals(3, r.size());
        assertEquals(new BenchJmh.Result("dev.kiln.bench.ElementwiseBenchmark.kiln", Map.of("op", "add", "size", "1024"), 12.5, "ops/us"), r.get(0));
        assertTrue(Double.isNaN(r.get(1).score()));
        assertEquals(0.325, r.get(2).score(), 1e-12);
        assertEquals("us/op", r.get(2).unit());
    }

    @Test
    void drawsOnePanelPerUnit(@TempDir Path tmp) throws Exception {
        List<BenchPlot.Panel> panels = BenchJmh.panels(JSON);
        assertEquals(2, panels.size());
        assertEquals("ops/us", panels.get(0).yLabel);
        assertEquals(Map.of("kiln op=add size=1024", 12.5), panels.get(0).series.get("Kiln ElementwiseBenchmark"));
        assertEquals(Map.of("max", 0.325), panels.get(1).series.get("Kiln ReduceBenchmark"));   // the NaN score is left out
        Path png = tmp.resolve("jmh.png");
        BenchPlot.write(png, "kiln bench jmh: test", panels);
        byte[] b = Files.readAllBytes(png);
        assertTrue(b.length > 8000 && b[1] == 'P' && b[2] == 'N' && b[3] == 'G', "a PNG of " + b.length + " bytes");
        assertThrows(IllegalStateException.class, () -> BenchJmh.panels("[]"));
    }
}
