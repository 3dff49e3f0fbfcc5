// The web page of `beit3 serve` in real headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core; scripts/install-chromium.sh installs it, nothing is downloaded): upload a
// fixture image, ask, caption, classify, search the gallery — the page shows what the pipeline
// gives — with the keyboard only, with clear errors, and a screenshot that is not blank.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageIndex } from '../../src/search/index.js';
import { pipeline, type VqaPipeline } from '../../src/tasks/index.js';
import { CONFIG, cases, dataUrl, img, post, startServer, tempDir } from './helpers.js';
import { CHROMIUM, CHROMIUM_FLAGS, haveChromium } from '../support/chromium.js';

const FLAGS = ['--headless', ...CHROMIUM_FLAGS];
const have = haveChromium;
if (!have)
  console.warn(
    `web-page.test: skipped — ${CHROMIUM} is missing (run scripts/install-chromium.sh; no browser is downloaded)`,
  );

describe.skipIf(!have)('web page in headless Chromium', () => {
  const dir = tempDir('beit3-web-');
  let url: string;
  let ctx: BrowserContext;
  let page: Page;
  const requested: string[] = [];
  const item = cases.tasks.vqav2.items[0] as { image: string; question: string };
  let expected: { answer: string; score: number };

  beforeAll(async () => {
    const gallery = join(dir, 'gallery');
    mkdirSync(gallery);
    ImageIndex.openOrCreate(join(dir, 'g.idx'), gallery, { weights: [], embedDim: 24, imgSize: 40 });
    ({ url } = await startServer(['vqav2', 'captioning', 'imageclassification', 'retrieval'], {
      index: join(dir, 'g.idx'),
    }));
    await post(url, '/v1/search/items', {
      items: ['chelsea', 'rocket'].map((n) => ({ path: `${n}.png`, image: dataUrl(img(n)) })),
    });
    // what the pipeline answers, in process
    const vqa: VqaPipeline = await pipeline('vqa', { config: CONFIG });
    [expected] = await vqa.run([{ image: img(item.image), question: item.question }]);
    await vqa.dispose();
    ctx = await chromium.launchPersistentContext(join(dir, 'profile'), {
      executablePath: CHROMIUM,
      headless: true,
      args: FLAGS,
    });
    page = ctx.pages()[0] ?? (await ctx.newPage());
    page.on('request', (r) => requested.push(r.url()));
    await page.goto(url);
    await page.waitForFunction(() => document.getElementById('served')?.textContent?.startsWith('Serving'));
  });
  afterAll(async () => ctx?.close());

  it('renders: headings, labelled controls, a non-blank screenshot', async () => {
    expect(await page.title()).toBe('BEiT-3');
    for (const name of ['Ask', 'Caption', 'Classify', 'Search'])
      expect(await page.getByRole('button', { name, exact: true }).isEnabled()).toBe(true);
    for (const label of ['Image file', 'Question about the image', 'Search the gallery with text'])
      expect(await page.getByLabel(label).count()).toBe(1);
    expect(await page.locator('#served').textContent()).toContain('gallery of 2 images');
    const shot = await page.screenshot({ fullPage: true });
    writeFileSync(process.env.BEIT3_SCREENSHOT ?? join(dir, 'page.png'), shot); // set it to keep the picture
    const { data, info } = await sharp(shot).greyscale().raw().toBuffer({ resolveWithObject: true });
    expect(info.width).toBeGreaterThan(300);
    let min = 255;
    let max = 0;
    let sum = 0;
    for (const v of data) {
      min = Math.min(min, v);
      max = Math.max(max, v);
      sum += v;
    }
    const mean = sum / data.length;
    let varSum = 0;
    for (const v of data) varSum += (v - mean) ** 2;
    expect(max - min).toBeGreaterThan(100); // text and borders on a background
    expect(Math.sqrt(varSum / data.length)).toBeGreaterThan(5);
  });

  it('upload an image, ask with the keyboard: the answer the pipeline gives', async () => {
    await page.setInputFiles('#file', img(item.image));
    await page.waitForFunction(() => !(document.getElementById('preview') as HTMLImageElement).hidden);
    await page.getByLabel('Question about the image').focus();
    await page.keyboard.type(item.question);
    await page.keyboard.press('Enter');
    await page.waitForSelector('#results h3');
    expect(await page.locator('#results h3').textContent()).toBe(`Answer: ${expected.answer}`);
    const first = page.locator('#results li').first();
    expect(await first.locator('.label').textContent()).toBe(expected.answer);
    expect(await first.locator('.score').textContent()).toBe(`${(100 * expected.score).toFixed(1)}%`);
  });

  it('focus order follows the page; Caption and Classify work from the keyboard', async () => {
    await page.locator('#drop').focus();
    const order: string[] = [];
    for (let i = 0; i < 8; i++) {
      await page.keyboard.press('Tab');
      order.push(await page.evaluate(() => document.activeElement?.id ?? ''));
    }
    expect(order).toEqual(['file', 'question', 'ask', 'caption', 'classify', 'query', 'search', '']); // then <summary>
    await page.locator('#caption').focus();
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.querySelector('#results h3')?.textContent === 'Caption');
    const caption = (cases.tasks.captioning.items as any[]).find((c) => c.image === item.image)?.caption;
    expect(await page.locator('#results .caption').textContent()).toContain(caption);
    await page.locator('#classify').focus();
    await page.keyboard.press('Space');
    await page.waitForFunction(() => document.querySelector('#results h3')?.textContent === 'Classes');
    const names = (cases.tasks.imageclassification.items as any[]).find(
      (c) => c.image === item.image,
    ).topk_names;
    expect(await page.locator('#results .label').allTextContents()).toEqual(names);
  });

  it('searches the gallery with text and shows scored hits', async () => {
    await page.getByLabel('Search the gallery with text').fill('a rocket launch');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await page.waitForSelector('#results .hits li');
    const hits = await page.locator('#results .hit-label').allTextContents();
    const api = await post(url, '/v1/search', { query: 'a rocket launch', k: 8 });
    expect(hits).toEqual(api.json.hits.map((h: any) => `${h.path} — ${h.score.toFixed(3)}`));
  });

  it('shows clear errors: no question, a file that is not an image, an undecodable image', async () => {
    await page.getByLabel('Question about the image').fill('');
    await page.getByRole('button', { name: 'Ask', exact: true }).click();
    await expect.poll(() => page.locator('#error').textContent()).toBe('Type a question first.');
    writeFileSync(join(dir, 'notes.txt'), 'hello');
    await page.setInputFiles('#file', join(dir, 'notes.txt'));
    await expect
      .poll(() => page.locator('#error').textContent())
      .toMatch(/notes\.txt is text\/plain, not an image/);
    writeFileSync(join(dir, 'broken.png'), 'definitely not a PNG');
    await page.setInputFiles('#file', join(dir, 'broken.png'));
    await page.waitForFunction(() => document.getElementById('drop-text')?.textContent === 'broken.png');
    await page.getByRole('button', { name: 'Classify', exact: true }).click();
    await expect.poll(() => page.locator('#error').textContent()).toMatch(/^422: broken|^422: image/);
    expect(await page.locator('#error').getAttribute('role')).toBe('alert');
  });

  it('never requests anything outside its own origin', () => {
    expect(requested.length).toBeGreaterThan(3);
    for (const r of requested)
      expect(r.startsWith(url) || r.startsWith('blob:') || r.startsWith('data:')).toBe(true);
  });
});
