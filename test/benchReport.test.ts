import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { describe, expect, it } from "vitest";
import { headline, verdict } from "../bench/costs.js";
import { renderReport } from "../bench/report.js";
import type { BenchResult } from "../bench/run.js";
import { PHONE, useChromium } from "./chromium.js";

// The benchmark's HTML report in Debian's chromium, from a real run's latest.json (a 5,000-person
// run on a loaded 2-core machine, test/fixtures/benchResult.json), at a desktop and a phone
// viewport: it opens with the sentence saying what the run showed, no two labels of a chart
// overlap, legends sit off the plotted data, tick labels are round numbers, and a phone
// neither scrolls sideways nor shrinks chart text below a legible size. Screenshots go to
// test-artifacts/bench-report/ to be looked at.

const ARTIFACTS = join(process.cwd(), "test-artifacts", "bench-report");
const fixture = JSON.parse(
  readFileSync(join(import.meta.dirname, "fixtures", "benchResult.json"), "utf8"),
) as BenchResult & {
  command: string;
};
const DESKTOP = { viewport: { width: 1280, height: 900 }, deviceScaleFactor: 1 };
/** Smallest chart text, in CSS pixels, that stays readable on a phone. */
const MIN_CHART_FONT_PX = 10;

const chromium = useChromium(ARTIFACTS);

/** The report opened with every network request refused and counted: it must need none. */
async function openReport(options: typeof DESKTOP | typeof PHONE, name: string): Promise<Page> {
  const page = await (await chromium.browser.newContext(options)).newPage();
  const requested: string[] = [];
  await page.route("**/*", (route) => {
    requested.push(route.request().url());
    return route.abort();
  });
  await page.setContent(renderReport(fixture, fixture.command), { waitUntil: "load" });
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
  expect(requested).toEqual([]);
  return page;
}

/**
 * What is wrong with each chart, measured in the page: labels that overlap, legend entries on
 * the plotted data, tick labels that are not round. A legend entry is a text or swatch in a
 * `g.legend`, or a text right after a swatch (a rect of at most 12 units); plotted data are
 * polylines, paths and the other rects. Tick labels are the texts that read as a number
 * (with a unit at most), except the value printed beside a bar (`text.value`); every text of
 * a `g.axis` must be one (not "2e+2").
 */
function chartProblems(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    type Box = { left: number; right: number; top: number; bottom: number };
    // Half a pixel of slack: glyph boxes of neighbouring labels may touch.
    const overlap = (a: Box, b: Box) =>
      Math.min(a.right, b.right) - Math.max(a.left, b.left) > 0.5 &&
      Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > 0.5;
    const isSwatch = (el: Element | null): el is SVGRectElement =>
      el instanceof SVGRectElement && el.width.baseVal.value <= 12 && el.height.baseVal.value <= 12;
    const problems: string[] = [];
    document.querySelectorAll("svg").forEach((svg, chart) => {
      const texts = [...svg.querySelectorAll("text")];
      for (let i = 0; i < texts.length; i++)
        for (let j = i + 1; j < texts.length; j++)
          if (overlap(texts[i]!.getBoundingClientRect(), texts[j]!.getBoundingClientRect()))
            problems.push(`chart ${chart}: "${texts[i]!.textContent}" overlaps "${texts[j]!.textContent}"`);

      const legend = [
        ...svg.querySelectorAll("g.legend *"),
        ...texts.filter((t) => isSwatch(t.previousElementSibling)),
        ...texts.map((t) => t.previousElementSibling).filter(isSwatch),
      ];
      const marks = [...svg.querySelectorAll("polyline, path, rect")].filter(
        (el) => !legend.includes(el) && !isSwatch(el),
      );
      for (const entry of new Set(legend))
        for (const mark of marks)
          if (overlap(entry.getBoundingClientRect(), mark.getBoundingClientRect()))
            problems.push(
              `chart ${chart}: legend "${entry.textContent || entry.nextElementSibling?.textContent}" lies on the plotted data`,
            );

      for (const t of texts) {
        const match = /^(-?[\d,]*\.?\d+)\s*(ms|s|%)?$/.exec(t.textContent!.trim());
        if (!match && t.closest("g.axis"))
          problems.push(`chart ${chart}: tick label "${t.textContent}" is not a plain number`);
        if (!match || t.classList.contains("value")) continue;
        const value = Number(match[1]!.replace(/,/g, ""));
        // Round: at most two significant digits (0, 5, 20, 250, 1,500, 0.02; not 2,886.4).
        const significant = value === 0 ? 0 : value.toExponential().split("e")[0]!.replace(/[-.]/g, "").length;
        if (significant > 2) problems.push(`chart ${chart}: tick label "${t.textContent}" is not a round number`);
      }
    });
    return [...new Set(problems)];
  });
}

// Each check is soft: a report with several defects is told all of them at once.
describe("benchmark report in chromium", () => {
  const sentence = headline(verdict(fixture));

  it("reads on a desktop: the sentence first, labels apart, legends off the data, round ticks", async () => {
    const page = await openReport(DESKTOP, "desktop");
    expect(sentence).toMatch(/^5,000 people: the engine spent [\d,]+ µs of CPU per person across its processes, /);
    expect.soft(await page.locator("body p").first().textContent()).toBe(sentence);
    expect.soft(await page.locator("svg").count()).toBeGreaterThanOrEqual(4);
    const problems = await chartProblems(page);
    expect.soft(problems, problems.join("\n")).toEqual([]);
  });

  it("reads on a phone: no sideways scroll, legible chart text, and the same checks", async () => {
    const page = await openReport(PHONE, "phone");
    expect.soft(await page.locator("body p").first().textContent()).toBe(sentence);
    // Without a device-width viewport a phone lays the page out 980 px wide and shrinks it.
    const viewport = await page.evaluate(() =>
      document.querySelector('meta[name="viewport"]')?.getAttribute("content"),
    );
    expect.soft(viewport).toMatch(/width=device-width/);
    const widths = await page.evaluate(() => ({
      inner: window.innerWidth,
      scroll: document.documentElement.scrollWidth,
    }));
    expect.soft(widths).toEqual({ inner: PHONE.viewport.width, scroll: PHONE.viewport.width });
    // Font size times the chart's scale, times the phone's own shrinking of a page laid out wider than its screen.
    const smallestFontPx = await page.evaluate(() =>
      Math.min(
        ...[...document.querySelectorAll("svg text")].map(
          (t) =>
            (Number.parseFloat(getComputedStyle(t).fontSize) *
              (t as SVGTextElement).ownerSVGElement!.getScreenCTM()!.a *
              window.screen.width) /
            window.innerWidth,
        ),
      ),
    );
    expect.soft(smallestFontPx).toBeGreaterThanOrEqual(MIN_CHART_FONT_PX);
    const problems = await chartProblems(page);
    expect.soft(problems, problems.join("\n")).toEqual([]);
  });
});
