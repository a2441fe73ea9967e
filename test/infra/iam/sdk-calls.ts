import { readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';

export const REPO = path.join(__dirname, '..', '..', '..');

/** Declarations whose name a call is filed under: top-level functions and constants, and class members. */
const TOP_LEVEL =
  /^(?:export\s+)?(?:default\s+)?(?:async\s+)?(?:function\s*\*?\s*(\w+)|const\s+(\w+)\s*=)/;
const MEMBER =
  /^ {2}(?=\S)(?:(?:public|private|protected|static|readonly|async|override|get|set)\s+)*\*?\s*(\w+)\s*(?:<[^>]*>)?\s*\(/;
const NOT_A_NAME = new Set([
  'if',
  'for',
  'while',
  'switch',
  'catch',
  'return',
  'await',
  'throw',
  'super',
  'typeof',
]);

/** What sends a request to AWS: a command object, a paginator, lib-storage's managed upload. */
const SENT = [/\bnew\s+(\w+Command)\s*\(/g, /\b(paginate\w+)\s*\(/g, /\bnew\s+(Upload)\s*\(/g];

function typescriptFiles(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const full = path.join(dir, name);
      if (statSync(full).isDirectory()) return typescriptFiles(full);
      return name.endsWith('.ts') && !name.endsWith('.d.ts') ? [full] : [];
    });
}

/**
 * Every AWS SDK call in `lambda/`, as `lambda/<file>#<enclosing function>: <Command>`: each `new
 * XxxCommand(` (sent with `client.send`, or presigned with `getSignedUrl`: both are authorized as
 * the command's action), each paginator (`paginateXxx(`) and each lib-storage `new Upload(`.
 */
export function sdkCallsIn(folder = 'lambda'): string[] {
  const calls = new Set<string>();
  for (const file of typescriptFiles(path.join(REPO, folder))) {
    const relative = path.relative(REPO, file).split(path.sep).join('/');
    let enclosing = '(module)';
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const top = TOP_LEVEL.exec(line);
      const member = MEMBER.exec(line);
      if (top) enclosing = top[1] ?? top[2] ?? enclosing;
      else if (member?.[1] && !NOT_A_NAME.has(member[1])) enclosing = member[1];
      if (line.trimStart().startsWith('//') || line.trimStart().startsWith('*')) continue;
      for (const pattern of SENT) {
        for (const match of line.matchAll(pattern))
          calls.add(`${relative}#${enclosing}: ${match[1]}`);
      }
    }
  }
  return [...calls].sort();
}

/** The operations the lean DynamoDB client sends itself (signed HTTP requests, not SDK commands). */
export function leanClientOperations(): string[] {
  const source = readFileSync(
    path.join(REPO, 'lambda', 'storage', 'lean-document-client.ts'),
    'utf8',
  );
  const union = /type Operation =([^;]+);/.exec(source);
  if (!union?.[1]) throw new Error('lean-document-client.ts: no `type Operation = ...;` union');
  return [...union[1].matchAll(/'(\w+)'/g)].map((m) => m[1] as string);
}
