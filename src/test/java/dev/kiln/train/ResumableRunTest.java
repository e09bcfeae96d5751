package dev.kiln.train;

import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Resume equivalence: a run interrupted (abandoned in-process, or killed with SIGKILL in a child
 * JVM) and resumed from its last checkpoint continues with exactly the loss curve, and ends with
 * exactly the parameters, of a run that was never interrupted. The run (see {@link ResumeSetup})
 * shuffles per epoch, uses Dropout and a per-step LR decay, and checkpoints every 7 steps, so
 * resumes land mid-epoch and need optimizer state, data position and RNG handling all at once.
 */
class ResumableRunTest {
    private static final int EVERY = 7;
    @TempDir Path dir;

    /** Losses of steps [0, steps) of an uninterrupted run, and its final parameters. */
    private record Curve(List<Double> losses, List<float[]> params) {}

    private static Curve run(ResumeSetup s, long until) {
        List<Double> losses = new ArrayList<>();
        s.run.runUntil(until, (step, loss) -> losses.add(loss));
        List<float[]> params = new ArrayList<>();
        for (Tensor p : s.model.parameters()) params.add(p.toFloatArray());
        return new Curve(losses, params);
    }

    private static Curve uninterrupted(String optimizer, long steps) {
        try (ResumeSetup s = new ResumeSetup(optimizer, null, EVERY)) {
            return run(s, steps);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"adam", "sgd"})
    void anAbandonedRunResumesWithTheSameCurve(String optimizer) {
        Curve ref = uninterrupted(optimizer, 60);
        Path ckpt = dir.resolve(optimizer + ".safetensors");
        try (ResumeSetup first = new ResumeSetup(optimizer, ckpt, EVERY)) {
            Curve head = run(first, 31); // "crashes" after step 31: the last checkpoint is at 28
            assertEquals(ref.losses().subList(0, 31), head.losses());
        }
        try (ResumeSetup second = new ResumeSetup(optimizer, ckpt, EVERY)) {
            assertEquals(28, second.run.resume(ckpt));
            assertEquals(28 / 5, second.run.epoch(), "epoch of step 28 with 5 batches per epoch");
            assertEquals(28 % 5, second.run.batchInEpoch());
            Curve tail = run(second, 60);
            assertEquals(ref.losses().subList(28, 60), tail.losses(), "losses after the resume");
            for (int i = 0; i < ref.params().size(); i++) assertArrayEquals(ref.params().get(i), tail.params().get(i), "parameter " + i);
        }
    }

    @Test
    void withoutTheSavedStateTheCurveDiffers() {
        // guards the test above: a run restarted from the checkpoint's weights alone (fresh optimizer
        // moments, data order and dropout from the start) does not reproduce the curve
        Curve ref = uninterrupted("adam", 60);
        Path ckpt = dir.resolve("weights-only.safetensors");
        try (ResumeSetup first = new ResumeSetup("adam", ckpt, EVERY)) {
            run(first, 28);
        }
        try (ResumeSetup second = new ResumeSetup("adam", null, EVERY)) {
            Checkpoint.load(ckpt, second.model, null);
            Curve tail = run(second, 32);
            assertTrue(!ref.losses().subList(28, 60).equals(tail.losses()), "weights alone reproduced the curve");
        }
    }

    @Test
    void aCheckpointWithoutRunPositionIsRefused() {
        Path ckpt = dir.resolve("plain.safetensors");
        try (ResumeSetup s = new ResumeSetup("adam", null, EVERY)) {
            Checkpoint.save(ckpt, s.model, s.opt, Map.of("epoch", "1"));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> s.run.resume(ckpt));
            assertTrue(e.getMessage().contains("not a resumable checkpoint (no run.epoch"), e.getMessage());
        }
    }

    @Test
    void aRunKilledWithSigkillResumesWithTheSameCurve() throws Exception {
        Path ckpt = dir.resolve("killed.safetensors");
        List<Double> childLosses = new ArrayList<>();
        try (ChildJvm child = new ChildJvm(ResumableRunChild.class, List.of(), ckpt.toString(), Integer.toString(EVERY), "100000")) {
            for (int i = 0; i <= 40; i++) childLosses.add(parseLoss(child.await("loss ", 60_000), i));
            List<String> rest = child.kill();
            for (String l : rest) if (l.startsWith("loss ")) childLosses.add(parseLoss(l, childLosses.size()));
        }
        int printed = childLosses.size();
        try (ResumeSetup s = new ResumeSetup("adam", ckpt, EVERY)) {
            long p = s.run.resume(ckpt);
            assertTrue(p > 0 && p % EVERY == 0 && p <= printed, "resumed at step " + p + " after " + printed + " printed steps");
            Curve ref = uninterrupted("adam", p + 30);
            Curve tail = run(s, p + 30);
            assertEquals(ref.losses().subList((int) p, (int) p + 30), tail.losses(), "losses after resuming at step " + p);
            for (int i = 0; i < ref.params().size(); i++) assertArrayEquals(ref.params().get(i), tail.params().get(i), "parameter " + i);
            // the child's own curve (another JVM, interpreted/C1 at first) matches too
            int exact = 0;
            for (int i = 0; i < Math.min(printed, ref.losses().size()); i++) {
                double a = childLosses.get(i), b = ref.losses().get(i);
                assertEquals(b, a, 1e-6 * Math.max(1, Math.abs(b)), "step " + i + " in the child");
                if (a == b) exact++;
            }
            System.out.printf("ResumableRunTest: child killed after %d steps, resumed at %d, 30 steps bitwise equal; child curve bitwise equal on %d of %d steps%n",
                    printed, p, exact, Math.min(printed, ref.losses().size()));
        }
    }

    private static double parseLoss(String line, int expectStep) {
        String[] f = line.split(" ");
        assertEquals(expectStep, Integer.parseInt(f[1]), "child step order");
        return Double.longBitsToDouble(Long.parseUnsignedLong(f[2], 16));
    }
}
