import { parseListedPurpose, parseUploadPurpose } from '../../../lambda/files/file-objects';
import { BadRequestError } from '../../../lambda/openai/errors';
import { ownValue } from '../../../lambda/own';

/** Purposes named like Object.prototype's members were taken for allowed ones. */
const PROTOTYPE_NAMES = [
  'constructor',
  'toString',
  '__proto__',
  'valueOf',
  'hasOwnProperty',
  'isPrototypeOf',
];

describe('file purposes', () => {
  it.each(PROTOTYPE_NAMES)('refuses purpose=%s with a 400 naming the parameter', (name) => {
    let thrown: unknown;
    try {
      parseUploadPurpose(name);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(BadRequestError);
    expect(thrown).toMatchObject({ status: 400, param: 'purpose', code: 'invalid_value' });
  });

  it.each(PROTOTYPE_NAMES)('refuses purpose=%s as a list filter', (name) => {
    expect(() => parseListedPurpose(name)).toThrow(BadRequestError);
  });

  it('still takes the purposes it offers, with fine_tuning as fine-tune', () => {
    expect(parseUploadPurpose('batch')).toBe('batch');
    expect(parseUploadPurpose('fine-tune')).toBe('fine-tune');
    expect(parseUploadPurpose('fine_tuning')).toBe('fine-tune');
  });
});

describe('ownValue', () => {
  it("answers only a record's own entries", () => {
    const record: Record<string, number> = { a: 1 };
    for (const name of PROTOTYPE_NAMES) expect(ownValue(record, name)).toBeUndefined();
    expect(ownValue(record, 'a')).toBe(1);
    expect(ownValue(undefined, 'a')).toBeUndefined();
  });
});
