import { createHash, randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';

/**
 * Customer API keys: `tl_` + 32 random bytes in base62 (43 characters) + a 6-character base62 CRC32
 * of that random part. The checksum lets the authorizer reject typos and made-up keys without a
 * database call, and lets secret scanners recognise a Tierline key. Only the SHA-256 of the whole
 * key is stored.
 */

export const API_KEY_PREFIX = 'tl_';
/**
 * Admin keys (the administration API, never inference): the same body under their own prefix, as
 * OpenAI's `sk-admin-`, so a person or a secret scanner tells them apart at a glance.
 */
export const ADMIN_API_KEY_PREFIX = 'tl_admin_';
const RANDOM_BYTES = 32;
const RANDOM_CHARS = 43; // ceil(256 / log2(62))
const CHECKSUM_CHARS = 6; // 62^6 > 2^32
export const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const KEY_PATTERN = new RegExp(
  `^(${ADMIN_API_KEY_PREFIX}|${API_KEY_PREFIX})[0-9A-Za-z]{${RANDOM_CHARS + CHECKSUM_CHARS}}$`,
);

function toBase62(value: bigint, width: number): string {
  let out = '';
  let rest = value;
  while (rest > 0n) {
    out = BASE62[Number(rest % 62n)] + out;
    rest /= 62n;
  }
  return out.padStart(width, '0');
}

/** Random base62 text (ids, API Gateway key values); rejection sampling keeps every character equally likely. */
export function randomBase62(
  length: number,
  random: (size: number) => Buffer = randomBytes,
): string {
  let out = '';
  while (out.length < length) {
    for (const byte of random(length * 2)) {
      if (byte < 248 && out.length < length) out += BASE62[byte % 62];
    }
  }
  return out;
}

function checksumOf(randomPart: string): string {
  return toBase62(BigInt(crc32(randomPart)), CHECKSUM_CHARS);
}

export interface IssuedApiKey {
  /** The key to show the customer once. */
  key: string;
  /** SHA-256 (hex) of the key: the only form that is stored. */
  hash: string;
  /** A short, non-secret prefix to recognise the key in listings (`tl_AbCd…`). */
  hint: string;
}

/** Generates a new customer API key (an admin key with {@link ADMIN_API_KEY_PREFIX}). */
export function issueApiKey(
  random: (size: number) => Buffer = randomBytes,
  prefix: typeof API_KEY_PREFIX | typeof ADMIN_API_KEY_PREFIX = API_KEY_PREFIX,
): IssuedApiKey {
  const randomPart = toBase62(BigInt(`0x${random(RANDOM_BYTES).toString('hex')}`), RANDOM_CHARS);
  const key = `${prefix}${randomPart}${checksumOf(randomPart)}`;
  return { key, hash: hashApiKey(key), hint: hintOf(key) };
}

const prefixOf = (key: string) =>
  key.startsWith(ADMIN_API_KEY_PREFIX) ? ADMIN_API_KEY_PREFIX : API_KEY_PREFIX;

/** True when `candidate` has the Tierline key shape and a matching checksum. No I/O. */
export function isWellFormedApiKey(candidate: string): boolean {
  if (!KEY_PATTERN.test(candidate)) return false;
  const body = candidate.slice(prefixOf(candidate).length);
  const randomPart = body.slice(0, RANDOM_CHARS);
  return body.slice(RANDOM_CHARS) === checksumOf(randomPart);
}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

export function hintOf(key: string): string {
  return `${key.slice(0, prefixOf(key).length + 4)}…${key.slice(-4)}`;
}

/** Extracts the key from an `Authorization: Bearer <key>` header value; undefined when absent or malformed. */
export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header.trim());
  return match?.[1];
}
