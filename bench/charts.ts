import { scaleLinear, scaleLog, type ScaleContinuousNumeric } from "d3-scale";

// Inline SVG charts for the report, one comparison each, laid out to stay readable on a phone:
// a narrow viewBox scaled to the page's width (so text keeps a legible size), no rotated text,
// axis titles and legends in bands of their own outside the plotted data, and tick labels
// kept only where they fit. Ticks come from d3-scale (nice() domains, 1-2-5 steps); widths
// of text are estimated, as there is no DOM to measure when the report is written.

/** Width of every chart in SVG units; the page scales it to its own width. */
const VIEW_WIDTH = 440;
const FONT = 13;
/** Average glyph width of sans-serif text relative to its size, rounded up so estimates err wide. */
const GLYPH_EM = 0.62;
const LINE = 20;
const BAR = 16;
const BAR_GAP = 4;
const GROUP_GAP = 10;
const PLOT_HEIGHT = 180;
/** Ticks asked of d3 on a line chart's y axis: a label per 36 units of its height at most. */
const Y_TICKS = Math.floor(PLOT_HEIGHT / 36);
/** Space kept between neighbouring tick labels. */
const TICK_GAP = 10;
/** Baseline of x tick labels below the plot: clear of the lowest y tick label beside it. */
const X_LABEL_DROP = 20;
const MAX_TICKS = 8;
const GRID = "#e4e4e4";
const INK = "#222";
const MUTED = "#555";

const escapeXml = (text: string) => text.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
const textWidth = (text: string) => text.length * FONT * GLYPH_EM;
const n1 = (n: number) => n.toFixed(1);

function text(x: number, y: number, content: string, attrs = ""): string {
  return `<text x="${n1(x)}" y="${n1(y)}"${attrs ? ` ${attrs}` : ""}>${escapeXml(content)}</text>`;
}

function svg(title: string, height: number, body: string): string {
  return `<svg viewBox="0 0 ${VIEW_WIDTH} ${Math.ceil(height)}" width="100%" role="img" aria-label="${escapeXml(title)}" font-family="sans-serif" font-size="${FONT}" fill="${INK}">${body}</svg>`;
}

/** A value as printed beside a bar or on a log axis: thousands separated, at most 3 decimals. */
function numberLabel(value: number): string {
  return value.toLocaleString("en-US", { maximumFractionDigits: 3 });
}

/** True when labels centred at the given x positions leave TICK_GAP between neighbours. */
function fits(ticks: [number, string][]): boolean {
  return ticks.every(
    ([x, label], i) =>
      i === 0 || x - ticks[i - 1]![0] >= (textWidth(label) + textWidth(ticks[i - 1]![1])) / 2 + TICK_GAP,
  );
}

/** Ticks of a linear scale with d3's labels for them: as many decimals as the step needs, thousands separated. */
function linearTicks(scale: ScaleContinuousNumeric<number, number>, count: number): [number, string][] {
  const format = scale.tickFormat(count, ",~f");
  return scale.ticks(count).map((v): [number, string] => [scale(v), format(v)]);
}

/** The most ticks d3 offers on a linear scale whose labels still fit side by side. */
function horizontalTicks(scale: ScaleContinuousNumeric<number, number>): [number, string][] {
  for (let count = MAX_TICKS; count > 2; count--) {
    const ticks = linearTicks(scale, count);
    if (fits(ticks)) return ticks;
  }
  return linearTicks(scale, 2);
}

const isDecade = (v: number) => Math.abs(Math.log10(v) - Math.round(Math.log10(v))) < 1e-9;
/** 1..9: the leading digit of a tick of a log scale. */
const leadingDigit = (v: number) => Math.round(v / 10 ** Math.floor(Math.log10(v) + 1e-9));

/** Powers of ten of a log scale, with 2 and 5 between them when there is room. */
function logTicks(scale: ScaleContinuousNumeric<number, number>): [number, string][] {
  const at = (values: number[]) => values.map((v): [number, string] => [scale(v), numberLabel(v)]);
  const withHalves = at(scale.ticks().filter((v) => [1, 2, 5].includes(leadingDigit(v))));
  if (fits(withHalves)) return withHalves;
  // Every other decade until they fit.
  let decades = at(scale.ticks().filter(isDecade));
  while (!fits(decades) && decades.length > 2) decades = decades.filter((_, i) => i % 2 === 0);
  return decades;
}

function xAxis(ticks: [number, string][], top: number, bottom: number, labelY: number): string {
  return `<g class="axis">${ticks
    .map(
      ([x, label]) =>
        `<line x1="${n1(x)}" x2="${n1(x)}" y1="${n1(top)}" y2="${n1(bottom)}" stroke="${GRID}"/>${text(x, labelY, label, 'text-anchor="middle"')}`,
    )
    .join("")}</g>`;
}

/** Swatches and names in rows above the plot, wrapped to the chart's width. Returns the SVG and its height. */
function legend(entries: { name: string; color: string }[], top: number): [string, number] {
  let x = 0;
  let row = 0;
  const items = entries.map(({ name, color }) => {
    const width = 18 + textWidth(name) + 16;
    if (x > 0 && x + width > VIEW_WIDTH) {
      x = 0;
      row += 1;
    }
    const y = top + row * LINE;
    const item = `<rect x="${n1(x)}" y="${n1(y + 3)}" width="12" height="12" fill="${color}"/>${text(x + 18, y + 14, name)}`;
    x += width;
    return item;
  });
  return [`<g class="legend">${items.join("")}</g>`, (row + 1) * LINE + 4];
}

export interface Series {
  name: string;
  color: string;
  /** A colour per group, when bars of one series differ in kind; the caption says how. */
  colors?: string[];
  /** One value per group, in the groups' order. */
  values: number[];
  /** What to print beside each bar; the value itself when omitted. */
  valueLabels?: string[];
}

export interface BarChart {
  title: string;
  /** The axis title, with its unit. */
  axis: string;
  groups: string[];
  /** One series: one bar per group and no legend. Several: a legend above the plot. */
  series: Series[];
  /** A limit to draw as a vertical line, labelled above the plot. */
  reference?: { value: number; label: string };
}

/** Horizontal bars: groups down the side (readable names on a narrow screen), values along the bottom. */
export function barChart(chart: BarChart): string {
  const { series, groups, reference } = chart;
  const valueLabel = (s: Series, g: number) => s.valueLabels?.[g] ?? numberLabel(s.values[g]!);
  const labelWidth = Math.max(...groups.map(textWidth)) + 10;
  const valueWidth = Math.max(...series.flatMap((s) => groups.map((_, g) => textWidth(valueLabel(s, g))))) + 8;
  const max = Math.max(reference?.value ?? 0, ...series.flatMap((s) => s.values), 1e-9);
  const scale = scaleLinear()
    .domain([0, max])
    .nice()
    .range([labelWidth, VIEW_WIDTH - valueWidth]);
  const parts: string[] = [];
  let top = 0;
  if (series.length > 1) {
    const [svgLegend, height] = legend(series, top);
    parts.push(svgLegend);
    top += height;
  }
  if (reference) {
    const x = scale(reference.value);
    const half = textWidth(reference.label) / 2;
    const labelX = Math.min(VIEW_WIDTH - half, Math.max(half, x));
    parts.push(text(labelX, top + 14, reference.label, `text-anchor="middle" fill="${MUTED}" class="reference"`));
    top += LINE;
  }
  const groupHeight = series.length * (BAR + BAR_GAP) - BAR_GAP;
  const plotTop = top;
  const plotBottom = plotTop + groups.length * (groupHeight + GROUP_GAP) - GROUP_GAP;
  const ticks = horizontalTicks(scale);
  parts.push(xAxis(ticks, plotTop, plotBottom, plotBottom + X_LABEL_DROP));
  groups.forEach((group, g) => {
    const groupTop = plotTop + g * (groupHeight + GROUP_GAP);
    parts.push(text(labelWidth - 8, groupTop + groupHeight / 2 + 4.5, group, 'text-anchor="end"'));
    series.forEach((s, i) => {
      const y = groupTop + i * (BAR + BAR_GAP);
      const width = Math.max(0, scale(s.values[g]!) - labelWidth);
      const label = valueLabel(s, g);
      parts.push(
        `<rect class="mark" x="${n1(labelWidth)}" y="${n1(y)}" width="${n1(width)}" height="${BAR}" fill="${s.colors?.[g] ?? s.color}"><title>${escapeXml(`${group} ${s.name}: ${label}`)}</title></rect>`,
        text(labelWidth + width + 4, y + BAR - 3.5, label, 'class="value"'),
      );
    });
  });
  if (reference) {
    const x = scale(reference.value);
    parts.push(
      `<line class="reference" x1="${n1(x)}" x2="${n1(x)}" y1="${n1(plotTop - 2)}" y2="${n1(plotBottom)}" stroke="${INK}" stroke-dasharray="4 3"/>`,
    );
  }
  parts.push(
    `<line x1="${n1(labelWidth)}" x2="${n1(labelWidth)}" y1="${n1(plotTop)}" y2="${n1(plotBottom)}" stroke="${INK}"/>`,
  );
  parts.push(
    text(
      (labelWidth + VIEW_WIDTH - valueWidth) / 2,
      plotBottom + X_LABEL_DROP + LINE,
      chart.axis,
      'text-anchor="middle" class="axis-title"',
    ),
  );
  return svg(chart.title, plotBottom + X_LABEL_DROP + LINE + 6, parts.join(""));
}

export interface LineChart {
  title: string;
  xAxis: string;
  yAxis: string;
  points: [number, number][];
  color: string;
  /** Logarithmic x axis (latency spans decades). */
  xLog?: boolean;
}

/** One series as a line: an axis title band above, tick labels and the x title below. */
export function lineChart(chart: LineChart): string {
  const xs = chart.points.map(([x]) => x);
  const ys = chart.points.map(([, y]) => y);
  const yScale = scaleLinear()
    .domain([0, Math.max(1e-9, ...ys)])
    .nice();
  // The widest y label sets the left margin, before the range (and so the positions) is known.
  const left = Math.max(...linearTicks(yScale, Y_TICKS).map(([, label]) => textWidth(label))) + 8;
  // Below the y title's band, with room for the top tick label's ascent.
  const plotTop = LINE + 10;
  const plotBottom = plotTop + PLOT_HEIGHT;
  yScale.range([plotBottom, plotTop]);
  // The last x label may reach past the plot by half its width.
  const right = VIEW_WIDTH - textWidth("100,000") / 2;
  const xScale = (
    chart.xLog
      ? scaleLog().domain([Math.max(1e-3, Math.min(...xs)), Math.max(...xs)])
      : scaleLinear().domain([0, Math.max(1e-9, ...xs)])
  )
    .nice()
    .range([left, right]);
  const xTicks = chart.xLog ? logTicks(xScale) : horizontalTicks(xScale);
  const yAxis = `<g class="axis">${linearTicks(yScale, Y_TICKS)
    .map(([y, label]) => {
      return `<line x1="${n1(left)}" x2="${n1(right)}" y1="${n1(y)}" y2="${n1(y)}" stroke="${GRID}"/>${text(left - 6, y + 4.5, label, 'text-anchor="end"')}`;
    })
    .join("")}</g>`;
  const points = chart.points.map(([x, y]) => `${n1(xScale(x))},${n1(yScale(y))}`).join(" ");
  const body = [
    text(0, 14, chart.yAxis, 'class="axis-title"'),
    yAxis,
    xAxis(xTicks, plotTop, plotBottom, plotBottom + X_LABEL_DROP),
    `<line x1="${n1(left)}" x2="${n1(right)}" y1="${n1(plotBottom)}" y2="${n1(plotBottom)}" stroke="${INK}"/>`,
    `<polyline class="mark" fill="none" stroke="${chart.color}" stroke-width="2" points="${points}"/>`,
    text((left + right) / 2, plotBottom + X_LABEL_DROP + LINE, chart.xAxis, 'text-anchor="middle" class="axis-title"'),
  ];
  return svg(chart.title, plotBottom + X_LABEL_DROP + LINE + 6, body.join(""));
}
