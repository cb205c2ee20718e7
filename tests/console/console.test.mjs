// The operator console in a real headless Chromium (make test-console):
// log in, create a subscription with a filter that does not compile (the
// error is shown at its position) and then a good one (its secret shown
// once), send events to a receiver that answers 503 with an HTML body for
// one entity, see the parked key and the escaped body on the
// subscription's page, and see each stage on the overview. Each step
// asserts what the page shows. Screenshots go to docs/console/ for
// docs/console.md, so they follow the pages.
//
// scripts/console.sh starts surge dev and passes SURGE_CONSOLE_ADMIN_URL,
// SURGE_CONSOLE_INGEST_URL and SURGE_CONSOLE_TOKEN_FILE.
import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { readFileSync, mkdirSync } from "node:fs";
import { chromium } from "playwright-core";

const admin = process.env.SURGE_CONSOLE_ADMIN_URL;
const ingest = process.env.SURGE_CONSOLE_INGEST_URL;
const token = readFileSync(process.env.SURGE_CONSOLE_TOKEN_FILE, "utf8").trim();
const shots = process.env.SURGE_CONSOLE_SCREENSHOTS || "docs/console";
const chromiumPath = process.env.CHROMIUM || "/usr/bin/chromium";
const failBody = '<script>window.__pwned = true</script> upstream down';

// A receiver on loopback: 503 with an HTML body for order:P, 400 for
// order:X while refuseX is set (so those are dead-lettered, and the replay
// finds them accepted), 200 otherwise. got counts answers by "id status".
const receiverState = { refuseX: true, got: new Map() };
function startReceiver() {
  return new Promise((resolve) => {
    const srv = http.createServer((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        let id = "";
        try { id = JSON.parse(body).entity.id; } catch { /* not a delivery */ }
        let status = 200;
        if (id === "P") status = 503;
        else if (id === "X" && receiverState.refuseX) status = 400;
        const k = `${id} ${status}`;
        receiverState.got.set(k, (receiverState.got.get(k) || 0) + 1);
        if (status === 503) {
          res.writeHead(503, { "content-type": "text/html" });
          res.end(failBody);
          return;
        }
        res.writeHead(status);
        res.end(status === 400 ? "no such order" : "ok");
      });
    });
    srv.listen(0, "127.0.0.1", () => resolve(srv));
  });
}

async function postEvent(id, n) {
  const r = await fetch(`${ingest}/v1/events`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ type: "order.updated", entity: { type: "order", id }, data: { n } }),
  });
  assert.equal(r.status, 202, `POST order ${id}`);
}

// navTiming is the page's own load time: navigation start to load end.
async function navTiming(page) {
  return page.evaluate(() => {
    const [n] = performance.getEntriesByType("navigation");
    return { server_ms: n.responseStart - n.requestStart, load_ms: n.loadEventEnd - n.startTime };
  });
}

test("the console in Chromium", { timeout: 240_000 }, async (t) => {
  mkdirSync(shots, { recursive: true });
  const receiver = await startReceiver();
  const receiverURL = `http://127.0.0.1:${receiver.address().port}/hook`;
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  t.after(async () => { await browser.close(); receiver.close(); });
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();
  const dialogs = [];
  page.on("dialog", (d) => { dialogs.push(d.message()); d.dismiss(); });

  // Log in: a page without a session goes to the login form.
  await page.goto(`${admin}/console/`);
  assert.match(page.url(), /\/console\/login$/);
  await page.screenshot({ path: `${shots}/login.png` });
  await page.fill("#token", "not-the-token-0123456789");
  await page.click("button[type=submit]");
  assert.match(await page.locator("p.error").textContent(), /not the admin token/);
  await page.fill("#token", token);
  await page.click("button[type=submit]");
  await page.waitForURL(`${admin}/console/`);
  assert.equal(await page.locator("h1").textContent(), "Overview");
  assert.ok(!page.url().includes(token), "the token is not in the URL");
  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name === "surge_console");
  assert.ok(session && session.httpOnly && session.secure && session.sameSite === "Strict", `session cookie ${JSON.stringify(session)}`);

  // A filter that does not compile: the error, at its position.
  await page.click("nav >> text=Subscriptions");
  await page.waitForURL(`${admin}/console/subscriptions`);
  const badFilter = 'type == "order.placed" &&';
  await page.fill("#url", receiverURL);
  await page.fill("#event_types", "order.*");
  await page.fill("#filter", badFilter);
  await page.fill("#retry_schedule", "10m");
  await page.click("#create button[type=submit]");
  const filterError = page.locator("#filter-error");
  await filterError.waitFor();
  const shown = await filterError.textContent();
  assert.match(shown, /line 1, column \d+/);
  const col = Number(shown.match(/column (\d+)/)[1]);
  const caretLine = shown.split("\n")[1];
  assert.equal(caretLine.indexOf("^"), col - 1, `the caret stands under column ${col}: ${JSON.stringify(shown)}`);
  assert.match(await page.locator("#create-error").textContent(), /filter/);
  assert.equal(await page.inputValue("#filter"), badFilter, "the form keeps what was typed");
  assert.equal(await page.locator("table tbody tr").count(), 0, "nothing was created");
  await page.screenshot({ path: `${shots}/filter-error.png`, fullPage: true });

  // A good one: created, its secret shown once.
  await page.fill("#filter", 'entity.type == "order"');
  await page.click("#create button[type=submit]");
  const secret = (await page.locator("#secret").textContent()).trim();
  assert.match(secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
  const subID = (await page.locator("main a code").first().textContent()).trim();
  assert.match(subID, /^sub_/);
  await page.screenshot({ path: `${shots}/created.png`, mask: [page.locator("#secret")] });

  await page.goto(`${admin}/console/subscriptions`);
  const row = page.locator("table tbody tr", { hasText: subID });
  assert.equal(await row.locator(".status").textContent(), "active");
  assert.ok(!(await page.content()).includes(secret), "the list does not show the secret");
  await page.screenshot({ path: `${shots}/subscriptions.png`, fullPage: true });
  const listTiming = await navTiming(page);

  // Events: order:P fails with 503 and parks, order:OK is delivered.
  await postEvent("P", 1);
  await postEvent("OK", 1);
  await postEvent("P", 2);
  await postEvent("P", 3);
  for (const n of [1, 2, 3]) await postEvent("X", n);
  const detailURL = `${admin}/console/subscriptions/${subID}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    await page.goto(detailURL);
    const lanes = await page.locator("#lanes tbody tr").count();
    const attempts = await page.locator("#attempts tbody tr").count();
    if (lanes === 1 && attempts >= 2 && (await page.locator("#lanes tbody tr td").nth(5).textContent()) === "2") break;
    assert.ok(Date.now() < deadline, "order:P parked with two behind it, and two attempts, within 60 s");
    await page.waitForTimeout(500);
  }
  const lane = page.locator("#lanes tbody tr").first();
  assert.equal(await lane.locator("td").nth(0).textContent(), "order:P");
  assert.match(await lane.locator("td").nth(2).textContent(), /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/, "the next attempt is shown");
  assert.match(await lane.locator("td").nth(4).textContent(), /503/);
  const failed = page.locator("#attempts tbody tr", { hasText: "order:P" }).first();
  assert.match(await failed.locator(".status").textContent(), /503/);
  await failed.locator("summary").click();
  assert.equal((await failed.locator("pre.body").textContent()).trim(), failBody, "the answer is shown as text");
  assert.equal(await page.evaluate(() => window.__pwned === true), false, "the answer's script did not run");
  assert.deepEqual(dialogs, []);
  assert.ok(!(await page.content()).includes(secret), "the detail page does not show the secret");
  await page.screenshot({ path: `${shots}/subscription.png`, fullPage: true });

  // Dead letters: order:X's three 400s, counted by status.
  const dlqURL = `${admin}/console/dlq?topic=commerce.deliveries.dlq`;
  const dlqDeadline = Date.now() + 60_000;
  for (;;) {
    await page.goto(dlqURL);
    if (/^3 dead letters/.test((await page.locator("#dlq-total .status").textContent()).trim())) break;
    assert.ok(Date.now() < dlqDeadline, "order:X's three 400s dead-lettered within 60 s");
    await page.waitForTimeout(500);
  }
  const by400 = page.locator("#by-status tbody tr", { hasText: "400" });
  assert.equal(await by400.locator("td").nth(1).textContent(), "3", "three dead letters answered 400");
  assert.equal(await page.locator("#by-subscription tbody tr", { hasText: subID }).locator("td").nth(1).textContent(), "3");
  const recordRows = page.locator("#records > tbody > tr");
  assert.equal(await recordRows.count(), 3, "the three records are listed");
  // A delivery's key is its subscription and entity: its lane.
  assert.equal((await recordRows.first().locator("td").nth(2).textContent()).trim(), `${subID}/order:X`);
  await recordRows.first().locator("summary").click();
  assert.match(await recordRows.first().locator("dl.headers").textContent(), /surge\.dlq\.http-status\s*400/);
  await page.screenshot({ path: `${shots}/dlq.png`, fullPage: true });

  // The replay wizard: the dry run counts what the page listed; the replay
  // at 5/s reaches 100 % and the receiver now takes order:X.
  await page.click("#topic-form >> text=Replay…");
  await page.waitForURL(/\/console\/dlq\/replay\?/);
  await page.fill("#subscription", subID);
  await page.fill("#rate", "5");
  await page.click("#wizard button[type=submit]");
  const planned = (await page.locator("#plan-count strong").textContent()).trim();
  assert.equal(planned, "3 records", "the dry run selects the three dead letters");
  assert.equal(await page.locator("#plan-records tbody tr").count(), 3);
  assert.deepEqual([...new Set(await page.locator("#plan-records tbody tr td:nth-child(3)").allTextContents())], [`${subID}/order:X`]);
  await page.screenshot({ path: `${shots}/replay-plan.png`, fullPage: true });
  receiverState.refuseX = false;
  await page.click("#start button[type=submit]");
  await page.waitForURL(/\/console\/dlq\/replays\/[^/]+$/);
  const replayURL = page.url();
  const replayDeadline = Date.now() + 60_000;
  for (;;) {
    const pct = (await page.locator("#replay-percent").textContent()).trim();
    if (pct === "100 %") break;
    assert.ok(Date.now() < replayDeadline, `the replay reaches 100 % within 60 s (at ${pct})`);
    await page.waitForTimeout(500);
    await page.goto(replayURL);
  }
  assert.equal((await page.locator("#replay-count").textContent()).trim(), "3 of 3");
  await page.screenshot({ path: `${shots}/replay.png`, fullPage: true });
  const acceptedDeadline = Date.now() + 60_000;
  while ((receiverState.got.get("X 200") || 0) < 3) {
    assert.ok(Date.now() < acceptedDeadline, `the replayed order:X deliveries reach the receiver (${JSON.stringify([...receiverState.got])})`);
    await page.waitForTimeout(250);
  }

  // Trace: order:X's events by its entity key, then the first one's
  // journey: ingest, enrich, the delivery, the 400 that dead-lettered it
  // and the replay's 200.
  await page.click("nav >> text=Trace");
  await page.waitForURL(`${admin}/console/trace`);
  await page.fill("#q", "order:X");
  await page.click("form[role=search] button[type=submit]");
  const events = page.locator("#entity-events tbody tr");
  assert.equal(await events.count(), 3, "the entity key lists order:X's three events");
  await events.last().locator("a").click(); // newest first: the last row is n=1
  await page.waitForURL(/\/console\/trace\?q=/);
  const steps = page.locator("#trace-steps tbody tr");
  const stepStages = await steps.locator("td:nth-child(2)").allTextContents();
  for (const want of ["ingest", "enrich", "fanout", "dispatcher"]) {
    assert.ok(stepStages.some((st) => st.trim() === want), `the journey has a ${want} step: ${JSON.stringify(stepStages)}`);
  }
  assert.match(await page.locator("#trace-steps tr.step-event", { hasText: "enriched" }).textContent(), /version 1/);
  const tried = page.locator("#trace-steps tr.step-attempt .status");
  assert.deepEqual((await tried.allTextContents()).map((x) => x.trim()), ["HTTP 400", "HTTP 200"], "every attempt: the 400, then the replay's 200");
  assert.equal(await page.locator("#trace-steps tr.step-dead_letter").count(), 1, "the dead letter is in the journey");
  assert.match(await page.locator("#trace-steps pre.delivered").first().textContent(), /"id":\s*"X"/, "the delivered body is shown");
  assert.match(await page.locator("#trace-summary tbody tr", { hasText: subID }).textContent(), /delivered/i);
  await page.screenshot({ path: `${shots}/trace.png`, fullPage: true });

  // Topics: every commerce.* topic with its partitions.
  await page.click("nav >> text=Topics");
  await page.waitForURL(`${admin}/console/topics`);
  for (const topic of ["commerce.events.raw", "commerce.deliveries", "commerce.deliveries.dlq", "commerce.delivery-attempts"]) {
    assert.equal(await page.locator(`section.topic:has(h2 code:text-is("${topic}")) table.partitions tbody tr`).count(), 6, `${topic} has its 6 partitions`);
  }
  await page.screenshot({ path: `${shots}/topics.png` });

  // The overview: the last minute's figures, the failing endpoint, every
  // stage's lag, the subscriptions by state.
  await page.goto(`${admin}/console/`);
  assert.ok(Number((await page.locator("#accepted").textContent()).replace(/[^0-9]/g, "")) >= 7, "the events accepted in the last minute");
  const failing = page.locator("#failing tbody tr", { hasText: subID });
  assert.equal(await failing.count(), 1, "the failing endpoint is on the overview");
  assert.match(await failing.textContent(), /503|400/, "with its last failure");
  assert.equal((await page.locator("#parked .status").textContent()).trim(), "1", "order:P is the one parked key");
  const parkedRow = page.locator("#parked-subscriptions tbody tr", { hasText: subID });
  assert.deepEqual((await parkedRow.locator("td").allTextContents()).slice(1, 3), ["1", "3"], "one key parked, three deliveries waiting");
  const stages = await page.locator("section:has(#lag-h) tbody tr td:first-child").allTextContents();
  assert.deepEqual(stages, ["enrich", "fanout", "dispatcher", "dispatcher"]);
  assert.match(await page.locator("section:has(#subs-h)").textContent(), /1 active/);
  await page.screenshot({ path: `${shots}/overview.png`, fullPage: true });
  const overviewTiming = await navTiming(page);
  console.log(`# page timings (browser): overview ${JSON.stringify(overviewTiming)} subscriptions ${JSON.stringify(listTiming)}`);
});
