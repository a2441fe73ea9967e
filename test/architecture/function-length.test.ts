import * as path from 'node:path';
import {
  countSourceFiles,
  longFunctions,
  longFunctionsIn,
  MAX_FUNCTION_LINES,
} from './function-length';

const repoRoot = path.join(__dirname, '..', '..');

describe(`no function, method or arrow function runs over ${MAX_FUNCTION_LINES} lines`, () => {
  it('reads every source folder', () => {
    // Guards against a reader that silently finds nothing (and so passes everything).
    expect(countSourceFiles(repoRoot)).toBeGreaterThan(250);
  });

  it('finds none over the limit in bin/, lib/, lambda/, local/, cli/, console/src/ and bench/', () => {
    expect(longFunctions(repoRoot).map((f) => `${f.file}: ${f.name} (${f.lines} lines)`)).toEqual(
      [],
    );
  });
});

describe('the length rule itself', () => {
  const body = (lines: number) => Array.from({ length: lines - 2 }, (_, i) => `  f(${i});`);

  it('counts a function from its first line to its last', () => {
    const text = ['function long() {', ...body(5), '}'].join('\n');
    expect(longFunctionsIn('x.ts', text, 4)).toEqual([{ file: 'x.ts', name: 'long', lines: 5 }]);
    expect(longFunctionsIn('x.ts', text, 5)).toEqual([]);
  });

  it('names methods by their class, constructors, and arrow functions by their variable', () => {
    const text = [
      'class Store {',
      '  constructor() {',
      ...body(4),
      '  }',
      '  save() {',
      ...body(4),
      '  }',
      '}',
      'const handler = async () => {',
      ...body(4),
      '};',
    ].join('\n');
    expect(longFunctionsIn('x.ts', text, 3).map((f) => f.name)).toEqual([
      'Store.constructor',
      'Store.save',
      'handler',
    ]);
  });

  it('names a callback by the call it is passed to, and finds it inside a short function', () => {
    const text = [
      'export function routes(app: App) {',
      "  app.post('/x', async (c) => {",
      ...body(6),
      '  });',
      '}',
    ].join('\n');
    expect(longFunctionsIn('x.ts', text, 5)).toEqual([
      { file: 'x.ts', name: 'routes', lines: 8 },
      { file: 'x.ts', name: '<callback of app.post>', lines: 6 },
    ]);
  });
});
