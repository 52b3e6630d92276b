/**
 * The console's UI text: every key exists in English and Chinese, with the same placeholders, and every key the
 * components use exists (a missing key would show its name in the UI).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

// i18n.ts reads localStorage and navigator at load time: give it what a browser has
(globalThis as Record<string, unknown>).localStorage = { getItem: () => null, setItem: () => undefined };
if (!('navigator' in globalThis)) Object.defineProperty(globalThis, 'navigator', { value: { language: 'en-US' }, configurable: true });

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { dictionaries, t, setLang } = require('../../../web/src/i18n') as typeof import('../../../web/src/i18n');

const placeholders = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

describe('console UI text', () => {
  it('Chinese and English have the same keys and placeholders, and no empty text but the idle phase', () => {
    expect(Object.keys(dictionaries.zh).sort()).toEqual(Object.keys(dictionaries.en).sort());
    for (const [k, v] of Object.entries(dictionaries.en)) {
      expect({ k, zh: placeholders(dictionaries.zh[k as keyof typeof dictionaries.en]) }).toEqual({ k, zh: placeholders(v) });
      if (k !== 'uploadPhase_idle') expect({ k, en: v.length > 0, zh: dictionaries.zh[k as keyof typeof dictionaries.en].length > 0 }).toEqual({ k, en: true, zh: true });
    }
  });

  it('every key the components use exists', () => {
    const dir = join(__dirname, '../../../web/src');
    const used = new Set<string>();
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.tsx'))) {
      for (const m of readFileSync(join(dir, f), 'utf8').matchAll(/\bt\('([A-Za-z0-9_]+)'/g)) used.add(m[1]);
    }
    expect(used.size).toBeGreaterThan(50);
    expect([...used].filter((k) => !(k in dictionaries.en))).toEqual([]);
    // the dynamic families
    for (const k of ['view_own', 'view_shared', 'view_all', 'phase_receiving', 'phase_verifying', 'phase_pushing', 'phase_succeeded', 'gc_Success', 'gc_Error', 'gc_Running', 'gc_Pending', 'gc_Stopped', 'private', 'public']) {
      expect(k in dictionaries.en).toBe(true);
    }
  });

  it('switches language and fills placeholders', () => {
    setLang('zh');
    expect(t('pageOf', { page: 1, pages: 3, total: 42 })).toBe('第 1 / 3 页 · 共 42 条');
    setLang('en');
    expect(t('pageOf', { page: 1, pages: 3, total: 42 })).toBe('Page 1 of 3 · 42 in all');
  });
});
