package dev.kiln.cli;

import org.junit.jupiter.api.Test;

import java.io.PrintWriter;
import java.io.StringWriter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class ResultTableTest {
    @Test
    void alignsColumns() {
        ResultTable t = new ResultTable("op", "ms").alignRight(1);
        t.add("add", "1.5");
        t.add("softmax", "12.25");
        StringWriter sw = new StringWriter();
        t.print(new PrintWriter(sw));
        assertEquals(String.join("\n", "op          ms", "-------  -----", "add        1.5", "softmax  12.25", ""),
                sw.toString().replace(System.lineSeparator(), "\n"));
        assertThrows(IllegalArgumentException.class, () -> t.add("only one"));
    }
}
