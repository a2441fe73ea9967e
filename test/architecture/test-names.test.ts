import * as fs from 'node:fs';
import * as path from 'node:path';
import { HISTORY_IN_NAME, pytestNames, testFiles, testNamesIn } from './test-names';

const repoRoot = path.join(__dirname, '..', '..');

describe('tests are named for the behaviour they hold, not for the history that found it', () => {
  const files = testFiles(repoRoot);
  const names = files.flatMap((file) =>
    testNamesIn(file, fs.readFileSync(path.join(repoRoot, file), 'utf8')),
  );

  it('reads every test file and its names', () => {
    // Guards against a reader that silently finds nothing (and so passes everything).
    expect(files.length).toBeGreaterThan(100);
    expect(names.length).toBeGreaterThan(1000);
    expect(pytestNames(repoRoot).length).toBeGreaterThan(20);
  });

  it('has no describe, it or test named after the history that found it (a bug label, a code reading, a ticket number)', () => {
    const historical = [...names, ...pytestNames(repoRoot)].filter((n) =>
      HISTORY_IN_NAME.test(n.name),
    );
    expect(historical.map((n) => `${n.file}:${n.line}: ${n.name}`)).toEqual([]);
  });

  it('has no test file named after that history either', () => {
    expect(files.filter((file) => /review|defect|issue-?\d/i.test(path.basename(file)))).toEqual(
      [],
    );
  });
});

describe('the name rule itself', () => {
  it.each([
    ['DEFECT: a retry double-bills, it fails today'],
    ['review 3: refuses a foreign file'],
    ['(issue 9) holds the limit'],
    ['holds the limit (#12)'],
    ['issue 20 row 7'],
  ])('refuses %s', (name) => {
    expect(HISTORY_IN_NAME.test(name)).toBe(true);
  });

  it.each([
    ['issues a new key on the same usage identifier'],
    ['refuses another issuer alike'],
    ['answers 404 for another organization'],
  ])('accepts %s', (name) => {
    expect(HISTORY_IN_NAME.test(name)).toBe(false);
  });

  it('finds names in describe, it, test and their .each, .skip and .only forms', () => {
    const text = [
      "describe('group', () => {",
      "  it('one', () => {});",
      "  it.each([[1]])('two %s', () => {});",
      "  test.skip(`three ${'x'}`, () => {});",
      "  describe.only('four', () => {});",
      "  other('not a test', () => {});",
      '});',
    ].join('\n');
    expect(testNamesIn('x.test.ts', text).map((n) => n.name)).toEqual([
      'group',
      'one',
      'two %s',
      "three ${'x'}",
      'four',
    ]);
  });
});
