import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { buildSync } from 'esbuild';

/**
 * Builds the console into static files: `index.html` and content-hashed `assets/` (cacheable for a
 * year; index.html is not cached). Synchronous, so the CDK asset bundling can call it too. `npx tsx
 * console/build.ts` builds into `console/dist` and prints the initial load in KB gzipped; the build
 * fails above the budget.
 */

export const CONSOLE_DIR = __dirname;
export const DEFAULT_OUT_DIR = path.join(CONSOLE_DIR, 'dist');
/** The budget for what a first visit downloads (HTML + JS + CSS), gzipped. */
export const INITIAL_LOAD_BUDGET_BYTES = 100 * 1024;

export interface ConsoleBuild {
  outDir: string;
  files: { file: string; bytes: number; gzipBytes: number }[];
  initialLoadGzipBytes: number;
}

export function buildConsole(outDir: string = DEFAULT_OUT_DIR): ConsoleBuild {
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(path.join(outDir, 'assets'), { recursive: true });
  const result = buildSync({
    entryPoints: { console: path.join(CONSOLE_DIR, 'src', 'main.ts') },
    bundle: true,
    minify: true,
    format: 'esm',
    target: ['es2022'],
    outdir: path.join(outDir, 'assets'),
    entryNames: '[name]-[hash]',
    metafile: true,
    legalComments: 'none',
    define: { 'process.env.NODE_ENV': '"production"' },
    logLevel: 'silent',
  });
  const outputs = Object.keys(result.metafile.outputs).map((file) => path.resolve(file));
  const script = outputs.find((file) => file.endsWith('.js'));
  const style = outputs.find((file) => file.endsWith('.css'));
  if (!script || !style) throw new Error('the console build produced no script or stylesheet');
  const html = readFileSync(path.join(CONSOLE_DIR, 'index.html'), 'utf8')
    .replace('/assets/console.js', `/assets/${path.basename(script)}`)
    .replace('/assets/console.css', `/assets/${path.basename(style)}`);
  writeFileSync(path.join(outDir, 'index.html'), html);

  const files = [path.join(outDir, 'index.html'), script, style].map((file) => {
    const content = readFileSync(file);
    return {
      file: path.relative(outDir, file),
      bytes: content.length,
      gzipBytes: gzipSync(content, { level: 9 }).length,
    };
  });
  const initialLoadGzipBytes = files.reduce((sum, f) => sum + f.gzipBytes, 0);
  if (initialLoadGzipBytes > INITIAL_LOAD_BUDGET_BYTES) {
    throw new Error(
      `the console's initial load is ${(initialLoadGzipBytes / 1024).toFixed(1)} KB gzipped, over the ` +
        `${INITIAL_LOAD_BUDGET_BYTES / 1024} KB budget`,
    );
  }
  return { outDir, files, initialLoadGzipBytes };
}

const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;

if (require.main === module) {
  const build = buildConsole(process.argv[2] ? path.resolve(process.argv[2]) : DEFAULT_OUT_DIR);
  for (const f of build.files)
    console.log(
      `${f.file.padEnd(34)} ${kb(f.bytes).padStart(9)}  ${kb(f.gzipBytes).padStart(8)} gzipped`,
    );
  console.log(
    `initial load: ${kb(build.initialLoadGzipBytes)} gzipped (budget ${kb(INITIAL_LOAD_BUDGET_BYTES)})`,
  );
  console.log(`written to ${build.outDir}`);
}
