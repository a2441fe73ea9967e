import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { buildConsole } from '../console/build';
import { CONSOLE_SECURITY_HEADERS } from '../console/security-headers';

/**
 * Local mode's stand-in for CloudFront in front of the console: the console is built at start and
 * served from the same origin as the API (so no CORS), with the same security headers as the
 * CloudFront policy.
 */

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

export interface ConsoleFiles {
  /** True for the paths the console owns (`/`, `/index.html`, `/assets/...`); the API has the rest. */
  owns(pathname: string): boolean;
  fetch(request: Request): Response;
  initialLoadGzipBytes: number;
}

/** Without a data folder (tests, benchmarks), one build in a temporary folder serves every local mode of the process. */
let temporaryBuild: ConsoleFiles | undefined;

export function serveConsole(outDir?: string): ConsoleFiles {
  if (outDir) return buildAndServe(outDir);
  temporaryBuild ??= buildAndServe(mkdtempSync(path.join(tmpdir(), 'tierline-console-')));
  return temporaryBuild;
}

function buildAndServe(outDir: string): ConsoleFiles {
  const build = buildConsole(outDir);
  // Built once; kept in memory (three small files).
  const files = new Map<string, Buffer>();
  for (const f of build.files) files.set(`/${f.file}`, readFileSync(path.join(outDir, f.file)));
  return {
    initialLoadGzipBytes: build.initialLoadGzipBytes,
    owns: (pathname) =>
      pathname === '/' || pathname === '/index.html' || pathname.startsWith('/assets/'),
    fetch: (request) => {
      const { pathname } = new URL(request.url);
      const name = pathname === '/' ? '/index.html' : pathname;
      const body = files.get(name);
      const headers: Record<string, string> = { ...CONSOLE_SECURITY_HEADERS };
      if (!body || (request.method !== 'GET' && request.method !== 'HEAD')) {
        return new Response('Not found', {
          status: 404,
          headers: { ...headers, 'content-type': 'text/plain' },
        });
      }
      headers['content-type'] = CONTENT_TYPES[path.extname(name)] ?? 'application/octet-stream';
      // Asset names carry their content hash; index.html names the current ones, so it is never
      // cached.
      headers['cache-control'] = name.startsWith('/assets/')
        ? 'public, max-age=31536000, immutable'
        : 'no-cache';
      return new Response(request.method === 'HEAD' ? null : new Uint8Array(body), {
        status: 200,
        headers,
      });
    },
  };
}
