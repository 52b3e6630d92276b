/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The console in a real browser: Debian's chromium driven by playwright-core (nothing downloaded), against the
 * sandbox stack — hubgate serving the console built by scripts/build-console.mjs, the Harbor double in front of
 * a real docker-registry, redis-server, and the local OIDC issuer with its code flow (test/support/oidc-login.ts).
 *
 * One walk through the manual's flows, as three users: alice signs in (code + PKCE), creates a public workspace,
 * uploads an archive and watches the progress reach "done", sees the image in her own list, edits its Markdown
 * description (hostile HTML stays inert), deletes a version, rotates her project's credentials and copies the new
 * login command; the access token is refreshed silently meanwhile; she signs out. bob (another project) sees the
 * image as shared and read-only. admin runs garbage collection. Along the way: no console errors, every control
 * labelled, every action reachable by keyboard, the page's CSP and caching headers, and the first load measured.
 * Screenshots of every step: test-artifacts/console/ (gitignored; CI keeps it as an artifact).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { BrowserContext, Page } from 'playwright-core';
import { requireTools } from '../support/tools';
import { startConsoleStack, type ConsoleStack } from '../support/console-stack';
import { dockerSave, layerTar } from '../support/archives';

const tools = requireTools('console browser test', ['chromium', 'docker-registry', 'redis-server']);
const ARTIFACTS = resolve(__dirname, '../../test-artifacts/console');
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

(tools.available ? describe : describe.skip)('console in a real browser (chromium)', () => {
  let stack: ConsoleStack;
  let context: BrowserContext;
  let page: Page;
  let consoleDir: string;
  let profileDir: string;
  const problems: string[] = [];
  let cancelledUpload: string | undefined;
  const metrics: Record<string, unknown> = {};
  let shot = 0;

  const screenshot = async (name: string) => {
    shot += 1;
    await page.screenshot({ path: join(ARTIFACTS, `${String(shot).padStart(2, '0')}-${name}.png`), fullPage: true });
  };

  beforeAll(async () => {
    rmSync(ARTIFACTS, { recursive: true, force: true });
    mkdirSync(ARTIFACTS, { recursive: true });
    consoleDir = mkdtempSync(join(tmpdir(), 'hubgate-console-'));
    const build = spawnSync(process.execPath, [resolve(__dirname, '../../scripts/build-console.mjs'), consoleDir], { encoding: 'utf8' });
    if (build.status !== 0) throw new Error(`console build failed: ${build.stderr}`);
    // 8 s tokens: the console must refresh them silently during the walk
    stack = await startConsoleStack({ env: { HUBGATE_CONSOLE_DIR: consoleDir }, accessTokenSeconds: 8 });
    const { chromium } = await import('playwright-core');
    profileDir = mkdtempSync(join(tmpdir(), 'hubgate-chromium-'));
    context = await chromium.launchPersistentContext(profileDir, {
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1280, height: 860 },
      locale: 'en-US',
    });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: stack.hubUrl });
    context.setDefaultTimeout(20_000);
    page = context.pages()[0] ?? (await context.newPage());
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console error: ${m.text()} (${page.url()})`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('response', (r) => {
      if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.request().method()} ${r.url()}`);
    });
    page.on('requestfailed', (r) => {
      // the upload the test cancels on purpose is the only request allowed to fail
      if (cancelledUpload && r.url().includes(`uploadId=${cancelledUpload}`) && r.failure()?.errorText === 'net::ERR_ABORTED') return;
      problems.push(`request failed: ${r.method()} ${r.url()} ${r.failure()?.errorText}`);
    });
  }, 120_000);

  afterAll(async () => {
    writeFileSync(join(ARTIFACTS, 'metrics.json'), JSON.stringify(metrics, null, 2));
    await context?.close().catch(() => undefined);
    await stack?.stop();
    for (const d of [consoleDir, profileDir]) if (d) rmSync(d, { recursive: true, force: true });
  });

  /** Every control has an accessible name (label, aria-label, aria-labelledby, or text for buttons and links). */
  const unlabelled = () =>
    page.evaluate(() => {
      const named = (el: Element): boolean => {
        const e = el as HTMLInputElement;
        if (e.type === 'hidden') return true;
        if (el.getAttribute('aria-label')?.trim()) return true;
        const by = el.getAttribute('aria-labelledby');
        if (by && document.getElementById(by)?.textContent?.trim()) return true;
        if ('labels' in e && e.labels && Array.from(e.labels).some((l) => l.textContent?.trim())) return true;
        if ((el.tagName === 'BUTTON' || el.tagName === 'A') && el.textContent?.trim()) return true;
        return false;
      };
      return Array.from(document.querySelectorAll('input, select, textarea, button, a[href]'))
        .filter((el) => !named(el))
        .map((el) => el.outerHTML.slice(0, 120));
    });

  /** Tabbing from the top reaches every enabled, visible control outside open dialogs' backgrounds. */
  const keyboardUnreachable = async (): Promise<string[]> => {
    await page.evaluate(() => {
      (document.activeElement as HTMLElement | null)?.blur();
      document.querySelectorAll('[data-kbd]').forEach((e) => e.removeAttribute('data-kbd'));
      let i = 0;
      const modal = document.querySelector('dialog[open]');
      const scope = modal ?? document;
      scope.querySelectorAll('input:not([disabled]), select:not([disabled]), textarea:not([disabled]), button:not([disabled]), a[href]').forEach((el) => {
        if (!(el as HTMLElement).checkVisibility({ contentVisibilityAuto: true, visibilityProperty: true } as CheckVisibilityOptions)) return;
        // a radio group is one tab stop (arrow keys move inside it)
        const radio = el as HTMLInputElement;
        if (radio.type === 'radio' && radio.name) {
          const first = scope.querySelector(`input[type=radio][name="${radio.name}"][data-kbd]`);
          el.setAttribute('data-kbd', first?.getAttribute('data-kbd') ?? String(i++));
          return;
        }
        el.setAttribute('data-kbd', String(i++));
      });
    });
    const total = await page.evaluate(() => new Set(Array.from(document.querySelectorAll('[data-kbd]'), (e) => e.getAttribute('data-kbd'))).size);
    const seen = new Set<string>();
    for (let i = 0; i < total * 2 + 5 && seen.size < total; i++) {
      await page.keyboard.press('Tab');
      const k = await page.evaluate(() => document.activeElement?.getAttribute('data-kbd') ?? null);
      if (k !== null) seen.add(k);
    }
    return page.evaluate((s) => Array.from(document.querySelectorAll('[data-kbd]')).filter((e) => !s.includes(e.getAttribute('data-kbd')!)).map((e) => e.outerHTML.slice(0, 120)), [...seen]);
  };

  const accessibility = async (where: string) => {
    expect({ where, unlabelled: await unlabelled() }).toEqual({ where, unlabelled: [] });
    expect({ where, unreachable: await keyboardUnreachable() }).toEqual({ where, unreachable: [] });
  };

  const signInAs = async (username: string) => {
    await page.goto(stack.consoleUrl);
    await page.locator('#sign-in').click();
    await page.waitForURL(/\/protocol\/openid-connect\/auth\?/);
    await page.locator(`#user-${username}`).click();
    await page.locator('#user').filter({ hasText: username }).waitFor();
  };

  const signOut = async () => {
    await page.locator('#sign-out').click();
    await page.locator('#sign-in').waitFor();
  };

  const archive = dockerSave([{ layers: [layerTar({ 'app/bin': randomBytes(3 * 1024 * 1024) }), layerTar({ 'app/etc': 'conf' })], refs: ['web:1.0', 'web:2.0'] }]);

  test('the sign-in page: strict CSP, cached hashed assets, no CDN, first load measured', async () => {
    // the browser's own start (renderer process, first connection) is not the console's load time: warm up on
    // another page of the origin, which caches nothing of the console
    await page.goto(`${stack.hubUrl}/healthz`);
    const res = await page.goto(stack.consoleUrl);
    expect(res?.status()).toBe(200);
    const csp = res?.headers()['content-security-policy'] ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("style-src 'self'");
    expect(csp).toContain(`connect-src 'self' ${new URL(stack.idp.issuer).origin}`);
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|\*/);
    expect(res?.headers()['cache-control']).toBe('no-cache');
    await page.locator('#sign-in').waitFor();

    const loaded = await page.evaluate(() => {
      const nav = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming;
      return {
        loadEventEndMs: nav.loadEventEnd,
        domContentLoadedMs: nav.domContentLoadedEventEnd,
        htmlResponseEndMs: nav.responseEnd,
        resourceTimings: performance.getEntriesByType('resource').map((r) => ({ name: r.name, startMs: r.startTime, durationMs: r.duration })),
        resources: performance.getEntriesByType('resource').map((r) => r.name),
        scripts: Array.from(document.scripts).map((s) => ({ src: s.src, inline: !s.src })),
      };
    });
    metrics.firstLoad = loaded;
    console.log(`console first load: DOMContentLoaded ${Math.round(loaded.domContentLoadedMs)} ms, load ${Math.round(loaded.loadEventEndMs)} ms (target ≤ 1000 ms on loopback; not asserted: no timed assertions)`);
    // everything from this origin or the issuer, no inline script
    for (const r of loaded.resources) expect([stack.hubUrl, new URL(stack.idp.issuer).origin]).toContain(new URL(r).origin);
    expect(loaded.scripts.every((s) => !s.inline && s.src.startsWith(`${stack.consoleUrl}assets/app-`))).toBe(true);
    const asset = await page.request.get(loaded.scripts[0].src);
    expect(asset.headers()['cache-control']).toBe('public, max-age=31536000, immutable');
    await screenshot('sign-in');
    await accessibility('sign-in page');
  });

  test('alice signs in with the code flow and creates a public workspace', async () => {
    await signInAs('alice');
    expect(stack.flow.grants.authorization_code).toBe(1);
    // the tokens stay in memory: nothing in web storage but the language
    const stored = await page.evaluate(() => ({ local: Object.keys(localStorage), session: Object.keys(sessionStorage) }));
    expect(stored.session).toEqual([]);
    expect(stored.local.every((k) => k === 'hubgate.console.lang')).toBe(true);
    await screenshot('alice-own-images-empty');
    await accessibility('own images');

    await page.locator('#nav-workspaces').click();
    await page.locator('#ws-create-open').click();
    await page.locator('#ws-new-name').fill('alice-web');
    await page.getByLabel('Public', { exact: true }).check();
    await accessibility('create workspace dialog');
    await screenshot('create-workspace');
    await page.locator('#ws-new-submit').click();
    await page.waitForURL(/#\/workspace\/alice-web$/);
    await page.locator('#wsd-access-value').filter({ hasText: 'Public' }).waitFor();
    await screenshot('workspace-created');
  });

  test('alice uploads an archive: bytes sent, then the phases up to done, and the pull addresses', async () => {
    await page.getByRole('button', { name: 'Upload image' }).click();
    await page.locator('#up-ws').selectOption('alice-web');
    await page.locator('#up-file').setInputFiles({ name: 'web.tar', mimeType: 'application/x-tar', buffer: archive });
    await accessibility('upload dialog');
    // record every phase the status line shows
    await page.evaluate(() => {
      const w = window as unknown as { phases: string[] };
      w.phases = [];
      const seen = () => {
        const p = document.getElementById('up-status')?.getAttribute('data-phase');
        if (p && w.phases[w.phases.length - 1] !== p) w.phases.push(p);
      };
      new MutationObserver(seen).observe(document.body, { subtree: true, childList: true, attributes: true });
    });
    await page.locator('#up-start').click();
    await page.locator('#up-status[data-phase="done"]').waitFor({ timeout: 60_000 });
    const phases = await page.evaluate(() => (window as unknown as { phases: string[] }).phases);
    expect(phases[0]).toBe('sending');
    expect(phases[phases.length - 1]).toBe('done');
    const bar = await page.locator('#up-bytes').evaluate((p: HTMLProgressElement) => ({ value: p.value, max: p.max }));
    expect(bar).toEqual({ value: archive.length, max: archive.length });
    expect(await page.locator('#up-phases li.done').count()).toBe(4);
    const host = new URL(stack.hubUrl).host;
    const pulls = await page.locator('#up-result input').evaluateAll((els) => els.map((e) => (e as HTMLInputElement).value).sort());
    expect(pulls).toEqual([`docker pull ${host}/alice-web/web:1.0`, `docker pull ${host}/alice-web/web:2.0`]);
    await screenshot('upload-done');
    await page.locator('#upload').getByRole('button', { name: 'Close', exact: true }).first().click();
  });

  test('alice cancels an upload: it stops, hubgate records it as interrupted and tags nothing', async () => {
    // a slow link (CDP upload throttling: 512 KiB/s) so that the cancel comes while the body is being sent
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 512 * 1024 });
    const big = dockerSave([{ layers: [layerTar({ 'big/blob': randomBytes(6 * 1024 * 1024) })], refs: ['cancelled:1.0'] }]);
    const started = page.waitForRequest((r) => r.method() === 'POST' && r.url().includes('/uploads?'));
    await page.getByRole('button', { name: 'Upload image' }).click();
    await page.locator('#up-ws').selectOption('alice-web');
    await page.locator('#up-file').setInputFiles({ name: 'big.tar', mimeType: 'application/x-tar', buffer: big });
    await page.locator('#up-start').click();
    cancelledUpload = new URL((await started).url()).searchParams.get('uploadId')!;
    await page.waitForFunction(() => ((document.getElementById('up-bytes') as HTMLProgressElement | null)?.value ?? 0) > 0);
    await page.locator('#up-cancel').click();
    await page.locator('#up-status[data-phase="cancelled"]').waitFor();
    await screenshot('upload-cancelled');
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
    await cdp.detach();
    const alice = stack.flow.users[0];
    const token = await stack.idp.memberToken({ sub: alice.sub, username: alice.username, projects: alice.projects });
    let rec: { state: string; error?: { reason: string } } = { state: 'receiving' };
    for (let i = 0; i < 100 && rec.state !== 'failed'; i++) {
      const res = await fetch(`${stack.hubUrl}/api/v1/uploads/${cancelledUpload}`, { headers: { Authorization: `Bearer ${token}` } });
      rec = (await res.json()) as typeof rec;
      if (rec.state !== 'failed') await new Promise((r) => setTimeout(r, 100));
    }
    expect(rec).toMatchObject({ state: 'failed', error: { reason: 'interrupted' } });
    const images = await fetch(`${stack.hubUrl}/api/v1/images?view=own&q=cancelled`, { headers: { Authorization: `Bearer ${token}` } });
    expect(((await images.json()) as { total: number }).total).toBe(0);
    await page.locator('#upload').getByRole('button', { name: 'Close', exact: true }).first().click();
  });

  test('the image is in alice\'s own list; she edits its Markdown description (rendered safely) and deletes a version', async () => {
    await page.locator('#nav-images').click();
    const row = page.locator('tr', { has: page.getByRole('link', { name: 'web', exact: true }) });
    await row.waitFor();
    expect(await row.textContent()).toContain('alice-web');
    await screenshot('alice-own-images');

    await page.getByRole('link', { name: 'web', exact: true }).click();
    await page.locator('#imgd-edit').click();
    await page
      .locator('#imgd-desc')
      .fill('# Web app\n\nSee [the docs](https://docs.example.com).\n\n<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2"><a href="javascript:window.pwned=3">x</a>');
    await page.locator('#imgd-desc-save').click();
    const view = page.locator('#imgd-desc-view');
    await view.locator('h1').filter({ hasText: 'Web app' }).waitFor();
    const link = view.getByRole('link', { name: 'the docs' });
    expect(await link.getAttribute('rel')).toBe('noopener noreferrer');
    expect(await link.getAttribute('target')).toBe('_blank');
    expect(await view.locator('script, img, [onerror]').count()).toBe(0);
    expect(await view.locator('a[href^="javascript"]').count()).toBe(0);
    expect(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned)).toBeUndefined();
    await screenshot('description-edited');

    await page.getByLabel('Select 1.0').check();
    await page.locator('#imgd-delete-versions').click();
    await page.locator('#imgd-confirm-delete').click();
    await page.locator('.notice[role=status]').filter({ hasText: '1 deleted' }).waitFor();
    await page.getByLabel('Select 1.0').waitFor({ state: 'detached' });
    expect(await page.locator('table tbody tr td:nth-child(2)').allTextContents()).toEqual(['2.0']);
    await screenshot('version-deleted');
    await accessibility('image detail');
  });

  test('alice rotates her project\'s credentials and copies the new login command', async () => {
    await page.locator('#creds-open').click();
    const login = page.locator('#creds-docker-login');
    await login.waitFor();
    const before = await login.inputValue();
    await accessibility('credentials dialog');
    await page.locator('#creds-rotate').click();
    await page.locator('#creds-confirm-rotate').click();
    await page.locator('#creds-rotated').waitFor();
    const after = await login.inputValue();
    expect(after).not.toBe(before);
    expect(after).toMatch(/^echo \S+ \| docker login \S+ --username hg-demo --password-stdin$/);
    await page.locator('[data-copy="creds-docker-login"]').click();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(after);
    // the copied password is the one hubgate now accepts
    const password = after.split(' ')[1].replace(/^'|'$/g, '');
    const auth = Buffer.from(`hg-demo:${password}`).toString('base64');
    const token = await fetch(`${stack.hubUrl}/service/token?service=harbor-registry&scope=repository:alice-web/web:pull`, { headers: { Authorization: `Basic ${auth}` } });
    expect(token.status).toBe(200);
    await screenshot('credentials-rotated');
    await page.keyboard.press('Escape');
  });

  test('the access token was refreshed silently, and the console still works after it', async () => {
    // 8-second tokens, refreshed at three quarters of their lifetime: wait for the browser to do it
    for (let i = 0; stack.flow.grants.refresh_token === 0 && i < 300; i++) await new Promise((r) => setTimeout(r, 100));
    expect(stack.flow.grants.refresh_token).toBeGreaterThan(0);
    await page.locator('#nav-workspaces').click();
    await page.getByRole('link', { name: 'alice-web' }).waitFor();
    await signOut();
    await screenshot('signed-out');
  });

  test('bob (another project) sees the image as shared and read-only', async () => {
    await signInAs('bob');
    await page.locator('#tab-own').click();
    await page.locator('td', { hasText: 'Nothing here yet.' }).waitFor();
    await page.locator('#tab-shared').click();
    const row = page.locator('tr', { has: page.getByRole('link', { name: 'web', exact: true }) });
    await row.waitFor();
    expect(await row.locator('.badge').textContent()).toBe('Shared · read-only');
    expect(await row.locator('input[type=checkbox]').isDisabled()).toBe(true);
    expect(await page.locator('#img-delete').isDisabled()).toBe(true);
    expect(await page.locator('#img-delete-why').textContent()).toContain('view and pull only');
    await screenshot('bob-shared-images');
    await page.getByRole('link', { name: 'web', exact: true }).click();
    await page.locator('#imgd-shared').waitFor();
    expect(await page.locator('#imgd-edit').isDisabled()).toBe(true);
    expect(await page.locator('#imgd-edit').getAttribute('aria-describedby')).toBe('imgd-why');
    expect(await page.locator('#imgd-why').textContent()).toContain('view and pull only');
    expect(await page.locator('#imgd-delete-versions').isDisabled()).toBe(true);
    expect(await page.locator('#nav-gc').count()).toBe(0);
    await screenshot('bob-shared-image-detail');

    // the UI in Chinese
    await page.locator('#lang').selectOption('zh');
    await page.locator('#imgd-edit').filter({ hasText: '编辑描述' }).waitFor();
    expect(await page.evaluate(() => document.documentElement.lang)).toBe('zh-CN');
    await screenshot('bob-chinese');
    await page.locator('#lang').selectOption('en');
    await signOut();
  });

  test('the cloud admin runs garbage collection and sees it succeed', async () => {
    await signInAs('admin');
    await page.locator('#nav-gc').click();
    await page.locator('#gc-run').click();
    await page.locator('#gc-rows tr[data-status="Success"]').first().waitFor({ timeout: 60_000 });
    await screenshot('gc-done');
    await accessibility('garbage collection');
    await page.getByRole('button', { name: /^Log #/ }).first().click();
    await page.locator('#gc-log pre').waitFor();
    await screenshot('gc-log');
    await page.keyboard.press('Escape');
  });

  test('no console errors, failed requests or script errors during the whole walk', () => {
    expect(problems).toEqual([]);
  });
});
