package dev.kiln.cli;

import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategorySeries.CategorySeriesRenderStyle;
import org.knowm.xchart.style.CategoryStyler;
import org.knowm.xchart.style.Styler;

import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Path;
import java.time.LocalDate;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * The charts of {@code --plot FILE.png}: what a command measured as one PNG image of one or more
 * panels, each a category chart (grouped bars, or lines) of named series, under a title band that
 * names the measurement, the CPU ({@link dev.kiln.backend.cpu.CpuProfile}) and the date. Commands
 * only say which value goes to which panel, series and category ({@link Panel#add}); the layout,
 * the style and the file are here. Drawn with XChart on Java2D, headless (no display is needed or
 * used); the file is written atomically.
 */
final class BenchPlot {
    static {
        // before any AWT class initializes: charts are drawn into images, never shown
        if (System.getProperty("java.awt.headless") == null) System.setProperty("java.awt.headless", "true");
    }

    private BenchPlot() {}

    /** How a panel draws its series. */
    enum Style { BARS, LINES }

    /** Pixels of one panel, and of the title band above the panels. */
    static final int PANEL_W = 760, PANEL_H = 470, TITLE_H = 58;

    /** One chart: categories along x (in the order first added), one bar or line per series. */
    static final class Panel {
        final String title, xLabel, yLabel;
        final Style style;
        final Set<String> categories = new LinkedHashSet<>();
        final Map<String, Map<String, Double>> series = new LinkedHashMap<>();
        final Set<String> lines = new LinkedHashSet<>();

        Panel(String title, String xLabel, String yLabel, Style style) {
            this.title = title;
            this.xLabel = xLabel;
            this.yLabel = yLabel;
            this.style = style;
        }

        /** The value of series at category; NaN or infinite values are left out (e.g. no peer). */
        Panel add(String seriesName, String category, double value) {
            categories.add(category);
            Map<String, Double> s = series.computeIfAbsent(seriesName, k -> new LinkedHashMap<>());
            if (Double.isFinite(value)) s.put(category, value);
            return this;
        }

        /** Draws seriesName as a line over the bars (a ceiling or a reference such as memcpy). */
        Panel asLine(String seriesName) {
            lines.add(seriesName);
            return this;
        }

        boolean isEmpty() { return series.values().stream().allMatch(Map::isEmpty); }
    }

    /** "CPU model (Kiln's CPU profile), N cores; YYYY-MM-DD" (UTC): the second line of every chart's title. */
    static String subtitle() {
        var cpu = dev.kiln.backend.cpu.CpuProfile.get();
        return String.format(Locale.ROOT, "%s (%s), %d cores; %s", cpu.model(), cpu.name(),
                Runtime.getRuntime().availableProcessors(), LocalDate.now(ZoneOffset.UTC));
    }

    /**
     * Draws panels (two per row) under title and subtitle() and writes the PNG to file atomically.
     * Panels without any value are left out; with none left the image says so.
     */
    static void write(Path file, String title, List<Panel> panels) throws IOException {
        List<Panel> drawn = panels.stream().filter(p -> !p.isEmpty()).toList();
        int cols = Math.max(1, Math.min(2, drawn.size())), rows = Math.max(1, (drawn.size() + cols - 1) / cols);
        BufferedImage img = new BufferedImage(cols * PANEL_W, TITLE_H + rows * PANEL_H, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, img.getWidth(), img.getHeight());
            g.setColor(Color.BLACK);
            drawFitted(g, title, Font.BOLD, 18, 25, img.getWidth() - 32);
            g.setColor(Color.DARK_GRAY);
            drawFitted(g, subtitle(), Font.PLAIN, 14, 47, img.getWidth() - 32);
            if (drawn.isEmpty()) g.drawString("(nothing was measured)", 16, TITLE_H + 30);
            for (int i = 0; i < drawn.size(); i++) {
                Graphics2D cell = (Graphics2D) g.create((i % cols) * PANEL_W, TITLE_H + (i / cols) * PANEL_H, PANEL_W, PANEL_H);
                try {
                    chart(drawn.get(i)).paint(cell, PANEL_W, PANEL_H);
                } finally {
                    cell.dispose();
                }
            }
        } finally {
            g.dispose();
        }
        ByteArrayOutputStream png = new ByteArrayOutputStream();
        if (!javax.imageio.ImageIO.write(img, "png", png)) throw new IOException("no PNG writer in this JDK");
        byte[] bytes = png.toByteArray();
        dev.kiln.io.AtomicWrite.write(file, ch -> {
            java.nio.ByteBuffer buf = java.nio.ByteBuffer.wrap(bytes);
            while (buf.hasRemaining()) ch.write(buf);
        });
    }

    /** Draws text at (16, y) in the largest size from size down to 11 points that fits width, cut short if none does. */
    private static void drawFitted(Graphics2D g, String text, int style, int size, int y, int width) {
        Font f = new Font(Font.SANS_SERIF, style, size);
        while (g.getFontMetrics(f).stringWidth(text) > width && f.getSize() > 11) f = f.deriveFont((float) f.getSize() - 1);
        g.setFont(f);
        String t = text;
        while (t.length() > 1 && g.getFontMetrics().stringWidth(t) > width) t = t.substring(0, t.length() - 2) + "\u2026";
        g.drawString(t, 16, y);
    }

    /** The XChart chart of one panel. */
    static CategoryChart chart(Panel p) {
        CategoryChart c = new CategoryChart(PANEL_W, PANEL_H, Styler.ChartTheme.XChart);
        c.setTitle(p.title.length() > 96 ? p.title.substring(0, 95) + "\u2026" : p.title);
        c.setXAxisTitle(p.xLabel);
        c.setYAxisTitle(p.yLabel);
        CategoryStyler s = c.getStyler();
        s.setChartBackgroundColor(Color.WHITE);
        s.setPlotBorderVisible(false);
        s.setPlotGridVerticalLinesVisible(false);
        s.setLegendPosition(Styler.LegendPosition.OutsideS);
        s.setLegendLayout(Styler.LegendLayout.Horizontal);
        s.setLegendBorderColor(Color.WHITE);
        s.setChartTitleFont(new Font(Font.SANS_SERIF, Font.BOLD, 15));
        s.setChartTitleBoxVisible(false);
        s.setAvailableSpaceFill(0.8);
        long barSeries = p.series.entrySet().stream().filter(e -> !e.getValue().isEmpty() && !p.lines.contains(e.getKey())).count();
        s.setOverlapped(p.style == Style.LINES || barSeries <= 1);   // everything at the category's centre, unless bars stand side by side
        s.setYAxisMin(0.0);
        s.setDefaultSeriesRenderStyle(p.style == Style.LINES ? CategorySeriesRenderStyle.Line : CategorySeriesRenderStyle.Bar);
        int longest = p.categories.stream().mapToInt(String::length).max().orElse(0);
        if (7 * longest > (PANEL_W - 80) / Math.max(1, p.categories.size()) - 12) { // ~7 px a character: tilted, else XChart drops labels that overlap
            s.setXAxisLabelRotation(longest > 8 ? 40 : 20);
            s.setXAxisMaxLabelCount(p.categories.size());
        }
        long bars = barSeries * p.categories.size();
        if (p.style == Style.BARS && bars <= 16) {
            s.setLabelsVisible(true);           // the value on each bar
            s.setLabelsFont(new Font(Font.SANS_SERIF, Font.PLAIN, 11));
            s.setLabelsFontColorAutomaticEnabled(false);
            s.setLabelsFontColor(Color.BLACK);
            s.setLabelsPosition(1.02);
        }
        s.setYAxisDecimalPattern("#,##0.##");
        List<String> xs = new ArrayList<>(p.categories);
        int kiln = 0, other = 0;
        for (var e : p.series.entrySet()) {
            if (e.getValue().isEmpty()) continue;
            List<Double> ys = new ArrayList<>(xs.size());
            for (String x : xs) ys.add(e.getValue().get(x)); // null: no value here
            var series = c.addSeries(e.getKey(), xs, ys);
            boolean ours = e.getKey().startsWith("Kiln");
            Color color = ours ? KILN[kiln++ % KILN.length] : OTHERS[other++ % OTHERS.length];
            series.setFillColor(color);
            series.setLineColor(color);
            series.setMarkerColor(color);
            if (p.lines.contains(e.getKey())) {
                series.setChartCategorySeriesRenderStyle(CategorySeriesRenderStyle.Line);
                series.setOverlapped(true);
            }
        }
        return c;
    }

    /** Kiln's series in blues, the peers' and the rest in warm colours and greys, the same in every chart. */
    private static final Color[] KILN = {new Color(0x1f77b4), new Color(0x6baed6), new Color(0x08306b), new Color(0x9ecae1)};
    private static final Color[] OTHERS = {new Color(0xff7f0e), new Color(0xd62728), new Color(0x2ca02c), new Color(0x7f7f7f),
            new Color(0x9467bd), new Color(0x8c564b), new Color(0xe377c2), new Color(0xbcbd22)};
}
