// The panel in a real headless Chromium (Debian's, driven by playwright-core)
// against a real collector process fed by `meshmon simulate`: a bottleneck
// on one link must show as a card with its scope and severity, its page must
// draw the routes with the blamed link and plots with data, the mesh view
// must colour the link, and the card must move to "closed" after recovery.
// The mesh runs 30 times faster than real time, and the collector gets the
// rules scaled by the same factor (rulesForSpeed), so the whole story takes
// about two minutes. Every page may reach loopback only.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { collectorEnvForSpeed, rulesForSpeed } from '../../src/simulate/scaled-rules.ts';
import { createScratchDatabase } from '../support/admin.ts';
import { CHROMIUM, launchBrowser, type TestBrowser } from '../support/browser.ts';
import { MESHMON_BIN, REPO_ROOT, spawnCollector, type CollectorProcess } from '../support/collector-process.ts';
import { tempDataDir } from '../support/temp-dir.ts';

const SPEED = 30;
const ARTIFACTS = path.join(REPO_ROOT, 'test/artifacts');
/** Generous: the machine is shared, and waiting costs nothing when things are on time. */
const WAIT_MS = 150_000;

interface SimEvent { event: string; kind?: string; scope?: any; at?: string; faults?: any[] }

function startSimulator(url: string, args: string[]) {
  const proc = Bun.spawn([MESHMON_BIN, 'simulate', '--url', url, ...args], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', TZ: 'UTC' },
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
  });
  const events: SimEvent[] = [];
  let err = '';
  const waiters: Array<() => void> = [];
  void (async () => {
    const dec = new TextDecoder();
    let buf = '';
    for await (const chunk of proc.stdout) {
      buf += dec.decode(chunk, { stream: true });
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        events.push(JSON.parse(buf.slice(0, nl)) as SimEvent);
        buf = buf.slice(nl + 1);
        for (const w of waiters.splice(0)) w();
      }
    }
  })();
  void (async () => { for await (const chunk of proc.stderr) err += new TextDecoder().decode(chunk); })();
  return {
    proc,
    events,
    stderr: () => err,
    async next(name: string, ms = 30_000): Promise<SimEvent> {
      const deadline = Date.now() + ms;
      while (Date.now() < deadline) {
        const e = events.find((x) => x.event === name);
        if (e) return e;
        if (proc.exitCode !== null) throw new Error(`simulate exited ${proc.exitCode}: ${err}`);
        await new Promise<void>((r) => { waiters.push(r); setTimeout(r, 500); });
      }
      throw new Error(`no ${name} event from simulate within ${ms} ms; stderr: ${err}`);
    },
    async stop() {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      await proc.exited;
    },
  };
}

async function shot(page: Page, name: string) {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
}

// Nothing is downloaded: without the system's Chromium the browser tests are
// skipped on a developer's machine (said so), and fail on CI.
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) console.warn(`panel browser tests: no Chromium at ${CHROMIUM} (apt-get install chromium)${process.env.CI ? '' : '; skipped'}`);

describe.skipIf(!haveChromium && !process.env.CI)('panel in Chromium, fed by meshmon simulate', () => {
  let collector: CollectorProcess | null = null;
  let sim: ReturnType<typeof startSimulator> | null = null;
  let browser: TestBrowser | null = null;
  let drop: (() => Promise<void>) | null = null;
  let rulesDir: { dir: string; remove: () => Promise<void> } | null = null;
  let fault: { a: string; b: string; start: string; end: string };

  beforeAll(async () => {
    const modes = (process.env.MESHMON_TEST_MODES ?? 'none').split(',');
    const scratch = await createScratchDatabase('meshmon_test_panel');
    drop = scratch.drop;
    rulesDir = await tempDataDir('meshmon-panel-rules');
    const rulesFile = path.join(rulesDir.dir, 'rules.json');
    writeFileSync(rulesFile, JSON.stringify(rulesForSpeed(SPEED)));
    collector = await spawnCollector({
      DATABASE_URL: scratch.url,
      TIMESCALEDB: modes.includes('none') ? 'off' : 'auto',
      RULES_FILE: rulesFile,
      ...collectorEnvForSpeed(SPEED),
      ENGINE_INTERVAL: '1',
      PANEL_REFRESH: '2',
      LOG_LEVEL: 'warn',
    });
    await collector.waitForHealth();
    sim = startSimulator(collector.url, ['--nodes', '10', '--seed', '7', '--speed', String(SPEED), '--first', '6', '--faults', 'bottleneck:12']);
    const plan = await sim.next('plan');
    const f = plan.faults![0];
    fault = { a: f.scope.a, b: f.scope.b, start: f.start, end: f.end };
    browser = await launchBrowser();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await sim?.stop();
    await collector?.stop();
    await drop?.();
    await rulesDir?.remove();
  }, 60_000);

  test('a bottleneck: its card, its page (route chain, plots), the mesh view, and closed after recovery', async () => {
    const page = await browser!.newPage();
    await page.goto(`${collector!.url}/`);
    // The page refreshes itself (PANEL_REFRESH=2): no reload needed for the card to appear.
    const card = page.locator('#open .card[data-kind="bottleneck"]');
    await card.first().waitFor({ timeout: WAIT_MS });
    expect(await card.count()).toBe(1);
    expect(await card.getAttribute('data-severity')).toBe('critical');
    expect(await card.locator('.scope').innerText()).toBe(`link ${fault.a} ↔ ${fault.b}`);
    expect(await card.locator('h3').innerText()).toBe(`Bottleneck on link ${fault.a} ↔ ${fault.b}`);
    expect(await page.locator('header.health').getAttribute('data-health')).toBe('red');
    const id = (await card.getAttribute('data-id'))!;
    await shot(page, 'panel-incidents-open');

    // Its own page, at the URL alerts link to.
    await card.locator('h3 a').click();
    await page.waitForURL(`**/incidents/${id}`);
    expect(page.url()).toBe(`${collector!.url}/incidents/${id}`);
    const chains = page.locator('ol.chain');
    expect(await chains.count()).toBeGreaterThan(0);
    // Every drawn route crosses the link, and the link is what is marked.
    const blamed = page.locator('ol.chain .hoplink.blamed[data-blamed="link"]');
    expect(await blamed.count()).toBe(await chains.count());
    const firstChain = await chains.first().locator('li').allInnerTexts();
    const at = firstChain.findIndex((t) => t === '⚡');
    expect([firstChain[at - 1], firstChain[at + 1]].sort()).toEqual([fault.a, fault.b].sort());
    // Plots with data points: the link's quality and the routes' RTT/jitter/loss.
    const linkPlot = page.locator(`.plotgroup[data-link="${fault.a},${fault.b}"] svg`).first();
    expect(Number(await linkPlot.getAttribute('data-points'))).toBeGreaterThan(0);
    const routePlots = page.locator('.plotgroup[data-route] svg');
    expect(await routePlots.count()).toBeGreaterThan(0);
    expect(await page.locator('.plotgroup[data-route] svg circle.pt').count()).toBeGreaterThan(0);
    expect(await page.locator('svg rect.period').count()).toBeGreaterThan(0);
    expect(await page.locator('section.cause li').count()).toBeGreaterThan(0);
    expect(await page.locator('section.evidence li').first().innerText()).toContain('worst hop');
    await shot(page, 'panel-incident');

    // The mesh: the link in its incident's colour.
    await page.goto(`${collector!.url}/mesh`);
    const link = page.locator(`svg.mesh a.link[data-link="${fault.a},${fault.b}"]`);
    await link.waitFor({ timeout: WAIT_MS });
    expect(await link.getAttribute('class')).toContain('sev-critical');
    const stroke = await link.locator('line.wire').evaluate((el) => (globalThis as unknown as { getComputedStyle(e: unknown): { stroke: string } }).getComputedStyle(el).stroke);
    expect(stroke).toBe('rgb(198, 40, 40)');
    expect(await page.locator('svg.mesh a.node').count()).toBe(10);
    await shot(page, 'panel-mesh');

    await page.goto(`${collector!.url}/nodes`);
    expect(await page.locator('table.nodes tbody tr').count()).toBe(10);

    // After the fault ends and the engine's close_after passes: closed.
    await sim!.next('fault_end', WAIT_MS);
    await page.goto(`${collector!.url}/`);
    await page.locator(`#closed .card[data-id="${id}"]`).waitFor({ timeout: WAIT_MS });
    expect(await page.locator(`#open .card[data-id="${id}"]`).count()).toBe(0);
    expect(await page.locator(`#closed .card[data-id="${id}"]`).getAttribute('data-status')).toBe('closed');
    await shot(page, 'panel-incidents-closed');
    expect(browser!.outside).toEqual([]);
  }, 400_000);

  test('readable on a phone: no page scrolls sideways (the node table scrolls in its box)', async () => {
    const page = await browser!.newPage();
    await page.setViewportSize({ width: 390, height: 844 });
    const id = await (async () => {
      await page.goto(`${collector!.url}/?status=all`);
      return page.locator('.card').first().getAttribute('data-id');
    })();
    for (const u of ['/', `/incidents/${id}`, '/mesh', '/nodes']) {
      await page.goto(`${collector!.url}${u}`);
      const [scroll, width] = await page.evaluate(() => {
        const d = (globalThis as unknown as { document: { documentElement: { scrollWidth: number; clientWidth: number } } }).document.documentElement;
        return [d.scrollWidth, d.clientWidth];
      });
      expect({ u, sideways: scroll > width }).toEqual({ u, sideways: false });
    }
    await shot(page, 'panel-phone-nodes');
  }, 60_000);

  test('/docs renders the API reference with the outside network blocked', async () => {
    const page = await browser!.newPage();
    const failed: string[] = [];
    page.on('requestfailed', (r) => failed.push(r.url()));
    await page.goto(`${collector!.url}/docs`);
    await page.locator('.opblock').first().waitFor({ timeout: 60_000 });
    const ops = await page.locator('.opblock .opblock-summary-path').allInnerTexts();
    for (const p of ['/issues', '/issues/{id}', '/summary', '/registry', '/paths/{src}/{dst}/series', '/links/{a}/{b}/series', '/ingest']) {
      expect(ops.map((o) => o.replace(/\u200b/g, ''))).toContain(p);
    }
    expect(await page.locator('.info .title').innerText()).toContain('MeshMon Collector API');
    await shot(page, 'docs');
    expect(browser!.outside).toEqual([]);
    expect(failed).toEqual([]);
  }, 120_000);
});
