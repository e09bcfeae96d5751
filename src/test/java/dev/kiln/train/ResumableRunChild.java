package dev.kiln.train;

import java.nio.file.Path;

/**
 * Child process of {@link ResumableRunTest}: runs the shared {@link ResumeSetup} run with
 * checkpoints to args[0] every args[1] steps, up to args[2] steps, printing "loss STEP HEXBITS" per
 * step (exact double bits) and, after each checkpoint, "ckpt STEP". The test kills it midway.
 */
public final class ResumableRunChild {
    private ResumableRunChild() {}

    public static void main(String[] args) {
        int every = Integer.parseInt(args[1]);
        try (ResumeSetup s = new ResumeSetup("adam", Path.of(args[0]), every)) {
            s.run.runUntil(Long.parseLong(args[2]), (step, loss) -> {
                System.out.println("loss " + step + " " + Long.toHexString(Double.doubleToRawLongBits(loss)));
                if ((step + 1) % every == 0) System.out.println("ckpt " + (step + 1));
                System.out.flush();
            });
        }
    }
}
