import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import * as path from 'node:path';

/**
 * The synthesized templates of one app configuration, shared by every infra test file that asks
 * for the same configuration: whole-app synthesis (with CDK's built-in CloudFormation validation,
 * about 5 s of CPU on the first synthesis in each test file) then happens once per configuration
 * and source tree, not once per file.
 *
 * An entry is keyed by the configuration and a hash of every file synthesis can read (the CDK app,
 * the runtime code and training script it imports and packs, cdk.json, the lockfile and the
 * installed CDK), so a change anywhere there is a new key: never a stale template. Entries are
 * written to a temporary name and renamed (atomic on one file system): a reader sees a whole file
 * or none. A lock file lets one worker synthesize a configuration while the others wait for it.
 */

const ROOT = path.join(__dirname, '..', '..');
/** Inside node_modules: per clone, gone with `npm ci`, ignored by git. */
const CACHE_DIR = path.join(ROOT, 'node_modules', '.cache', 'tierline-synth');

/** What synthesis reads: the app, what it imports from the runtime and console, what it packs. */
const SOURCE_DIRS = ['bin', 'lib', 'lambda', 'console', 'training/lora'];
const SOURCE_FILES = [
  'cdk.json',
  'package.json',
  'package-lock.json',
  'tsconfig.json',
  'test/support/synth.ts',
  'test/support/synth-cache.ts',
];
/** Installed packages whose code renders the templates (the lockfile says what should be there). */
const RENDERING_PACKAGES = ['aws-cdk-lib', 'constructs'];
/** Build output, caches and dot folders: never read at synthesis. */
const SKIPPED = new Set(['node_modules', 'dist', '__pycache__', '.pytest_cache']);
/** Environment variables CDK and the AWS SDK read. */
const READ_ENVIRONMENT = /^(CDK|AWS|JSII)_/;

/** A lock older than this belongs to a worker that is stuck, not slow (one synthesis: ~10 s). */
const LOCK_PATIENCE_MS = 5 * 60_000;
const POLL_MS = 100;
/** Entries of older source trees are removed when they have not been written for this long. */
const KEEP_MS = 24 * 60 * 60_000;

function sourceFiles(relativeDir: string): string[] {
  return readdirSync(path.join(ROOT, relativeDir), { withFileTypes: true })
    .filter((entry) => !SKIPPED.has(entry.name) && !entry.name.startsWith('.'))
    .flatMap((entry) => {
      const relative = path.posix.join(relativeDir, entry.name);
      if (entry.isDirectory()) return sourceFiles(relative);
      return entry.isFile() ? [relative] : [];
    });
}

let fingerprint: string | undefined;

/** A hash of every input of synthesis but the configuration (computed once per test file: ~20 ms). */
export function sourceFingerprint(): string {
  if (fingerprint) return fingerprint;
  const hash = createHash('sha256');
  const files = [...SOURCE_DIRS.flatMap(sourceFiles), ...SOURCE_FILES].sort();
  for (const file of files) hash.update(`${file}\0`).update(readFileSync(path.join(ROOT, file)));
  for (const name of RENDERING_PACKAGES) {
    const manifest = path.join(ROOT, 'node_modules', name, 'package.json');
    hash.update(`${name}@${JSON.parse(readFileSync(manifest, 'utf8')).version}\0`);
  }
  const environment = Object.entries(process.env)
    .filter(([name]) => READ_ENVIRONMENT.test(name))
    .sort(([a], [b]) => a.localeCompare(b));
  // The checkout's own path too: worktrees that share node_modules (hard links) share this cache, and
  // a template made in one checkout differed from another's (seen as "shared templates differ").
  hash.update(JSON.stringify([process.version, environment, ROOT]));
  fingerprint = hash.digest('hex');
  return fingerprint;
}

/** The cache key of one configuration (any JSON value) in this source tree. */
export function cacheKey(configuration: unknown): string {
  return createHash('sha256')
    .update(sourceFingerprint())
    .update(JSON.stringify(configuration))
    .digest('hex');
}

const entryFile = (key: string) => path.join(CACHE_DIR, `${key}.json`);
const lockFile = (key: string) => path.join(CACHE_DIR, `${key}.lock`);

function readEntry(key: string): string | undefined {
  try {
    return readFileSync(entryFile(key), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

function writeEntry(key: string, text: string): void {
  const temporary = `${entryFile(key)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(temporary, text);
  renameSync(temporary, entryFile(key));
  removeOldEntries();
}

function removeOldEntries(): void {
  const now = Date.now();
  for (const name of readdirSync(CACHE_DIR)) {
    const file = path.join(CACHE_DIR, name);
    try {
      if (now - statSync(file).mtimeMs > KEEP_MS) unlinkSync(file);
    } catch {
      // Another worker removed it first.
    }
  }
}

function tryLock(key: string): boolean {
  try {
    const fd = openSync(lockFile(key), 'wx');
    writeFileSync(fd, String(process.pid));
    closeSync(fd);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

function unlock(key: string): void {
  try {
    unlinkSync(lockFile(key));
  } catch {
    // Removed as stale by a waiter: nothing to release.
  }
}

/** Whether the lock's owner is gone (crashed, or killed mid-synthesis) or has held it too long. */
function lockIsStale(key: string): boolean {
  try {
    const owner = Number(readFileSync(lockFile(key), 'utf8'));
    if (Date.now() - statSync(lockFile(key)).mtimeMs > LOCK_PATIENCE_MS) return true;
    if (!owner) return false; // written between open and write: its owner is alive
    process.kill(owner, 0);
    return false;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // ENOENT: released meanwhile (not stale: the next look finds the entry). EPERM: alive.
    return code === 'ESRCH';
  }
}

const sleep = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/**
 * The entry (JSON text) under `key`, or `produce`'s after writing it, with what else `produce`
 * made. `produce` runs in one worker at a time; another waits for its entry, and produces it
 * itself when that worker failed (its error is then this worker's too) or died.
 */
export function readOrProduce<Extra>(
  key: string,
  produce: () => { text: string; extra: Extra },
): { text: string; extra?: Extra } {
  mkdirSync(CACHE_DIR, { recursive: true });
  for (;;) {
    const cached = readEntry(key);
    if (cached !== undefined) return { text: cached };
    if (tryLock(key)) {
      try {
        const written = readEntry(key);
        if (written !== undefined) return { text: written };
        const produced = produce();
        writeEntry(key, produced.text);
        return produced;
      } finally {
        unlock(key);
      }
    }
    if (lockIsStale(key)) unlock(key);
    else sleep(POLL_MS);
  }
}
