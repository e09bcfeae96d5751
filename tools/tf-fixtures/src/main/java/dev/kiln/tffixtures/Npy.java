package dev.kiln.tffixtures;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Minimal NumPy .npy (format 1.0) writer/reader: little-endian '&lt;f4' / '&lt;i4' / '&lt;i8', C
 * order, header padded with spaces to a multiple of 64 bytes and ending in '\n'.
 */
final class Npy {
  private Npy() {}

  /** A dense array: dtype descr ("&lt;f4", "&lt;i4", "&lt;i8"), shape and little-endian data bytes. */
  record Array(String descr, long[] shape, byte[] data) {
    long numel() {
      long n = 1;
      for (long s : shape) n *= s;
      return n;
    }

    float[] floats() {
      float[] f = new float[(int) numel()];
      ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(f);
      return f;
    }

    int[] ints() {
      int[] f = new int[(int) numel()];
      ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN).asIntBuffer().get(f);
      return f;
    }

    long[] longs() {
      long[] f = new long[(int) numel()];
      ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN).asLongBuffer().get(f);
      return f;
    }
  }

  static String shapeTuple(long[] shape) {
    StringBuilder sb = new StringBuilder("(");
    for (int i = 0; i < shape.length; i++) {
      if (i > 0) sb.append(", ");
      sb.append(shape[i]);
    }
    if (shape.length == 1) sb.append(',');
    return sb.append(')').toString();
  }

  static void write(Path file, String descr, long[] shape, byte[] data) throws IOException {
    String dict =
        "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shapeTuple(shape) + ", }";
    int preamble = 6 + 2 + 2; // magic + version + uint16 header length
    int total = preamble + dict.length() + 1; // + '\n'
    int padded = (total + 63) / 64 * 64;
    StringBuilder h = new StringBuilder(dict);
    while (preamble + h.length() + 1 < padded) h.append(' ');
    h.append('\n');
    byte[] hb = h.toString().getBytes(StandardCharsets.US_ASCII);
    ByteBuffer bb = ByteBuffer.allocate(preamble + hb.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
    bb.put((byte) 0x93).put("NUMPY".getBytes(StandardCharsets.US_ASCII)).put((byte) 1).put((byte) 0);
    bb.putShort((short) hb.length).put(hb).put(data);
    Files.write(file, bb.array());
  }

  static void writeF32(Path file, long[] shape, float[] v) throws IOException {
    ByteBuffer b = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
    b.asFloatBuffer().put(v);
    write(file, "<f4", shape, b.array());
  }

  static void writeI32(Path file, long[] shape, int[] v) throws IOException {
    ByteBuffer b = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
    b.asIntBuffer().put(v);
    write(file, "<i4", shape, b.array());
  }

  static void writeI64(Path file, long[] shape, long[] v) throws IOException {
    ByteBuffer b = ByteBuffer.allocate(v.length * 8).order(ByteOrder.LITTLE_ENDIAN);
    b.asLongBuffer().put(v);
    write(file, "<i8", shape, b.array());
  }

  private static final Pattern DESCR = Pattern.compile("'descr':\\s*'([^']+)'");
  private static final Pattern FORTRAN = Pattern.compile("'fortran_order':\\s*(True|False)");
  private static final Pattern SHAPE = Pattern.compile("'shape':\\s*\\(([^)]*)\\)");

  static Array read(Path file) throws IOException {
    byte[] all = Files.readAllBytes(file);
    ByteBuffer bb = ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN);
    if ((all[0] & 0xff) != 0x93 || !new String(all, 1, 5, StandardCharsets.US_ASCII).equals("NUMPY")) {
      throw new IOException(file + ": not an .npy file");
    }
    int major = all[6];
    int hlen;
    int off;
    if (major == 1) {
      hlen = Short.toUnsignedInt(bb.getShort(8));
      off = 10;
    } else {
      hlen = bb.getInt(8);
      off = 12;
    }
    String header = new String(all, off, hlen, StandardCharsets.US_ASCII);
    Matcher d = DESCR.matcher(header);
    Matcher f = FORTRAN.matcher(header);
    Matcher s = SHAPE.matcher(header);
    if (!d.find() || !f.find() || !s.find()) throw new IOException(file + ": bad header " + header);
    if (f.group(1).equals("True")) throw new IOException(file + ": fortran order unsupported");
    List<Long> dims = new ArrayList<>();
    for (String p : s.group(1).split(",")) {
      if (!p.isBlank()) dims.add(Long.parseLong(p.trim()));
    }
    long[] shape = dims.stream().mapToLong(Long::longValue).toArray();
    byte[] data = java.util.Arrays.copyOfRange(all, off + hlen, all.length);
    return new Array(d.group(1), shape, data);
  }
}
