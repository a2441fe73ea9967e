import * as fs from 'node:fs';
import * as path from 'node:path';
import ts from 'typescript';

/** The folders whose functions the limit covers: everything that ships or runs, not the tests. */
export const SOURCE_FOLDERS = ['bin', 'lib', 'lambda', 'local', 'cli', 'console/src', 'bench'];

/** Longer than this, a function hides parts a name would explain. */
export const MAX_FUNCTION_LINES = 120;

export interface LongFunction {
  file: string;
  name: string;
  lines: number;
}

function sourceFiles(root: string, folder: string): string[] {
  const dir = path.join(root, folder);
  if (!fs.existsSync(dir)) return [];
  const found: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const relative = path.posix.join(folder, entry.name);
    if (entry.isDirectory()) {
      if (entry.name === 'node_modules' || entry.name === 'cdk.out') continue;
      found.push(...sourceFiles(root, relative));
    } else if (/\.tsx?$/.test(entry.name) && !entry.name.endsWith('.d.ts')) {
      found.push(relative);
    }
  }
  return found;
}

/** A readable name for a function node: its own, its variable's, its property's, or `<anonymous>`. */
function functionName(node: ts.FunctionLikeDeclaration, sourceFile: ts.SourceFile): string {
  const own = node.name?.getText(sourceFile);
  const owner =
    ts.isMethodDeclaration(node) || ts.isConstructorDeclaration(node)
      ? node.parent && ts.isClassLike(node.parent)
        ? node.parent.name?.getText(sourceFile)
        : undefined
      : undefined;
  if (ts.isConstructorDeclaration(node)) return `${owner ?? '<class>'}.constructor`;
  if (own) return owner ? `${owner}.${own}` : own;
  const parent = node.parent;
  if (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent)) {
    return parent.name.getText(sourceFile);
  }
  if (ts.isCallExpression(parent)) {
    return `<callback of ${parent.expression.getText(sourceFile).slice(0, 40)}>`;
  }
  return '<anonymous>';
}

function isFunctionLike(node: ts.Node): node is ts.FunctionLikeDeclaration {
  return (
    ts.isFunctionDeclaration(node) ||
    ts.isFunctionExpression(node) ||
    ts.isArrowFunction(node) ||
    ts.isMethodDeclaration(node) ||
    ts.isConstructorDeclaration(node) ||
    ts.isGetAccessorDeclaration(node) ||
    ts.isSetAccessorDeclaration(node)
  );
}

export function longFunctionsIn(
  file: string,
  text: string,
  max = MAX_FUNCTION_LINES,
): LongFunction[] {
  const sourceFile = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const found: LongFunction[] = [];
  const visit = (node: ts.Node): void => {
    if (isFunctionLike(node) && node.body) {
      const start = sourceFile.getLineAndCharacterOfPosition(node.getStart(sourceFile)).line;
      const end = sourceFile.getLineAndCharacterOfPosition(node.getEnd()).line;
      const lines = end - start + 1;
      if (lines > max) found.push({ file, name: functionName(node, sourceFile), lines });
    }
    ts.forEachChild(node, visit);
  };
  visit(sourceFile);
  return found;
}

export function longFunctions(root: string, max = MAX_FUNCTION_LINES): LongFunction[] {
  return SOURCE_FOLDERS.flatMap((folder) => sourceFiles(root, folder)).flatMap((file) =>
    longFunctionsIn(file, fs.readFileSync(path.join(root, file), 'utf8'), max),
  );
}

export function countSourceFiles(root: string): number {
  return SOURCE_FOLDERS.flatMap((folder) => sourceFiles(root, folder)).length;
}
