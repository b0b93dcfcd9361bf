// The review page in headless Chromium (the system one), against the real
// `rehearse review` server: label with the keyboard, reload, the labels are
// there; kill the server hard, start it again, they are still there; the
// page loads nothing from the network and plays the call.
// Usage: node review_check.mjs /abs/path/rehearse /abs/path/run
// Prints one line per check and a closing "N passed, N failed" line.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const [bin, run] = process.argv.slice(2);
const results = [];
const record = (name, ok, detail = '') => results.push({ name, ok, detail });

function startServer() {
  const child = spawn(bin, ['review', run, '--listen', '127.0.0.1:0', '--reviewer', 'ci-reviewer'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('review server did not start in 20 s')), 20000);
    let buffered = '';
    child.stdout.on('data', (d) => {
      buffered += d;
      const m = buffered.match(/review: (http:\/\/127\.0\.0\.1:\d+\/)/);
      if (m) { clearTimeout(timer); resolve({ child, url: m[1] }); }
    });
    child.on('exit', (code) => reject(new Error(`review server exited with ${code}`)));
  });
}

function labelsOnDisk() {
  try {
    return readFileSync(join(run, 'labels.jsonl'), 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
  } catch {
    return [];
  }
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required'],
});
let server = await startServer();
try {
  const page = await browser.newPage();
  const errors = [];
  const requests = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('request', (r) => requests.push(r.url()));
  await page.goto(server.url, { waitUntil: 'networkidle' });
  await page.waitForSelector('tr.item');
  const calls = await page.locator('.call').count();
  record('the run\'s calls are listed', calls >= 2, `${calls} calls`);
  const reviewer = await page.inputValue('#reviewer');
  record('the reviewer comes from --reviewer', reviewer === 'ci-reviewer', reviewer);

  // Keyboard: fail the whole call, pass the next item; a note on the third.
  await page.keyboard.press('f');
  await page.waitForSelector('#status:has-text("Saved: overall fail")');
  await page.keyboard.press('p');
  await page.waitForSelector('#status:has-text("pass")');
  const third = page.locator('tr.item').nth(2);
  const thirdName = await third.getAttribute('data-item');
  await third.locator('input.note').fill('sounded rushed');
  await third.locator('button[data-v="fail"]').click();
  await page.waitForSelector(`#status:has-text("Saved: ${thirdName} fail")`);
  let onDisk = labelsOnDisk();
  record('labels are on disk as they are made', onDisk.length === 3, `${onDisk.length} lines`);
  record('a label carries reviewer, verdict and note',
    onDisk.some((l) => l.item === thirdName && l.verdict === 'fail' && l.note === 'sounded rushed' && l.reviewer === 'ci-reviewer'),
    JSON.stringify(onDisk[2] ?? {}));

  await page.reload({ waitUntil: 'networkidle' });
  await page.waitForSelector('tr.item');
  const overall = page.locator('tr.item').first();
  const chosen = await overall.locator('button.chosen').textContent().catch(() => null);
  record('after a reload the label is shown', chosen === 'Fail', `chosen: ${chosen}`);

  // A crash: the server is killed, started again; the labels remain.
  server.child.kill('SIGKILL');
  await new Promise((r) => server.child.on('exit', r));
  server = await startServer();
  await page.goto(server.url, { waitUntil: 'networkidle' });
  await page.waitForSelector('tr.item');
  const afterCrash = await page.locator('tr.item').first().locator('button.chosen').textContent().catch(() => null);
  record('labels survive a killed server', afterCrash === 'Fail' && labelsOnDisk().length === 3, `chosen: ${afterCrash}`);

  // Next call with n, pass it; the list counts the labels.
  await page.keyboard.press('n');
  await page.keyboard.press('p');
  await page.waitForSelector('#status:has-text("Saved: overall pass")');
  onDisk = labelsOnDisk();
  record('n moves to the next call', onDisk.length === 4 && onDisk[3].conversation !== onDisk[0].conversation,
    onDisk.map((l) => l.conversation).join(' '));

  const played = await page.evaluate(async () => {
    const a = document.querySelector('audio');
    if (!a) return { error: 'no player' };
    a.muted = true;
    try {
      await a.play();
      await new Promise((r) => setTimeout(r, 600));
      const out = { t: a.currentTime, duration: a.duration, error: a.error ? a.error.code : null };
      a.pause();
      return out;
    } catch (e) {
      return { error: String(e) };
    }
  });
  record('the call plays', played.t > 0 && !played.error, JSON.stringify(played));
  record('no console errors', errors.length === 0, errors.slice(0, 3).join(' | '));
  const external = requests.filter((u) => !u.startsWith(server.url.replace(/\/$/, '')) && !/^http:\/\/127\.0\.0\.1:\d+\//.test(u));
  record('nothing loaded from the network', external.length === 0, external.slice(0, 3).join(' '));
} finally {
  await browser.close();
  server.child.kill('SIGTERM');
}
let failed = 0;
for (const r of results) {
  console.log(`${r.ok ? 'ok  ' : 'FAIL'} review page ${r.name}${r.detail ? ': ' + r.detail : ''}`);
  if (!r.ok) failed += 1;
}
console.log(`${results.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
