package dev.kiln.onnx.ops;

import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;

/** KvAppend's in-place path: a prefix view of a buffer that allows appends grows inside it; anything else is left to Concat. */
class KvAppendTest {
    @Test
    void appendsIntoTheBufferWhileThereIsRoomAndNowhereElse() {
        try (Tensor buf = Tensor.zeros(1, 3, 5, 4)) {
            buf.storage().allowAppend();
            Tensor past = buf.narrow(2, 0, 0);
            Tensor expect = Tensor.zeros(1, 3, 0, 4);
            for (int step = 0; step < 5; step++) {
                int n = step == 0 ? 2 : 1;
                if (step == 4) break;
                try (Tensor add = Tensor.randn(new Generator(step), 1, 3, n, 4)) {
                    Tensor grown = ShapeOps.appendInPlace(past, add, 2);
                    assertSame(buf.storage(), grown.storage());
                    Tensor e2 = dev.kiln.ops.Join.cat(new Tensor[] {expect, add}, 2);
                    expect.close();
                    expect = e2;
                    assertArrayEquals(expect.toFloatArray(), grown.toFloatArray());
                    past.close();
                    past = grown;
                }
            }
            // full (5 entries): no room for 2 more
            try (Tensor add = Tensor.randn(new Generator(9), 1, 3, 2, 4)) {
                assertNull(ShapeOps.appendInPlace(past, add, 2));
            }
            past.close();
            expect.close();
        }
        // memory whose owner did not allow appends, and a whole (not prefix) tensor
        try (Tensor buf = Tensor.zeros(1, 3, 5, 4); Tensor view = buf.narrow(2, 0, 2); Tensor add = Tensor.zeros(1, 3, 1, 4)) {
            assertNull(ShapeOps.appendInPlace(view, add, 2));
            buf.storage().allowAppend();
            try (Tensor whole = Tensor.zeros(1, 3, 2, 4)) {
                assertNull(ShapeOps.appendInPlace(whole, add, 2));
            }
        }
    }
}
