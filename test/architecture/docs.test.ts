import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildProgram } from '../../cli/main';
import {
  bareFileNames,
  cliInvocations,
  docPages,
  environmentVariables,
  invocationProblem,
  type Mention,
  npmScripts,
  relativeLinks,
  repoPaths,
} from './docs';

const repoRoot = path.join(__dirname, '..', '..');
const read = (file: string) => fs.readFileSync(path.join(repoRoot, file), 'utf8');
const where = (m: Mention) => `${m.page}:${m.line}: ${m.text}`;

/** The CLI as `npx tierline` builds it; never connected (nothing here runs a command). */
const program = buildProgram({
  out: () => {},
  err: () => {},
  connect: () => Promise.reject(new Error('the docs test parses commands, it never runs one')),
} as unknown as Parameters<typeof buildProgram>[0]);

const pages = docPages(repoRoot).map((page) => ({ page, text: read(page) }));
const all = (find: (page: string, text: string) => Mention[]) =>
  pages.flatMap(({ page, text }) => find(page, text));

/** Every source file that may read (or set, for a container) an environment variable. */
function sourceTexts(): string[] {
  const texts: string[] = [];
  const walk = (folder: string) => {
    for (const entry of fs.readdirSync(path.join(repoRoot, folder), { withFileTypes: true })) {
      const relative = path.posix.join(folder, entry.name);
      if (entry.isDirectory()) {
        if (!['node_modules', 'dist', '__pycache__', 'cdk.out'].includes(entry.name))
          walk(relative);
      } else if (/\.(ts|cjs|py)$/.test(entry.name)) texts.push(read(relative));
    }
  };
  for (const folder of ['bin', 'lib', 'lambda', 'local', 'cli', 'console', 'bench', 'training'])
    walk(folder);
  return texts;
}

/**
 * Capitals-with-underscore names in the docs that are not environment variables, each with why.
 */
const NOT_ENVIRONMENT_VARIABLES: Record<string, string> = {
  USER_PASSWORD_AUTH: "a Cognito app client's auth flow (decisions.md, console sign-in)",
  CUSTOM_FASTAPI_INVOCATION_HANDLER:
    "the SageMaker vLLM container's handler override (speech-to-text.md, set by speech-endpoint.ts)",
};

/** File names the docs give that are not this repository's files, each with whose they are. */
const OTHER_FILES: Record<string, string> = {
  'MeterEventsResource.d.ts':
    "stripe-node's type declarations (decisions.md, the meter events' idempotency)",
  'config.json': "a model's weights folder (Hugging Face layout)",
  'tokenizer.json': "a model's weights folder (Hugging Face layout)",
  'adapter_config.json': 'a PEFT LoRA adapter archive',
  'training.json': 'what the training script writes into its output (training/lora/)',
  'model.py':
    "the handler script aws/model-hosting-container-standards loads from a SageMaker model's data",
};

/** Every file name the repository holds, for names given without their folder. */
function repoFileNames(): Set<string> {
  const names = new Set<string>();
  const walk = (folder: string) => {
    for (const entry of fs.readdirSync(path.join(repoRoot, folder), { withFileTypes: true })) {
      if (entry.isDirectory()) {
        if (!['node_modules', '.git', 'cdk.out', 'dist'].includes(entry.name))
          walk(path.posix.join(folder, entry.name));
      } else names.add(entry.name);
    }
  };
  walk('.');
  return names;
}

/** Build outputs the docs name (each in .gitignore): made by a command, absent from a clone. */
const gitIgnored = read('.gitignore')
  .split('\n')
  .map((line) => line.trim())
  .filter((line) => line !== '' && !line.startsWith('#'));

describe('the docs name only what exists', () => {
  it('reads README.md and every page under docs/', () => {
    expect(pages.map((p) => p.page)).toEqual(
      expect.arrayContaining([
        'README.md',
        'docs/using.md',
        'docs/operating.md',
        'docs/contributing.md',
        'docs/decisions.md',
        'docs/benchmarks.md',
      ]),
    );
    // Guards against finders that silently find nothing (and so pass everything).
    expect(all(npmScripts).length).toBeGreaterThan(10);
    expect(all(cliInvocations).length).toBeGreaterThan(20);
    expect(all(environmentVariables).length).toBeGreaterThan(20);
    expect(all(repoPaths).length).toBeGreaterThan(50);
  });

  it('names only npm scripts that package.json defines', () => {
    const scripts = Object.keys(JSON.parse(read('package.json')).scripts);
    expect(
      all(npmScripts)
        .filter((m) => !scripts.includes(m.text))
        .map(where),
    ).toEqual([]);
  });

  it('names only tierline commands and options the CLI defines', () => {
    const problems = all(cliInvocations).flatMap((m) => {
      const problem = invocationProblem(program, m.text);
      return problem ? [`${where(m)} (${problem})`] : [];
    });
    expect(problems).toEqual([]);
  });

  it('names only environment variables the code reads or sets', () => {
    const sources = sourceTexts().join('\n');
    const used = (name: string) =>
      new RegExp(`(?:env\\.${name}\\b|['"\`]${name}['"\`]|\\b${name}:)`).test(sources);
    const unread = all(environmentVariables).filter(
      (m) => !(m.text in NOT_ENVIRONMENT_VARIABLES) && !used(m.text),
    );
    expect(unread.map(where)).toEqual([]);
  });

  it('links only to files that exist', () => {
    const broken = all(relativeLinks).filter((m) => {
      const target = m.text.split('#')[0] ?? '';
      return target !== '' && !fs.existsSync(path.join(repoRoot, path.dirname(m.page), target));
    });
    expect(broken.map(where)).toEqual([]);
  });

  it('names only repository paths that exist, or build outputs .gitignore lists', () => {
    const missing = all(repoPaths).filter(
      (m) => !fs.existsSync(path.join(repoRoot, m.text)) && !gitIgnored.includes(m.text),
    );
    expect(missing.map(where)).toEqual([]);
  });

  it("names only file names the repository holds, or other projects' files listed with whose", () => {
    const names = repoFileNames();
    const missing = all(bareFileNames).filter(
      (m) => !names.has(m.text) && !(m.text in OTHER_FILES),
    );
    expect(missing.map(where)).toEqual([]);
  });

  it('keeps README.md short: the two commands first, then a walkable page', () => {
    const readme = read('README.md');
    expect(readme.split('\n').length).toBeLessThanOrEqual(250);
    const open = readme.indexOf('```');
    const firstBlock = readme.slice(open, readme.indexOf('```', open + 3));
    expect(firstBlock).toContain('npm ci && npm start');
    expect(firstBlock).toContain('npm test');
  });
});

describe('the command check itself', () => {
  it.each([
    ['customers create --name X --email x@example.com --tier developer'],
    ['--env prod --region eu-west-1 customers create --name "Acme"'],
    ['usage show cus_... [--month 2026-11]'],
    ['--env ENV --region REGION doctor [--config-file FILE] [--json] [--strict]'],
    ['--help'],
  ])('accepts %s', (invocation) => {
    expect(invocationProblem(program, invocation)).toBeUndefined();
  });

  it.each([
    ['customers frobnicate cus_1', /no command 'customers frobnicate'/],
    ['invoices list', /no command 'invoices'/],
    ['customers', /names a group without one of its commands/],
    ['usage show cus_1 --bogus 3', /'usage show' has no option --bogus/],
    ['--env prod plans list --rate 5', /'plans list' has no option --rate/],
  ])('refuses %s', (invocation, problem) => {
    expect(invocationProblem(program, invocation)).toMatch(problem);
  });

  it('finds variables in code spans and assignments, and npm scripts anywhere', () => {
    const text = [
      'Set `TIERLINE_PORT` (or run `BENCH_OUT=x npm run bench:gateway`).',
      'AWS_REGION=us-east-1 npm start; `npm test`',
    ].join('\n');
    expect(environmentVariables('p.md', text).map((m) => m.text)).toEqual([
      'TIERLINE_PORT',
      'BENCH_OUT',
      'AWS_REGION',
    ]);
    expect(npmScripts('p.md', text).map((m) => m.text)).toEqual(['bench:gateway', 'start', 'test']);
  });
});
