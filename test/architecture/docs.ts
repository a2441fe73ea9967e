import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';

/** README.md and every Markdown page under docs/, as repo-relative paths. */
export function docPages(root: string): string[] {
  const pages = ['README.md'];
  const walk = (folder: string) => {
    for (const entry of fs.readdirSync(path.join(root, folder), { withFileTypes: true })) {
      const relative = path.posix.join(folder, entry.name);
      if (entry.isDirectory()) walk(relative);
      else if (entry.name.endsWith('.md')) pages.push(relative);
    }
  };
  walk('docs');
  return pages;
}

/** One thing a page names, with where: `docs/using.md:12`. */
export interface Mention {
  page: string;
  line: number;
  text: string;
}

function eachLine(page: string, text: string, find: (line: string) => string[]): Mention[] {
  return text
    .split('\n')
    .flatMap((line, index) => find(line).map((found) => ({ page, line: index + 1, text: found })));
}

/** `npm run x`, `npm start`, `npm test`: the script each names (`ci`, `install` are npm's own). */
export function npmScripts(page: string, text: string): Mention[] {
  return eachLine(page, text, (line) =>
    [...line.matchAll(/\bnpm (?:run ([\w:.-]+)|(start|test)\b)/g)].map((m) => m[1] ?? m[2] ?? ''),
  );
}

/** Every `npx tierline ...` command line, up to the end of its code span, comment or line. */
export function cliInvocations(page: string, text: string): Mention[] {
  return eachLine(page, text, (line) =>
    [...line.matchAll(/npx tierline((?: +[^\s`#|)]+)*)/g)].map((m) => (m[1] ?? '').trim()),
  );
}

/** What an invocation runs: the command path (`customers create`) and the options it passes. */
export interface ParsedInvocation {
  commands: string[];
  options: string[];
}

const unbracketed = (word: string) => word.replace(/^\[/, '').replace(/\]$/, '');

const findOption = (command: Command, flag: string) =>
  command.options.find((o) => o.long === flag || o.short === flag);

/**
 * Splits `--env prod customers create --name X` into its commands and its options: a word after an
 * option that takes a value is that value; a word where a command belongs is taken as one (so an
 * unknown command is reported, not skipped); the words after the last command are its arguments.
 */
export function parseInvocation(program: Command, invocation: string): ParsedInvocation {
  const words = invocation
    .split(/\s+/)
    .filter((w) => w !== '' && w !== '\\')
    .map(unbracketed);
  const commands: string[] = [];
  const options: string[] = [];
  let current: Command | undefined = program;
  for (let i = 0; i < words.length; i += 1) {
    const word = words[i] ?? '';
    if (word.startsWith('-')) {
      const flag = word.split('=')[0] ?? word;
      options.push(flag);
      const option =
        (current && findOption(current, flag)) ?? findOption(program, flag) ?? undefined;
      const next = words[i + 1];
      if (
        option &&
        (option.required || option.optional) &&
        !word.includes('=') &&
        next &&
        !next.startsWith('-')
      )
        i += 1;
      continue;
    }
    if (current === undefined) continue;
    const sub: Command | undefined = current.commands.find(
      (c) => c.name() === word || c.aliases().includes(word),
    );
    if (sub) {
      commands.push(word);
      current = sub;
    } else if (current.commands.length > 0) {
      // A group (or the program) wants a command here: this word is not one.
      commands.push(word);
      current = undefined;
    } else {
      current = undefined;
    }
  }
  return { commands, options };
}

/**
 * What is wrong with an invocation, or undefined: an unknown command (or a group named without
 * one of its commands), or an option neither the command nor the program defines.
 */
export function invocationProblem(program: Command, invocation: string): string | undefined {
  if (invocation === '' || invocation === '--help') return undefined;
  const { commands, options } = parseInvocation(program, invocation);
  let current: Command = program;
  for (const name of commands) {
    const sub = current.commands.find((c) => c.name() === name || c.aliases().includes(name));
    if (!sub) return `no command '${commands.join(' ')}'`;
    current = sub;
  }
  const known = new Set(
    [...current.options, ...program.options, ...(current.parent?.options ?? [])].flatMap((o) => [
      o.long,
      o.short,
    ]),
  );
  known.add('--help');
  if (current.commands.length > 0 && !options.includes('--help'))
    return `'${commands.join(' ')}' names a group without one of its commands`;
  const unknown = options.filter((o) => !known.has(o));
  if (unknown.length > 0) return `'${commands.join(' ')}' has no option ${unknown.join(', ')}`;
  return undefined;
}

/** `TIERLINE_ENV`, `AWS_REGION=...`: names in capitals with an underscore, in code or `KEY=value`. */
export function environmentVariables(page: string, text: string): Mention[] {
  return eachLine(page, text, (line) => {
    const names = new Set<string>();
    for (const m of line.matchAll(/`([^`]+)`/g)) {
      for (const n of (m[1] ?? '').matchAll(
        /(?:^|[\s$({])([A-Z][A-Z0-9]*_[A-Z0-9_]*[A-Z0-9])(?==|$|\s|\)|})/g,
      ))
        names.add(n[1] ?? '');
    }
    for (const n of line.matchAll(/\b(TIERLINE_[A-Z0-9_]*[A-Z0-9])\b/g)) names.add(n[1] ?? '');
    for (const n of line.matchAll(/(?:^|\s)([A-Z][A-Z0-9]*_[A-Z0-9_]*[A-Z0-9])=/g))
      names.add(n[1] ?? '');
    return [...names];
  });
}

/** Markdown links to a file of the repo: `[text](docs/using.md#anchor)`, relative to the page. */
export function relativeLinks(page: string, text: string): Mention[] {
  return eachLine(page, text, (line) =>
    [...line.matchAll(/\]\(([^)\s]+)\)/g)]
      .map((m) => m[1] ?? '')
      .filter((target) => !/^(?:[a-z]+:|#)/.test(target)),
  );
}

/** The top-level entries a path in backticks may start with to count as a path of this repo. */
export const REPO_ROOTS = [
  'bin',
  'lib',
  'lambda',
  'local',
  'cli',
  'console',
  'bench',
  'test',
  'docs',
  'training',
  'types',
];

/** Paths in backticks that start at a top-level folder of the repo: `lambda/http/app.ts`, `test/e2e/`. */
export function repoPaths(page: string, text: string): Mention[] {
  return eachLine(page, text, (line) =>
    [...line.matchAll(/`([^`\s]+)`/g)]
      .map((m) => (m[1] ?? '').replace(/[:,.]$/, ''))
      .filter((candidate) => {
        const first = candidate.split('/')[0] ?? '';
        return (
          candidate.includes('/') &&
          REPO_ROOTS.includes(first) &&
          !/[<>*{}$]|\.\.\./.test(candidate)
        );
      }),
  );
}

/** File names in backticks without a folder: `jobs-service.ts`, `train.py`. */
export function bareFileNames(page: string, text: string): Mention[] {
  return eachLine(page, text, (line) =>
    [...line.matchAll(/`([\w.-]+\.(?:ts|tsx|cjs|js|py|md|json|yml|yaml|sh))`/g)].map(
      (m) => m[1] ?? '',
    ),
  );
}
