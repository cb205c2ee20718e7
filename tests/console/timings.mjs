// The console's page load times as a browser sees them, for
// BenchmarkConsolePages (cmd/surge/console_bench_test.go), which seeds
// surge dev with 1,000 subscriptions and 100,000 attempts and runs this
// with SURGE_CONSOLE_ADMIN_URL, SURGE_CONSOLE_TOKEN and
// SURGE_CONSOLE_PAGES (name=path, comma separated). It logs in once in
// headless Chromium, loads each page SURGE_CONSOLE_LOADS times (default
// 5) and prints one JSON line per page: the median and the worst of the
// server time (request start to response start) and of the load time
// (navigation start to the load event's end), from Navigation Timing.
import { chromium } from "playwright-core";

const admin = process.env.SURGE_CONSOLE_ADMIN_URL;
const token = process.env.SURGE_CONSOLE_TOKEN;
const pages = (process.env.SURGE_CONSOLE_PAGES || "overview=/console/").split(",").map((p) => p.split("="));
const loads = Number(process.env.SURGE_CONSOLE_LOADS || 5);
const chromiumPath = process.env.CHROMIUM || "/usr/bin/chromium";
if (!admin || !token) {
  console.error("timings.mjs: SURGE_CONSOLE_ADMIN_URL and SURGE_CONSOLE_TOKEN are required");
  process.exit(2);
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };

const browser = await chromium.launch({
  executablePath: chromiumPath,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
try {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 860 } })).newPage();
  await page.goto(`${admin}/console/login`);
  await page.fill("#token", token);
  await page.click("button[type=submit]");
  await page.waitForURL(`${admin}/console/`);
  for (const [name, path] of pages) {
    const server = [], load = [];
    for (let i = 0; i < loads; i++) {
      const resp = await page.goto(`${admin}${path}`, { waitUntil: "load" });
      if (!resp || resp.status() !== 200) throw new Error(`GET ${path}: ${resp && resp.status()}`);
      const t = await page.evaluate(() => {
        const [n] = performance.getEntriesByType("navigation");
        return { server: n.responseStart - n.requestStart, load: n.loadEventEnd - n.startTime };
      });
      server.push(t.server);
      load.push(t.load);
    }
    console.log(JSON.stringify({ page: name, loads, server_ms: median(server), server_max_ms: Math.max(...server),
      load_ms: median(load), load_max_ms: Math.max(...load) }));
  }
} finally {
  await browser.close();
}
