package dev.kiln.pickle;

import dev.kiln.io.KilnFormatException;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Storage;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** Tensors rebuilt from hand-written torch pickles: bounds of views and storages, cleanup on failure. */
class TorchStoragesTest {
    /** Writes the few opcodes a torch tensor pickle needs. */
    static final class P {
        final ByteArrayOutputStream b = new ByteArrayOutputStream();

        P() { b.write(0x80); b.write(2); }
        P op(int c) { b.write(c); return this; }
        P global(String m, String n) { op('c'); b.writeBytes((m + "\n" + n + "\n").getBytes(StandardCharsets.UTF_8)); return this; }
        P str(String s) {
            byte[] u = s.getBytes(StandardCharsets.UTF_8);
            op('X');
            b.writeBytes(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(u.length).array());
            b.writeBytes(u);
            return this;
        }
        P i(int v) { op('J'); b.writeBytes(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(v).array()); return this; }
        P ints(int... v) { op('('); for (int x : v) i(x); return op('t'); }

        /** _rebuild_tensor_v2(('storage', type, key, 'cpu', numel), offset, size, stride, False, OrderedDict()) */
        P tensor(String type, String key, int numel, int offset, int[] size, int[] stride) {
            global("torch._utils", "_rebuild_tensor_v2").op('(');
            op('(').str("storage").global("torch", type).str(key).str("cpu").i(numel).op('t').op('Q');
            i(offset).ints(size).ints(stride).op(0x89).global("collections", "OrderedDict").op(')').op('R');
            return op('t').op('R');
        }
        byte[] done() { op('.'); return b.toByteArray(); }
    }

    static Object load(byte[] pickle, byte[] storage) throws KilnFormatException {
        TorchStorages st = new TorchStorages(key -> key.equals("k") ? MemorySegment.ofArray(storage) : null);
        boolean ok = false;
        try {
            Object v = Unpickler.load("t.pkl", pickle, Globals.torch(), st);
            ok = true;
            return v;
        } finally {
            if (ok) st.close(); else st.closeAll();
        }
    }

    static byte[] floats(float... v) {
        ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
        for (float f : v) b.putFloat(f);
        return b.array();
    }

    @Test
    void viewOverAStorage() throws Exception {
        byte[] p = new P().tensor("FloatStorage", "k", 6, 1, new int[]{2, 2}, new int[]{1, 3}).done();
        try (Tensor t = (Tensor) load(p, floats(0, 1, 2, 3, 4, 5))) {
            assertEquals(DType.F32, t.dtype());
            assertArrayEquals(new long[]{1, 3}, t.strides());
            assertArrayEquals(new float[]{1, 4, 2, 5}, t.toFloatArray());
        }
    }

    @Test
    void viewsReachingPastTheirStorageAreRefused() {
        byte[] p = new P().tensor("FloatStorage", "k", 4, 2, new int[]{3}, new int[]{1}).done();
        KilnFormatException e = assertThrows(KilnFormatException.class, () -> load(p, floats(0, 1, 2, 3)));
        assertTrue(e.getMessage().contains("tensor of size [3], stride [1] and offset 2 reaches element 4 of storage k which has 4"), e.getMessage());
    }

    @Test
    void storageLargerThanItsDataIsRefused() {
        byte[] p = new P().tensor("FloatStorage", "k", 8, 0, new int[]{8}, new int[]{1}).done();
        KilnFormatException e = assertThrows(KilnFormatException.class, () -> load(p, floats(0, 1, 2, 3)));
        assertTrue(e.getMessage().contains("storage k declares 8 FloatStorage elements of 4 bytes but its data holds 16 bytes"), e.getMessage());
    }

    @Test
    void missingStorageAndUnknownTypes() {
        byte[] p = new P().tensor("FloatStorage", "other", 1, 0, new int[]{1}, new int[]{1}).done();
        assertTrue(assertThrows(KilnFormatException.class, () -> load(p, floats(0))).getMessage().contains("storage other has no data entry"));
        byte[] q = new P().tensor("ComplexFloatStorage", "k", 1, 0, new int[]{1}, new int[]{1}).done();
        assertTrue(assertThrows(KilnFormatException.class, () -> load(q, floats(0, 0))).getMessage()
                .contains("refused global torch.ComplexFloatStorage"));
    }

    @Test
    void aFailedLoadFreesTheTensorsItMade() {
        long before = Storage.liveCountIgnoringCleaner();
        P p = new P().op('(');
        p.tensor("FloatStorage", "k", 4, 0, new int[]{4}, new int[]{1});
        p.tensor("FloatStorage", "k", 4, 0, new int[]{5}, new int[]{1}); // out of bounds
        byte[] bad = p.op('l').done();
        assertThrows(KilnFormatException.class, () -> load(bad, floats(0, 1, 2, 3)));
        assertEquals(before, Storage.liveCountIgnoringCleaner());
    }

    @Test
    void widenedTypesCopyToInt32() throws Exception {
        byte[] raw = {1, 2, (byte) 200, (byte) 255};
        byte[] p = new P().tensor("ByteStorage", "k", 4, 1, new int[]{2}, new int[]{2}).done();
        try (Tensor t = (Tensor) load(p, raw)) {
            assertEquals(DType.I32, t.dtype());
            assertEquals(List.of(2L, 255L), List.of(t.getLong(0), t.getLong(1)));
        }
    }
}
