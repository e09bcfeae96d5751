package dev.kiln.backend.cpu;

import dev.kiln.tensor.DType;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

/** The tiled transpose path of the CPU copy against element-by-element reads of the source view. */
class CopyTransposeTest {
    private static void check(Tensor view) {
        Tensor c = view.contiguous();
        assertTrue(c.isContiguous());
        int[] s = view.shape();
        long n = view.numel();
        int[] idx = new int[s.length];
        for (long i = 0; i < n; i++) {
            long off = view.offset();
            for (int d = 0; d < s.length; d++) off += idx[d] * view.stride(d);
            double want = view.storage().getDouble(view.dtype(), off), got = c.storage().getDouble(c.dtype(), c.offset() + i);
            if (Double.doubleToRawLongBits(want) != Double.doubleToRawLongBits(got))
                fail(java.util.Arrays.toString(s) + " element " + i + ": " + got + " vs " + want);
            for (int d = s.length - 1; d >= 0 && ++idx[d] == s[d]; d--) idx[d] = 0;
        }
    }

    @Test void transposesMatchTheSourceView() {
        Generator g = new Generator(3);
        check(Tensor.randn(g, DType.F32, 37, 1031).t());                                 // odd edges on both sides
        check(Tensor.randn(g, DType.F32, 1024, 2048).t());                               // the weight-gradient shape
        check(Tensor.randn(g, DType.F32, 3, 70, 65).transpose(1, 2));                    // batched
        check(Tensor.randn(g, DType.F32, 2, 33, 4, 40).permute(0, 2, 3, 1));             // attention's K^T layout
        check(Tensor.randn(g, DType.F32, 200, 300).narrow(0, 5, 150).narrow(1, 7, 250).t());   // offset, padded rows
        check(Tensor.arange(0, 64 * 96, 1, DType.I32).reshape(64, 96).t());              // 4-byte integers
    }
}
