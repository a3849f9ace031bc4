// The review page in a real browser (Debian's chromium through playwright-core), against the
// real server over a real dataset: what a person sees (box colours and styles, checked on the
// screenshot's pixels where the record's JSON says the boxes are), what the category filter
// shows, and that a box rejected with the keyboard is logged and gone from a fresh COCO export.
// A missing chromium fails this suite (it does not skip): the page would otherwise go untested.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import sharp from 'sharp';
import { exportCoco } from '../../cli/commands/export';
import type { CocoDataset } from '../exports/coco';
import { HUMAN_VERDICTS_FILE } from './human-verdicts';
import { startReviewServer, type ReviewServer } from './review-server';
import type { BoxView, RecordView } from './review-view';
import { makeReviewDataset } from './review.testkit';

const ROOT = path.resolve(__dirname, '..', '..');
const ACCEPTED = '#00c853';
const REJECTED = '#ff1744';
const REVIEWER = 'browser-test';

/** CHROMIUM_PATH (a path or a name on PATH), else chromium or chromium-browser on PATH. */
function chromiumPath(): string {
  const runnable = (p: string) => {
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return fs.statSync(p).isFile();
    } catch {
      return false;
    }
  };
  const onPath = (name: string) =>
    name.includes('/')
      ? runnable(name)
        ? name
        : null
      : ((process.env.PATH ?? '')
          .split(path.delimiter)
          .map((d) => path.join(d, name))
          .find(runnable) ?? null);
  const wanted = process.env.CHROMIUM_PATH;
  const found = wanted ? onPath(wanted) : (onPath('chromium') ?? onPath('chromium-browser'));
  if (found) return found;
  throw new Error(
    (wanted ? `CHROMIUM_PATH=${wanted} is not an executable file.` : 'No chromium: neither `chromium` nor `chromium-browser` is on PATH.') +
      ' The review page browser test needs it: run `make setup` (scripts/ensure-chromium.sh), or `apt-get install chromium`, or set CHROMIUM_PATH.',
  );
}

type Rgb = [number, number, number];
const rgb = (hex: string): Rgb => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)) as Rgb;

interface Shot {
  data: Buffer;
  width: number;
  height: number;
}
async function decode(png: Buffer): Promise<Shot> {
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}
/** Within `tol` of `c` on every channel (anti-aliasing and blending stay outside it). */
function is(s: Shot, x: number, y: number, c: Rgb, tol = 40): boolean {
  if (x < 0 || y < 0 || x >= s.width || y >= s.height) return false;
  const o = (y * s.width + x) * 3;
  return Math.abs(s.data[o]! - c[0]) <= tol && Math.abs(s.data[o + 1]! - c[1]) <= tol && Math.abs(s.data[o + 2]! - c[2]) <= tol;
}

/** A point on an edge of a box on screen; `horizontal` is the edge's direction. */
interface EdgePoint {
  x: number;
  y: number;
  horizontal: boolean;
}
type Rect = { x1: number; y1: number; x2: number; y2: number };
/** Half the length of edge sampled around a point, and the tolerance across it (rounding, stroke width). */
const ALONG = 12;
const ACROSS = 4;

/** The pixels along the edge through `p`: per offset across it, how many of the 2*ALONG+1 pixels are `c`. */
function edgeRuns(s: Shot, p: EdgePoint, c: Rgb): number[] {
  const runs: number[] = [];
  for (let a = -ACROSS; a <= ACROSS; a++) {
    let n = 0;
    for (let t = -ALONG; t <= ALONG; t++)
      if (p.horizontal ? is(s, Math.round(p.x) + t, Math.round(p.y) + a, c) : is(s, Math.round(p.x) + a, Math.round(p.y) + t, c)) n++;
    runs.push(n);
  }
  return runs;
}

/** Points on the edges of `r`, middles first. */
function edgePoints(r: Rect): EdgePoint[] {
  const out: EdgePoint[] = [];
  for (const t of [0.5, 0.35, 0.65, 0.2, 0.8]) {
    const x = r.x1 + t * (r.x2 - r.x1);
    const y = r.y1 + t * (r.y2 - r.y1);
    out.push({ x, y: r.y2, horizontal: true }, { x, y: r.y1, horizontal: true }, { x: r.x1, y, horizontal: false }, { x: r.x2, y, horizontal: false });
  }
  return out;
}

/** No other drawing (another box's edges with its halo, any label) comes near the sampled part of the edge. */
function clean(p: EdgePoint, others: Rect[], labels: Rect[]): boolean {
  const m = 8;
  const area: Rect = p.horizontal
    ? { x1: p.x - ALONG - m, x2: p.x + ALONG + m, y1: p.y - ACROSS - m, y2: p.y + ACROSS + m }
    : { x1: p.x - ACROSS - m, x2: p.x + ACROSS + m, y1: p.y - ALONG - m, y2: p.y + ALONG + m };
  const hits = (r: Rect) => r.x1 <= area.x2 && r.x2 >= area.x1 && r.y1 <= area.y2 && r.y2 >= area.y1;
  const edges = (r: Rect): Rect[] => [
    { ...r, y2: r.y1 },
    { ...r, y1: r.y2 },
    { ...r, x2: r.x1 },
    { ...r, x1: r.x2 },
  ];
  return !others.some((o) => edges(o).some(hits)) && !labels.some(hits);
}

/**
 * The browser globals the page functions below use, typed here because the project compiles
 * without the DOM lib. Those functions run in the page (playwright sends their source), so
 * they reach the globals through `globalThis` cast to this, which compiles away.
 */
interface El {
  getAttribute(name: string): string | null;
  getBoundingClientRect(): { left: number; top: number; right: number; bottom: number };
  complete?: boolean;
  naturalWidth?: number;
}
interface Browserish {
  document: { querySelector(sel: string): El | null; querySelectorAll(sel: string): ArrayLike<El> & Iterable<El>; images: Iterable<El> };
  scrollX: number;
  scrollY: number;
  innerHeight: number;
  CSS: { escape(s: string): string };
}
const cards = (n: number) => (globalThis as unknown as Browserish).document.querySelectorAll('#grid [data-record-index]').length === n;

const get = async <T>(server: ReviewServer, p: string): Promise<T> => {
  const res = await fetch(new URL(p, server.url));
  if (!res.ok) throw new Error(`GET ${p}: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
};
const boxKey = (category: string, b: number[]) => `${category}|${b.join(',')}`;

describe('review page in chromium', () => {
  let work: string;
  let datasetDir: string;
  let records: number;
  let server: ReviewServer;
  let browser: Browser | undefined;
  /** Screenshots: their own temp dir, kept (and named on stderr) when a test did not pass. */
  let shots: string;
  let started = 0;
  let passed = 0;

  beforeAll(async () => {
    const executablePath = chromiumPath(); // first: a missing browser is named before any work
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'review-page-'));
    shots = fs.mkdtempSync(path.join(os.tmpdir(), 'review-page-shots-'));
    ({ datasetDir, records } = await makeReviewDataset(work));
    server = await startReviewServer({ datasetDir, host: '127.0.0.1', port: 0, reviewer: REVIEWER });
    browser = await chromium.launch({ executablePath, headless: true, args: ['--no-sandbox'], timeout: 60_000 });
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    if (work) fs.rmSync(work, { recursive: true, force: true });
    if (shots && started === passed) fs.rmSync(shots, { recursive: true, force: true });
    else if (shots) process.stderr.write(`review page screenshots kept in ${shots}\n`);
  }, 60_000);

  /** A fresh page on the grid, every card drawn; page errors and failed requests are collected to assert on. */
  async function openGrid(): Promise<{ page: Page; errors: string[] }> {
    const page = await browser!.newPage({ viewport: { width: 1280, height: 900 }, deviceScaleFactor: 1 });
    page.setDefaultTimeout(30_000);
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
    // The browser asks for a favicon the page does not have; anything else failing is the page's fault.
    const favicon = (url: string | undefined) => !!url && new URL(url).pathname === '/favicon.ico';
    page.on('console', (m) => void (m.type() === 'error' && !favicon(m.location().url) && errors.push(`console: ${m.text()}`)));
    page.on('response', (r) => void (r.status() >= 400 && !favicon(r.url()) && errors.push(`HTTP ${r.status()} ${r.url()}`)));
    await page.goto(server.url);
    await page.waitForFunction(cards, Math.min(records, 48));
    return { page, errors };
  }

  async function openDetail(page: Page, index: number): Promise<void> {
    if (await page.locator('#detail').isVisible()) await page.keyboard.press('Escape');
    await page.locator(`#grid [data-record-index="${index}"]`).click();
    await page.waitForFunction((i) => {
      const { document } = globalThis as unknown as Browserish;
      const img = document.querySelector('#detail:not([hidden]) #detail-frame img');
      return document.querySelector('#detail-frame')?.getAttribute('data-record-index') === String(i) && !!img?.complete && !!img.naturalWidth;
    }, index);
  }

  /** The record's boxes on screen: the detail image's box scaled by the record's size (page pixels). */
  async function screenRects(page: Page, rec: RecordView): Promise<{ rects: Map<string, Rect>; labels: Rect[] }> {
    const { img, labels } = await page.evaluate(() => {
      const { document, scrollX, scrollY } = globalThis as unknown as Browserish;
      const r = (e: El) => {
        const b = e.getBoundingClientRect();
        return { x1: b.left + scrollX, y1: b.top + scrollY, x2: b.right + scrollX, y2: b.bottom + scrollY };
      };
      return { img: r(document.querySelector('#detail-frame img')!), labels: [...document.querySelectorAll('#detail-frame svg text')].map(r) };
    });
    const sx = (img.x2 - img.x1) / rec.width;
    const sy = (img.y2 - img.y1) / rec.height;
    const rects = new Map(
      rec.boxes.map((b) => [b.id, { x1: img.x1 + b.bbox[0] * sx, y1: img.y1 + b.bbox[1] * sy, x2: img.x1 + b.bbox[2] * sx, y2: img.y1 + b.bbox[3] * sy }]),
    );
    return { rects, labels };
  }

  it('draws accepted boxes solid green and verifier negatives dashed red where the record puts them', async () => {
    started++;
    const { page, errors } = await openGrid();
    try {
      await page.waitForFunction(() => {
        const { document, innerHeight } = globalThis as unknown as Browserish;
        return [...document.images].filter((i) => i.getBoundingClientRect().top < innerHeight).every((i) => i.complete && !!i.naturalWidth);
      });
      fs.writeFileSync(path.join(shots, 'grid.png'), await page.screenshot({ fullPage: true }));
      // The first record with an accepted box and a verifier negative that each have a stretch of edge nothing else is drawn near.
      let found: { rec: RecordView; png: Buffer; acc: EdgePoint[]; neg: EdgePoint[] } | null = null;
      for (let i = 0; i < records && !found; i++) {
        const rec = await get<RecordView>(server, `/api/records/${i}`);
        const isNeg = (b: BoxView) => b.status === 'rejected' && !!b.stage && !b.human;
        if (!rec.boxes.some((b) => b.status === 'accepted') || !rec.boxes.some(isNeg)) continue;
        await openDetail(page, i);
        const { rects, labels } = await screenRects(page, rec);
        // One point on a horizontal and one on a vertical edge: a box drawn off its place along one edge is off across the other.
        const pick = (want: (b: BoxView) => boolean): EdgePoint[] | null => {
          for (const b of rec.boxes.filter(want)) {
            const others = [...rects].filter(([id]) => id !== b.id).map(([, r]) => r);
            const ok = edgePoints(rects.get(b.id)!).filter((q) => clean(q, others, labels));
            const h = ok.find((q) => q.horizontal);
            const v = ok.find((q) => !q.horizontal);
            if (h && v) return [h, v];
          }
          return null;
        };
        const acc = pick((b) => b.status === 'accepted' && !b.human);
        const neg = pick(isNeg);
        if (acc && neg) found = { rec, png: await page.screenshot({ fullPage: true }), acc, neg };
      }
      if (!found) throw new Error('no record of the dataset has an accepted box and a verifier negative with an edge clear of other drawings');
      fs.writeFileSync(path.join(shots, 'detail.png'), found.png);
      if (process.env.VALOR_WRITE_SCREENSHOT === '1') fs.writeFileSync(path.join(ROOT, 'docs', 'review-page.png'), found.png);
      const shot = await decode(found.png);
      const green = rgb(ACCEPTED);
      const red = rgb(REJECTED);
      for (const p of found.acc) {
        // Accepted: green along the whole sampled stretch (solid), 3 px wide, no red anywhere near.
        const runs = edgeRuns(shot, p, green);
        expect(Math.max(...runs)).toBe(2 * ALONG + 1);
        expect(runs.filter((n) => n === 2 * ALONG + 1).length).toBeGreaterThanOrEqual(2);
        expect(runs.filter((n) => n > 0).length).toBeLessThanOrEqual(5);
        expect(Math.max(...edgeRuns(shot, p, red))).toBe(0);
      }
      for (const p of found.neg) {
        // Verifier negative: red near the edge but with gaps (dashed), no green anywhere near.
        const runs = edgeRuns(shot, p, red);
        const most = Math.max(...runs);
        expect(most).toBeGreaterThanOrEqual(5);
        expect(most).toBeLessThan(2 * ALONG);
        expect(runs.filter((n) => n > 0).length).toBeLessThanOrEqual(3); // 2 px: one or two lines fully red, the rest blended
        expect(Math.max(...edgeRuns(shot, p, green))).toBe(0);
      }
      expect(errors).toEqual([]);
      passed++;
    } finally {
      await page.close();
    }
  });

  it('filters the grid by category: every card shown has a box of it, and every record that has one is shown', async () => {
    started++;
    const all = await get<{ total: number; items: RecordView[] }>(server, '/api/records?offset=0&limit=500');
    expect(all.total).toBe(records);
    const withCat = (c: string) => all.items.filter((r) => r.boxes.some((b) => b.category === c)).map((r) => r.index);
    // A category some records have and some do not, so the filter has something to leave out.
    const categories = [...new Set(all.items.flatMap((r) => r.boxes.map((b) => b.category)))].sort();
    const category = categories.find((c) => withCat(c).length > 0 && withCat(c).length < records)!;
    expect(category).toBeDefined();
    const { page, errors } = await openGrid();
    try {
      const answered = page.waitForResponse((r) => r.url().includes('/api/records?') && new URL(r.url()).searchParams.get('category') === category);
      await page.selectOption('#filter-category', category);
      expect((await answered).status()).toBe(200);
      const want = withCat(category);
      await page.waitForFunction(cards, want.length);
      const shown = (await page.locator('#grid [data-record-index]').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-record-index'))))).sort(
        (a, b) => a - b,
      );
      expect(shown).toEqual(want);
      for (const i of shown) {
        const rec = await get<RecordView>(server, `/api/records/${i}`);
        expect(rec.boxes.map((b) => b.category)).toContain(category);
      }
      expect(errors).toEqual([]);
      passed++;
    } finally {
      await page.close();
    }
  });

  it('rejects the box selected with the keyboard: logged as a REJECT of that box, and gone from a fresh COCO export', async () => {
    started++;
    // A record with several accepted boxes: the one rejected is the last, so Tab/n must move the selection to it.
    let rec: RecordView | null = null;
    for (let i = 0; i < records && !rec; i++) {
      const r = await get<RecordView>(server, `/api/records/${i}`);
      if (r.boxes.filter((b) => b.status === 'accepted').length >= 2) rec = r;
    }
    if (!rec) throw new Error('the dataset has no record with two accepted boxes');
    const accepted = rec.boxes.filter((b) => b.status === 'accepted');
    const target = accepted[accepted.length - 1]!;
    const cocoBoxes = async (name: string): Promise<string[]> => {
      const out = path.join(work, 'coco', name);
      fs.mkdirSync(path.dirname(out), { recursive: true });
      await exportCoco({ dataset: datasetDir, out });
      const coco = JSON.parse(fs.readFileSync(out, 'utf8')) as CocoDataset;
      const image = coco.images.find((im) => path.resolve(path.dirname(out), im.file_name) === path.join(datasetDir, rec!.filename));
      if (!image) throw new Error(`${out} has no image for ${rec!.filename}`);
      const names = new Map(coco.categories.map((c) => [c.id, c.name]));
      return coco.annotations
        .filter((a) => a.image_id === image.id)
        .map((a) => boxKey(names.get(a.category_id)!, [a.bbox[0], a.bbox[1], a.bbox[0] + a.bbox[2], a.bbox[1] + a.bbox[3]]))
        .sort();
    };
    // Before: the export has every accepted box of the image, the target among them.
    const keys = accepted.map((b) => boxKey(b.category, b.bbox)).sort();
    expect(await cocoBoxes('before.json')).toEqual(keys);

    const { page, errors } = await openGrid();
    try {
      await openDetail(page, rec.index);
      const selected = () => page.locator('#detail-frame [data-box-id][data-selected="true"]').getAttribute('data-box-id');
      expect(await selected()).toBe(rec.boxes[0]!.id);
      for (let n = 0; (await selected()) !== target.id; n++) {
        if (n > rec.boxes.length) throw new Error(`Tab/n never selected box ${target.id}`);
        await page.keyboard.press(n % 2 ? 'n' : 'Tab');
      }
      const posted = page.waitForResponse((r) => r.url().endsWith('/api/verdicts') && r.request().method() === 'POST');
      await page.keyboard.press('r');
      const answer = await posted;
      // With the body: a refusal says why.
      expect({ status: answer.status(), body: await answer.text() }).toEqual({ status: 201, body: expect.stringContaining('"REJECT"') });
      // The page re-draws the record from the server's answer: the box stays on show, as a person's rejection.
      await page.waitForFunction((id) => {
        const { document, CSS } = globalThis as unknown as Browserish;
        return document.querySelector(`#detail-frame [data-box-id="${CSS.escape(id)}"]`)?.getAttribute('data-status') === 'rejected';
      }, target.id);
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }

    const lines = fs.readFileSync(path.join(datasetDir, HUMAN_VERDICTS_FILE), 'utf8').split('\n').filter(Boolean);
    expect(lines).toHaveLength(1);
    const [x1, y1, x2, y2] = target.bbox;
    expect(JSON.parse(lines[0]!)).toMatchObject({
      action: 'REJECT',
      reviewer: REVIEWER,
      imageSha256: rec.sha256,
      filename: rec.filename,
      box: { x1, y1, x2, y2, category: target.category },
      vlmDecision: 'ACCEPTED',
    });
    // After: the export is rebuilt from the shards with the verdict applied; only the target is gone.
    expect(await cocoBoxes('after.json')).toEqual(keys.filter((k) => k !== boxKey(target.category, target.bbox)));
    passed++;
  });
});
