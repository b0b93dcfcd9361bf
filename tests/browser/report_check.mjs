// Opens a run's report.html in headless Chromium (the system one) and checks
// what a person relies on: no console errors, no network requests, audio
// players that really play, untrusted transcript text shown as text.
// Usage: node report_check.mjs /abs/path/report.html
// Prints one line per check and a closing "N passed, N failed" line.
import { chromium } from 'playwright-core';

const file = process.argv[2];
const results = [];
const record = (name, ok, detail = '') => results.push({ name, ok, detail });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required'],
});
try {
  const page = await browser.newPage();
  const errors = [];
  const requests = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('request', (r) => requests.push(r.url()));
  await page.goto('file://' + file, { waitUntil: 'load' });
  await page.waitForTimeout(500);
  record('no console errors', errors.length === 0, errors.slice(0, 3).join(' | '));
  const external = requests.filter((u) => !u.startsWith('file://') && !u.startsWith('data:'));
  record('no network requests', external.length === 0, external.slice(0, 3).join(' '));
  const audio = await page.locator('audio').count();
  record('audio players present', audio >= 3, `${audio} players`);
  const played = await page.evaluate(async () => {
    const out = [];
    for (const a of [...document.querySelectorAll('audio')].slice(0, 3)) {
      a.muted = true;
      try {
        await a.play();
        await new Promise((r) => setTimeout(r, 600));
        out.push({ src: a.currentSrc, t: a.currentTime, duration: a.duration, error: a.error ? a.error.code : null });
        a.pause();
      } catch (e) {
        out.push({ src: a.currentSrc, t: 0, error: String(e) });
      }
    }
    return out;
  });
  for (const p of played) {
    record(`plays ${p.src.split('/').slice(-4).join('/')}`, p.t > 0 && p.error === null && p.duration > 1, `t=${p.t.toFixed(2)}s of ${p.duration?.toFixed?.(1)}s`);
  }
  const scripts = await page.evaluate(() => document.querySelectorAll('script').length);
  record('no script elements (untrusted text stays text)', scripts === 0, `${scripts} scripts`);
  const shownAsText = await page.evaluate(() => document.body.textContent.includes("<script>alert('x')</script>"));
  record('a transcript with markup is shown literally', shownAsText, '');
  const svg = await page.locator('svg').count();
  record('inline SVG charts and timelines', svg >= 3, `${svg} svg`);
} finally {
  await browser.close();
}
let failed = 0;
for (const r of results) {
  console.log(`${r.ok ? 'ok  ' : 'FAIL'} report.html ${r.name}${r.detail ? ': ' + r.detail : ''}`);
  if (!r.ok) failed += 1;
}
console.log(`${results.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
