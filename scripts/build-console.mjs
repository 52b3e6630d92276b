#!/usr/bin/env node
// Builds the web console: web/src (Preact + TypeScript) -> <out>/assets/<name>-<hash>.{js,css} and <out>/index.html,
// bundled and minified by esbuild, nothing loaded from a CDN. Fails when the gzipped JavaScript exceeds the budget.
//   node scripts/build-console.mjs [outDir]      (default dist/console; npm run build runs it)
import { build } from 'esbuild';
import { mkdirSync, readFileSync, rmSync, writeFileSync, copyFileSync, readdirSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const out = resolve(process.argv[2] ?? join(root, 'dist/console'));
const BUDGET_GZIP_JS = 250 * 1024;

rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, 'assets'), { recursive: true });
const result = await build({
  entryPoints: { app: join(root, 'web/src/main.tsx') },
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  outdir: join(out, 'assets'),
  entryNames: '[name]-[hash]',
  assetNames: '[name]-[hash]',
  metafile: true,
  legalComments: 'linked',
  logLevel: 'warning',
  define: { 'process.env.NODE_ENV': '"production"' },
});
const files = Object.keys(result.metafile.outputs).map((f) => basename(f));
const js = files.find((f) => /^app-.*\.js$/.test(f));
const css = files.find((f) => /^app-.*\.css$/.test(f));
if (!js || !css) throw new Error(`console build: missing outputs (${files.join(', ')})`);
for (const f of readdirSync(join(root, 'web/public'))) copyFileSync(join(root, 'web/public', f), join(out, 'assets', f));
const html = readFileSync(join(root, 'web/index.html'), 'utf8').replace('%APP_JS%', `assets/${js}`).replace('%APP_CSS%', `assets/${css}`);
writeFileSync(join(out, 'index.html'), html);
const gz = gzipSync(readFileSync(join(out, 'assets', js))).length;
const report = { js, css, jsBytes: readFileSync(join(out, 'assets', js)).length, jsGzipBytes: gz, budgetGzipBytes: BUDGET_GZIP_JS };
writeFileSync(join(out, 'build.json'), JSON.stringify(report, null, 2));
if (gz > BUDGET_GZIP_JS) {
  console.error(`console build: ${js} is ${gz} bytes gzipped, over the ${BUDGET_GZIP_JS}-byte budget`);
  process.exit(1);
}
if (process.env.npm_lifecycle_event !== 'build' || process.env.CONSOLE_BUILD_VERBOSE) console.error(`console built in ${out}: ${js} ${Math.round(gz / 1024)} KB gzipped`);
