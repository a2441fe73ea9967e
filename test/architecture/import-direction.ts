import { readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import * as ts from 'typescript';

/**
 * The runtime's layers, top to bottom. A file may import its own folder and any folder below its
 * own layer; concern folders may import each other as long as no two import each other (directly or
 * through others), so a concern can always be read without the ones that build on it.
 */
export const LAYERS = {
  handlers: 4,
  http: 3,
  /**
   * The composition root: builds every store and service from the engines (AWS's or local mode's)
   * and the config. Above the concerns it builds, below the HTTP layer and the handlers that use it.
   */
  composition: 2,
  customers: 1,
  accounts: 1,
  inference: 1,
  metering: 1,
  files: 1,
  batches: 1,
  'fine-tuning': 1,
  billing: 1,
  mail: 1,
  responses: 1,
  audio: 1,
  openai: 0,
  /** DynamoDB reading helpers and the SDK clients' timeouts, beside openai/ on the ground floor: every concern uses them. */
  storage: 0,
} as const;

/** Files at the root of `lambda/` sit on the ground floor beside `openai/` (today: the bundled config). */
const ROOT_FILE_LAYER = 0;

/** The only folders outside `lambda/` that runtime code may import: the validated config and its types. */
const ALLOWED_OUTSIDE = ['lib/config/'];

export interface ImportEdge {
  /** Importing file, relative to the repository root with `/` separators. */
  from: string;
  /** Imported file, resolved and relative to the repository root. */
  to: string;
}

function folderOf(file: string): string | undefined {
  const parts = file.split('/');
  return parts.length > 2 ? parts[1] : undefined;
}

function layerOf(file: string): number | undefined {
  const folder = folderOf(file);
  if (folder === undefined) return ROOT_FILE_LAYER;
  return (LAYERS as Record<string, number>)[folder];
}

/** Why this edge breaks the direction, or undefined when it is allowed. Cycles are checked separately. */
export function violationOf({ from, to }: ImportEdge): string | undefined {
  const fromLayer = layerOf(from);
  if (fromLayer === undefined) {
    return `${from} is in lambda/${folderOf(from)}/, which is not a known layer: add it to LAYERS in test/architecture/import-direction.ts (a concern folder is layer 1)`;
  }
  if (!to.startsWith('lambda/')) {
    if (ALLOWED_OUTSIDE.some((prefix) => to.startsWith(prefix))) return undefined;
    return `${from} imports ${to}: runtime code may import only ${ALLOWED_OUTSIDE.join(', ')} outside lambda/`;
  }
  const fromFolder = folderOf(from);
  const toFolder = folderOf(to);
  if (fromFolder !== undefined && fromFolder === toFolder) return undefined;
  const toLayer = layerOf(to);
  if (toLayer === undefined)
    return `${from} imports ${to}, which is in a folder that is not a known layer`;
  if (fromFolder === 'openai')
    return `${from} imports ${to}: openai/ is the ground floor and imports nothing else from lambda/`;
  if (toLayer < fromLayer) return undefined;
  if (toLayer === 1 && fromLayer === 1) return undefined;
  return `${from} imports ${to}: lambda/${fromFolder ?? ''} (layer ${fromLayer}) must not import lambda/${toFolder ?? ''} (layer ${toLayer}); imports run handlers/ -> http/ -> composition/ -> concerns -> openai/`;
}

/** Pairs of concern folders that import each other, directly or through other concerns. */
export function concernCycles(edges: readonly ImportEdge[]): string[] {
  const graph = new Map<string, Set<string>>();
  for (const { from, to } of edges) {
    const a = folderOf(from);
    const b = folderOf(to);
    if (a === undefined || b === undefined || a === b || layerOf(from) !== 1 || layerOf(to) !== 1)
      continue;
    if (!graph.has(a)) graph.set(a, new Set());
    graph.get(a)?.add(b);
  }
  const reaches = (start: string, goal: string): boolean => {
    const seen = new Set<string>();
    const stack = [start];
    while (stack.length > 0) {
      const next = stack.pop() as string;
      if (next === goal) return true;
      if (seen.has(next)) continue;
      seen.add(next);
      stack.push(...(graph.get(next) ?? []));
    }
    return false;
  };
  const folders = [...graph.keys()].sort();
  const cycles: string[] = [];
  for (const [i, a] of folders.entries()) {
    for (const b of folders.slice(i + 1)) {
      if (reaches(a, b) && reaches(b, a))
        cycles.push(`lambda/${a}/ and lambda/${b}/ import each other`);
    }
  }
  return cycles;
}

function tsFilesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return tsFilesUnder(full);
    return name.endsWith('.ts') ? [full] : [];
  });
}

function resolveRelative(fromFile: string, specifier: string): string {
  const base = path.resolve(path.dirname(fromFile), specifier);
  for (const candidate of [`${base}.ts`, path.join(base, 'index.ts'), base]) {
    try {
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not this candidate
    }
  }
  return base;
}

/** Every relative import (static, type-only, re-export, dynamic, require) of every file under `lambda/`. */
export function lambdaImports(repoRoot: string): ImportEdge[] {
  const relative = (file: string) => path.relative(repoRoot, file).split(path.sep).join('/');
  return tsFilesUnder(path.join(repoRoot, 'lambda')).flatMap((file) => {
    const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    return importedFiles
      .filter(({ fileName }) => fileName.startsWith('.'))
      .map(({ fileName }) => ({
        from: relative(file),
        to: relative(resolveRelative(file, fileName)),
      }));
  });
}
