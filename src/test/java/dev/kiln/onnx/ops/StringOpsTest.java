package dev.kiln.onnx.ops;

import dev.kiln.onnx.ElemType;
import dev.kiln.onnx.OnnxException;
import dev.kiln.onnx.Value;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.math.BigDecimal;

import static dev.kiln.onnx.ops.NormTestKit.assertClose;
import static dev.kiln.onnx.ops.NormTestKit.f32;
import static dev.kiln.onnx.ops.NormTestKit.op;
import static dev.kiln.onnx.ops.NormTestKit.typed;
import static org.junit.jupiter.api.Assertions.*;

/** Cast to/from strings, StringNormalizer and TfIdfVectorizer. */
class StringOpsTest {
    private static String[] strs(Value v) { return ((Value.StringTensorValue) v).data(); }

    // ------------------------------------------------------------------ Cast

    @Test
    void floatsFormatAsShortestPlainDecimals() {
        assertEquals("0.039187793", StringCast.format(0.039187793f, ElemType.FLOAT));
        assertEquals("0.9767611", StringCast.format(0.9767611f, ElemType.FLOAT));
        assertEquals("0.1", StringCast.format(0.1, ElemType.DOUBLE));
        assertEquals("0.1", StringCast.format(0.1f, ElemType.FLOAT)); // not 0.10000000149011612
        assertEquals("100.0", StringCast.format(100, ElemType.FLOAT));
        assertEquals("0.00001", StringCast.format(1e-5f, ElemType.FLOAT));
        assertEquals("123456790.0", StringCast.format(1.2345679e8f, ElemType.FLOAT));
        assertEquals("-2.5", StringCast.format(-2.5, ElemType.FLOAT));
        assertEquals("-0.0", StringCast.format(-0.0, ElemType.FLOAT));
        assertEquals("NaN", StringCast.format(Double.NaN, ElemType.FLOAT));
        assertEquals("INF", StringCast.format(Double.POSITIVE_INFINITY, ElemType.DOUBLE));
        assertEquals("-INF", StringCast.format(Double.NEGATIVE_INFINITY, ElemType.FLOAT16));
        assertEquals("0.1", StringCast.format(Float.float16ToFloat(Float.floatToFloat16(0.1f)), ElemType.FLOAT16));
        assertEquals("3.14", StringCast.plain(new BigDecimal("3.140")));
    }

    @Test
    void castFloatAndIntTensorsToStrings() {
        Value y = op("Cast").i("to", 8).in(f32(new double[]{0.5, -1, 1e-4}, 3)).run().getFirst();
        assertArrayEquals(new String[]{"0.5", "-1.0", "0.0001"}, strs(y));
        assertArrayEquals(new int[]{3}, ((Value.StringTensorValue) y).shape());
        Value ints = op("Cast").i("to", 8).in(typed(ElemType.INT32, new double[]{-7, 0, 42}, 1, 3)).run().getFirst();
        assertArrayEquals(new String[]{"-7", "0", "42"}, strs(ints));
        assertArrayEquals(new int[]{1, 3}, ((Value.StringTensorValue) ints).shape());
        try (Tensor u = Tensor.fromArray(new long[]{-1}, 1)) {
            Value big = op("Cast").i("to", 8).in(Value.of(u, ElemType.UINT64)).run().getFirst();
            assertArrayEquals(new String[]{"18446744073709551615"}, strs(big));
        }
    }

    @Test
    void castStringsToNumbers() {
        Value s = Value.strings(new String[]{"0.47892547", "1e-5", "1E8", "NaN", "INF", "+INF", "-INF", "-inf", "nan", " 2.5 "}, 10);
        Tensor f = op("Cast").i("to", 1).in(s).run(0).tensor();
        float[] v = f.toFloatArray();
        assertEquals(0.47892547f, v[0]);
        assertEquals(1e-5f, v[1]);
        assertEquals(1e8f, v[2]);
        assertTrue(Float.isNaN(v[3]) && Float.isNaN(v[8]));
        assertEquals(Float.POSITIVE_INFINITY, v[4]);
        assertEquals(Float.POSITIVE_INFINITY, v[5]);
        assertEquals(Float.NEGATIVE_INFINITY, v[6]);
        assertEquals(Float.NEGATIVE_INFINITY, v[7]);
        assertEquals(2.5f, v[9]);

        Value ints = Value.strings(new String[]{"100", "100.5", "-3.9", "300", "18446744073709551615"}, 5);
        assertArrayEquals(new long[]{100, 100, 253, 44, 255}, op("Cast").i("to", 2).in(ints).run(0).tensor().toLongArray(),
                "uint8 wraps like C");
        assertArrayEquals(new long[]{100, 100, -3, 300, -1}, op("Cast").i("to", 7).in(ints).run(0).tensor().toLongArray());
        Value bools = Value.strings(new String[]{"true", "False", "0", "2.5"}, 4);
        assertArrayEquals(new long[]{1, 0, 0, 1}, op("Cast").i("to", 9).in(bools).run(0).tensor().toLongArray());
        Value d = op("Cast").i("to", 11).in(Value.strings(new String[]{"0.1"}, 1)).run().getFirst();
        assertEquals(0.1, ((Value.TensorValue) d).tensor().toDoubleArray()[0]);

        OnnxException e = assertThrows(OnnxException.class,
                () -> op("Cast").i("to", 1).in(Value.strings(new String[]{"Hello World!"}, 1)).run());
        assertTrue(e.getMessage().contains("Hello World!"), e.getMessage());
    }

    @Test
    void castLikeAndStringToString() {
        Value like = Value.strings(new String[]{"x"}, 1);
        Value y = op("CastLike").in(f32(new double[]{0.25}, 1), like).run().getFirst();
        assertArrayEquals(new String[]{"0.25"}, strs(y));
        Value back = op("CastLike").in(y, f32(new double[]{0}, 1)).run().getFirst();
        assertClose(new double[]{0.25}, ((Value.TensorValue) back).tensor(), 0);
        Value same = op("Cast").i("to", 8).in(like).run().getFirst();
        assertArrayEquals(new String[]{"x"}, strs(same));
    }

    // ------------------------------------------------------------------ StringNormalizer

    @Test
    void stringNormalizerRemovesStopwordsThenChangesCase() {
        Value x = Value.strings(new String[]{"Monday", "tuesday", "monday", "Wednesday"}, 4);
        Value lower = op("StringNormalizer").s("case_change_action", "LOWER").i("is_case_sensitive", 1)
                .strings("stopwords", "monday").in(x).run().getFirst();
        assertArrayEquals(new String[]{"monday", "tuesday", "wednesday"}, strs(lower));
        Value upper = op("StringNormalizer").s("case_change_action", "UPPER").strings("stopwords", "MONDAY").in(x).run().getFirst();
        assertArrayEquals(new String[]{"TUESDAY", "WEDNESDAY"}, strs(upper));
        Value none = op("StringNormalizer").in(x).run().getFirst();
        assertArrayEquals(new String[]{"Monday", "tuesday", "monday", "Wednesday"}, strs(none));
    }

    @Test
    void stringNormalizerKeepsTheRowShapeAndEmptiesToOneEmptyString() {
        Value x2 = Value.strings(new String[]{"a", "b", "a"}, 1, 3);
        Value y = op("StringNormalizer").strings("stopwords", "A").in(x2).run().getFirst();
        assertArrayEquals(new int[]{1, 1}, ((Value.StringTensorValue) y).shape());
        assertArrayEquals(new String[]{"b"}, strs(y));
        Value all = op("StringNormalizer").strings("stopwords", "a").in(Value.strings(new String[]{"a", "A"}, 2)).run().getFirst();
        assertArrayEquals(new int[]{1}, ((Value.StringTensorValue) all).shape());
        assertArrayEquals(new String[]{""}, strs(all));
        assertThrows(OnnxException.class, () -> op("StringNormalizer").in(Value.strings(new String[]{"a", "b"}, 2, 1)).run());
        assertThrows(OnnxException.class, () -> op("StringNormalizer").s("case_change_action", "TITLE").in(x2).run());
    }

    @Test
    void stringNormalizerUsesTheLocale() {
        Value x = Value.strings(new String[]{"title"}, 1);
        Value tr = op("StringNormalizer").s("case_change_action", "UPPER").s("locale", "tr_TR").in(x).run().getFirst();
        assertArrayEquals(new String[]{"TİTLE"}, strs(tr)); // Turkish dotted capital I
        Value en = op("StringNormalizer").s("case_change_action", "UPPER").s("locale", "en_US").in(x).run().getFirst();
        assertArrayEquals(new String[]{"TITLE"}, strs(en));
    }

    // ------------------------------------------------------------------ TfIdfVectorizer

    private static NormTestKit.Node tfidf(String mode, int min, int max, int skip) {
        // pool: unigrams 2 3 5 4, bigrams (5,6) (7,8) (6,7); output columns 0..6
        return op("TfIdfVectorizer").s("mode", mode).i("min_gram_length", min).i("max_gram_length", max)
                .i("max_skip_count", skip).ints("ngram_counts", 0, 4).ints("ngram_indexes", 0, 1, 2, 3, 4, 5, 6)
                .ints("pool_int64s", 2, 3, 5, 4, 5, 6, 7, 8, 6, 7);
    }

    private static final double[] ROWS = {1, 1, 3, 3, 3, 7, 8, 6, 7, 5, 6, 8};

    @Test
    void tfCountsUnigramsOnceAndBigramsPerSkip() {
        Value x = typed(ElemType.INT32, ROWS, 2, 6);
        Tensor y = tfidf("TF", 1, 2, 5).in(x).run(0).tensor();
        assertArrayEquals(new int[]{2, 7}, y.shape());
        assertClose(new double[]{0, 3, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 1, 1}, y, 0);
        Tensor onlyBigramsNoSkip = tfidf("TF", 2, 2, 0).in(typed(ElemType.INT64, ROWS, 12)).run(0).tensor();
        assertClose(new double[]{0, 0, 0, 0, 1, 1, 1}, onlyBigramsNoSkip, 0);
        Tensor skip5 = tfidf("TF", 2, 2, 5).in(typed(ElemType.INT64, ROWS, 12)).run(0).tensor();
        assertClose(new double[]{0, 0, 0, 0, 1, 3, 1}, skip5, 0); // (7,8) at distances 1, 6 and 3
    }

    @Test
    void idfAndTfidfApplyWeights() {
        Value x = typed(ElemType.INT64, new double[]{3, 3, 5, 6, 2}, 5);
        assertClose(new double[]{1, 1, 1, 0, 1, 0, 0}, tfidf("IDF", 1, 2, 0).in(x).run(0).tensor(), 0);
        float[] w = {0.5f, 2, 1, 1, 3, 1, 1};
        assertClose(new double[]{0.5, 2, 1, 0, 3, 0, 0}, tfidf("IDF", 1, 2, 0).floats("weights", w).in(x).run(0).tensor(), 0);
        assertClose(new double[]{0.5, 4, 1, 0, 3, 0, 0}, tfidf("TFIDF", 1, 2, 0).floats("weights", w).in(x).run(0).tensor(), 0);
        assertClose(new double[]{1, 2, 1, 0, 1, 0, 0}, tfidf("TFIDF", 1, 2, 0).in(x).run(0).tensor(), 0);
    }

    @Test
    void stringPoolAndPermutedIndexes() {
        Value x = Value.strings(new String[]{"the", "cat", "sat", "the", "cat"}, 5);
        Tensor y = op("TfIdfVectorizer").s("mode", "TF").i("min_gram_length", 1).i("max_gram_length", 2)
                .i("max_skip_count", 0).ints("ngram_counts", 0, 2).ints("ngram_indexes", 2, 0, 1)
                .strings("pool_strings", "cat", "dog", "the", "cat").in(x).run(0).tensor();
        // cat -> column 2 (2 times), dog -> column 0, (the cat) -> column 1 (2 times)
        assertClose(new double[]{0, 2, 2}, y, 0);
    }

    @Test
    void tfidfRejectsBadAttributes() {
        Value x = typed(ElemType.INT64, new double[]{1}, 1);
        assertThrows(OnnxException.class, () -> tfidf("BM25", 1, 2, 0).in(x).run());
        assertThrows(OnnxException.class, () -> op("TfIdfVectorizer").s("mode", "TF").i("min_gram_length", 1)
                .i("max_gram_length", 2).ints("ngram_counts", 0, 3).ints("ngram_indexes", 0, 1)
                .ints("pool_int64s", 1, 2, 3, 4).in(x).run()); // bigram level of 1 item
        assertThrows(OnnxException.class, () -> tfidf("TF", 1, 2, 0).floats("weights", 1f).in(x).run());
        assertThrows(OnnxException.class, () -> tfidf("TF", 1, 2, 0).in(Value.strings(new String[]{"a"}, 1)).run());
    }
}
