package dev.kiln.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code --plot FILE.png}: every bench command (and train) writes a real PNG chart, headless; a
 * bad path fails before any work with exit 2 and one line naming it. Runs are tiny (seconds).
 */
class BenchPlotTest {
    static final byte[] PNG_SIGNATURE = {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    static final Path MODELS = Path.of("testdata/real-models");

    @TempDir Path dir;

    /** A PNG file (signature, non-trivial size) that decodes to an image of the panel grid's size. */
    static BufferedImage assertPng(Path file, int panels) throws IOException {
        assertTrue(Files.isRegularFile(file), file + " was not written");
        byte[] bytes = Files.readAllBytes(file);
        assertTrue(bytes.length > 8_000, file + " is only " + bytes.length + " bytes");
        assertTrue(bytes.length < 200_000, file + " is " + bytes.length + " bytes");
        assertTrue(Arrays.equals(PNG_SIGNATURE, Arrays.copyOf(bytes, 8)), file + " does not start with the PNG signature");
        BufferedImage img = ImageIO.read(new ByteArrayInputStream(bytes));
        int cols = Math.min(2, panels), rows = (panels + cols - 1) / cols;
        assertEquals(cols * BenchPlot.PANEL_W, img.getWidth());
        assertEquals(BenchPlot.TITLE_H + rows * BenchPlot.PANEL_H, img.getHeight());
        return img;
    }

    @Test
    void gemmPlotsGflopsBySize() throws IOException {
        Path png = dir.resolve("gemm.png");
        CliRun r = CliRun.of("bench", "gemm", "--sizes", "16,32", "--threads", "1", "--iters", "1", "--warmup", "0", "--plot", png.toString());
        assertEquals(Main.OK, r.code(), r.err());
        assertTrue(r.out().contains("wrote chart " + png), r.out());
        assertPng(png, 1);
    }

    @Test
    void elementwisePlotsOnePanelPerThreadCount() throws IOException {
        Path png = dir.resolve("ew.png");
        CliRun r = CliRun.of("bench", "elementwise", "--size", "4096", "--runs", "1", "--warmup", "0", "--threads", "1,2", "--plot", png.toString());
        assertEquals(Main.OK, r.code(), r.err());
        assertPng(png, 2);
    }

    @Test
    void modelBenchPlotsLatencyBars() throws IOException {
        Path png = dir.resolve("bert.png");
        CliRun r = CliRun.of("bench", MODELS.resolve("bert_op17.onnx").toString(), "--shape", "input_ids=2x8", "--shape", "attention_mask=2x8",
                "--threads", "1", "--warmup", "1", "--iters", "3", "--plot", png.toString());
        assertEquals(Main.OK, r.code(), r.err());
        assertPng(png, 1);
    }

    @Test
    void int8Bf16AndSparsePlot() throws IOException {
        Path i8 = dir.resolve("int8.png"), bf = dir.resolve("bf16.png"), sp = dir.resolve("sparse.png");
        CliRun a = CliRun.of("bench", "int8", "--sizes", "32", "--rows", "0", "--threads", "1", "--iters", "1", "--warmup", "0", "--plot", i8.toString());
        assertEquals(Main.OK, a.code(), a.err());
        assertPng(i8, 1);
        CliRun b = CliRun.of("bench", "bf16", "--shapes", "16x16x16,1x32x32", "--threads", "1", "--runs", "1", "--plot", bf.toString());
        assertEquals(Main.OK, b.code(), b.err());
        assertPng(bf, 1);
        CliRun c = CliRun.of("bench", "sparse", "--size", "64", "--sparsities", "0.5,0.9", "--batches", "1", "--threads", "1",
                "--runs", "1", "--warmup", "0", "--plot", sp.toString());
        assertEquals(Main.OK, c.code(), c.err());
        assertPng(sp, 1);
    }

    @Test
    void trainPlotsLossAndAccuracyPerEpoch() throws IOException {
        Path png = dir.resolve("train.png");
        CliRun r = CliRun.of("train", "--model", "mlp", "--epochs", "2", "--limit", "256", "--no-progress", "--plot", png.toString());
        assertEquals(Main.OK, r.code(), r.err());
        assertPng(png, 2);
    }

    /** Panels without values are left out; with none at all the image still is a valid PNG that says so. */
    @Test
    void missingValuesAndEmptyPanels() throws IOException {
        BenchPlot.Panel some = new BenchPlot.Panel("some", "x", "y", BenchPlot.Style.BARS)
                .add("Kiln", "a", 1).add("peer", "a", Double.NaN).add("Kiln", "b", 2).add("peer", "b", 3);
        BenchPlot.Panel none = new BenchPlot.Panel("none", "x", "y", BenchPlot.Style.LINES).add("Kiln", "a", Double.NaN);
        Path png = dir.resolve("p.png");
        BenchPlot.write(png, "title", List.of(some, none));
        assertPng(png, 1);
        Path empty = dir.resolve("empty.png");
        BenchPlot.write(empty, "nothing", List.of(none));
        byte[] bytes = Files.readAllBytes(empty);
        assertTrue(Arrays.equals(PNG_SIGNATURE, Arrays.copyOf(bytes, 8)));
        assertTrue(BenchPlot.subtitle().contains(dev.kiln.backend.cpu.CpuProfile.get().model()), BenchPlot.subtitle());
    }

    /** Bad --plot paths: exit 2, one line naming the path, before any work (nothing on stdout, no file). */
    @Test
    void badPlotPathFailsBeforeAnyWork() throws IOException {
        Path folder = Files.createDirectory(dir.resolve("folder"));
        String[][] cases = {
                {"/proc/x/y.png", "bench", "gemm", "--sizes", "2048"},
                {folder.toString(), "bench", "elementwise"},
                {dir.resolve("chart.jpg").toString(), "bench", "gemm"},
                {"/proc/x/y.png", "bench", MODELS.resolve("bert_op17.onnx").toString(), "--shape", "input_ids=2x8", "--shape", "attention_mask=2x8"},
                {folder.toString(), "bench", "sparse"},
                {"/proc/x/y.png", "train", "--limit", "64", "--no-progress"},
        };
        for (String[] c : cases) {
            String[] args = Arrays.copyOf(Arrays.copyOfRange(c, 1, c.length), c.length + 1);
            args[c.length - 1] = "--plot";
            args[c.length] = c[0];
            CliRun r = CliRun.of(args);
            String what = String.join(" ", args);
            assertEquals(Main.BAD_INPUT, r.code(), what + "\n" + r.err());
            assertEquals(1, r.errLines().size(), what + "\n" + r.err());
            assertTrue(r.err().startsWith("kiln: ") && r.err().contains("--plot") && r.err().contains(c[0]), what + "\n" + r.err());
            assertTrue(r.out().isBlank(), what + " started work:\n" + r.out());
        }
        assertFalse(Files.exists(dir.resolve("chart.jpg")));
    }
}
