// Opens a report.html in headless Chromium and prints, as JSON, what a reader would see:
// console messages and page errors, every request the page made, the sections present,
// the verdict, the totals (elements with data-tax) and the timeline's missing ranges, all
// read from the DOM after rendering; the background in light and dark mode; the page
// breaks and page count when printed. Writes a screenshot of the first page (1280×900).
// Usage: node browser-check.js FILE SHOT.png (see browser-check.sh).
"use strict";
const path = require("path");
const { chromium } = require("playwright-core");

(async () => {
  const [file, shot] = process.argv.slice(2);
  const url = "file://" + path.resolve(file);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: [
      "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
  const out = { console: [], errors: [], requests: [], blocked: [] };
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    page.on("console", (m) => out.console.push({ type: m.type(), text: m.text() }));
    page.on("pageerror", (e) => out.errors.push(String(e)));
    // Every request is recorded; any but the page itself is refused, so a page that tries
    // to load something is caught even when the network would have answered.
    await page.route("**/*", (route) => {
      const u = route.request().url();
      out.requests.push(u);
      if (u === url) {
        return route.continue();
      }
      out.blocked.push(u);
      return route.abort();
    });
    await page.goto(url, { waitUntil: "load" });
    await page.waitForTimeout(300);
    Object.assign(out, await page.evaluate(() => {
      const text = (el) => (el ? el.textContent.trim() : null);
      const verdict = document.getElementById("verdict-word");
      return {
        title: document.title,
        sections: Array.from(document.querySelectorAll("main > section")).map((s) => ({
          id: s.id,
          heading: text(s.querySelector("h2")),
        })),
        verdict: text(verdict),
        verdict_color: verdict ? getComputedStyle(verdict).color : null,
        reconciliation: text(document.getElementById("reconciliation-status")),
        fiat: text(document.getElementById("fiat")),
        totals: Array.from(document.querySelectorAll("[data-tax]")).map((e) => [e.dataset.tax, text(e)]),
        timeline_missing: Array.from(document.querySelectorAll("svg.timeline rect.miss title")).map(text),
        charts: document.querySelectorAll("svg.chart").length,
        csp: (document.querySelector('meta[http-equiv="Content-Security-Policy"]') || {}).content || null,
      };
    }));
    await page.screenshot({ path: shot });
    // The reader's dark preference and the print stylesheet (A4 here; the page leaves the
    // paper size to the printer).
    const background = () => getComputedStyle(document.body).backgroundColor;
    out.background_light = await page.evaluate(background);
    await page.emulateMedia({ colorScheme: "dark" });
    out.background_dark = await page.evaluate(background);
    await page.emulateMedia({ media: "print", colorScheme: "light" });
    out.print_breaks = await page.evaluate(() =>
      Array.from(document.querySelectorAll("main > section")).map((s) => getComputedStyle(s).breakBefore));
    const pdf = await page.pdf({ format: "A4" });
    out.pdf_pages = (pdf.toString("latin1").match(/\/Type\s*\/Page[^s]/g) || []).length;
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify(out) + "\n");
})().catch((e) => {
  console.error(String(e && e.stack ? e.stack : e));
  process.exit(1);
});
