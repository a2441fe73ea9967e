import * as fs from 'node:fs';
import * as path from 'node:path';
import ts from 'typescript';

/** What a test's name must not say: its history (a defect, a review, an issue) instead of its behaviour. */
export const HISTORY_IN_NAME = /DEFECT|\breview|\bissue\s*#?\d+|#\d+/i;

export interface TestName {
  file: string;
  line: number;
  name: string;
}

const TEST_FUNCTIONS = new Set(['describe', 'it', 'test']);

/** `it`, `it.each([...])`, `describe.skip`, `test.concurrent.each(...)`: the base name, or undefined. */
function testFunctionOf(callee: ts.Expression): string | undefined {
  let current: ts.Expression = callee;
  // `it.each([...])('name', ...)`: the callee is itself a call.
  if (ts.isCallExpression(current)) current = current.expression;
  while (ts.isPropertyAccessExpression(current)) current = current.expression;
  return ts.isIdentifier(current) && TEST_FUNCTIONS.has(current.text) ? current.text : undefined;
}

/** The literal name of every describe/it/test in one file (template literals with their holes as written). */
export function testNamesIn(file: string, text: string): TestName[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const names: TestName[] = [];
  const visit = (node: ts.Node) => {
    if (ts.isCallExpression(node) && testFunctionOf(node.expression)) {
      const first = node.arguments[0];
      if (first && (ts.isStringLiteralLike(first) || ts.isTemplateExpression(first))) {
        names.push({
          file,
          line: source.getLineAndCharacterOfPosition(first.getStart(source)).line + 1,
          name: ts.isStringLiteralLike(first) ? first.text : first.getText(source).slice(1, -1),
        });
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return names;
}

export function testFiles(root: string, folder = 'test'): string[] {
  const found: string[] = [];
  for (const entry of fs.readdirSync(path.join(root, folder), { withFileTypes: true })) {
    const relative = path.posix.join(folder, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'fixtures' && entry.name !== '__snapshots__')
        found.push(...testFiles(root, relative));
    } else if (/\.test\.tsx?$/.test(entry.name)) found.push(relative);
  }
  return found;
}

/** Every pytest test function's name under `training/`. */
export function pytestNames(root: string, folder = 'training'): TestName[] {
  const names: TestName[] = [];
  for (const entry of fs.readdirSync(path.join(root, folder), { withFileTypes: true })) {
    const relative = path.posix.join(folder, entry.name);
    if (entry.isDirectory()) {
      if (!['__pycache__', '.pytest_cache', '.venv-training'].includes(entry.name))
        names.push(...pytestNames(root, relative));
    } else if (/^test_.*\.py$/.test(entry.name)) {
      fs.readFileSync(path.join(root, relative), 'utf8')
        .split('\n')
        .forEach((line, index) => {
          const m = /^\s*def (test_\w+)/.exec(line);
          if (m?.[1]) names.push({ file: relative, line: index + 1, name: m[1] });
        });
    }
  }
  return names;
}
