import fc from 'fast-check';
import {
  BASE62,
  bearerToken,
  hashApiKey,
  hintOf,
  issueApiKey,
  isWellFormedApiKey,
} from '../../../lambda/customers/api-keys';

describe('API keys', () => {
  it('issues tl_ keys of 32 random bytes in base62 plus a checksum, stored only as SHA-256', () => {
    const issued = issueApiKey();

    expect(issued.key).toMatch(/^tl_[0-9A-Za-z]{49}$/);
    expect(isWellFormedApiKey(issued.key)).toBe(true);
    expect(issued.hash).toBe(hashApiKey(issued.key));
    expect(issued.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(issued.hint).toBe(hintOf(issued.key));
    expect(issued.hint).not.toContain(issued.key.slice(7, -4));
  });

  it('encodes all-zero and all-one random bytes at full width', () => {
    for (const fill of [0x00, 0xff]) {
      const issued = issueApiKey((size) => Buffer.alloc(size, fill));
      expect(issued.key).toHaveLength(3 + 43 + 6);
      expect(isWellFormedApiKey(issued.key)).toBe(true);
    }
  });

  it('never issues the same key twice in 1,000 draws', () => {
    const keys = new Set(Array.from({ length: 1000 }, () => issueApiKey().key));
    expect(keys.size).toBe(1000);
  });

  it('rejects every single-character change of a valid key (property)', () => {
    const alphabet = BASE62;
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.nat(),
        fc.nat({ max: alphabet.length - 1 }),
        (bytes, position, replacement) => {
          const { key } = issueApiKey(() => Buffer.from(bytes));
          const index = 3 + (position % (key.length - 3));
          const char = alphabet[replacement] as string;
          fc.pre(key[index] !== char);
          const mutated = key.slice(0, index) + char + key.slice(index + 1);
          return !isWellFormedApiKey(mutated);
        },
      ),
      { numRuns: 500 },
    );
  });

  it.each([
    ['', 'empty'],
    ['sk-abc', 'another vendor'],
    [`tl_${'a'.repeat(48)}`, 'too short'],
    [`tl_${'a'.repeat(50)}`, 'too long'],
    [`tl_${'a'.repeat(48)}!`, 'bad character'],
  ])('rejects %j (%s)', (candidate) => {
    expect(isWellFormedApiKey(candidate)).toBe(false);
  });

  it('reads Bearer tokens case-insensitively and nothing else', () => {
    expect(bearerToken('Bearer tl_x')).toBe('tl_x');
    expect(bearerToken('bearer   tl_x ')).toBe('tl_x');
    expect(bearerToken('Basic dXNlcg==')).toBeUndefined();
    expect(bearerToken('Bearer')).toBeUndefined();
    expect(bearerToken('Bearer a b')).toBeUndefined();
    expect(bearerToken(undefined)).toBeUndefined();
  });
});
