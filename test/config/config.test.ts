import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import {
  ConfigError,
  deepMerge,
  loadConfig,
  parseConfig,
  readConfigFile,
} from '../../lib/config/load';
import { TIER_NAMES } from '../../lib/config/schema';

const ROOT = path.join(__dirname, '..', '..');

describe('tier config', () => {
  it.each(['dev', 'prod'])('the %s environment is valid and has every tier', (env) => {
    const config = loadConfig({ env });

    expect(config.environment.name).toBe(env);
    expect(Object.keys(config.tiers)).toEqual([...TIER_NAMES]);
  });

  it("starts from Groq's published free-tier limits", () => {
    const free = loadConfig({ env: 'dev' }).tiers.free.models;

    expect(free['qwen3-14b']).toMatchObject({ rpm: 30, rpd: 1_000, tpm: 12_000, tpd: 100_000 });
    expect(free['qwen3-8b']).toMatchObject({ rpm: 30, rpd: 14_400 });
  });

  it('keeps production data and protects its stack; development does not', () => {
    expect(loadConfig({ env: 'prod' }).environment).toMatchObject({
      retainData: true,
      terminationProtection: true,
    });
    expect(loadConfig({ env: 'dev' }).environment).toMatchObject({
      retainData: false,
      terminationProtection: false,
    });
  });

  it('applies overrides field by field and replaces arrays', () => {
    expect(deepMerge({ a: { b: 1, c: 2 }, l: [1, 2] }, { a: { c: 3 }, l: [9] })).toEqual({
      a: { b: 1, c: 3 },
      l: [9],
    });

    const config = loadConfig({
      env: 'dev',
      overrides: { tiers: { free: { edge: { rateLimit: 3 } } } },
    });

    expect(config.tiers.free.edge).toEqual({
      rateLimit: 3,
      burstLimit: 10,
      quota: { limit: 20_000, period: 'DAY' },
    });
  });

  it.each([
    [
      'a negative limit',
      { tiers: { free: { models: { 'qwen3-8b': { rpm: -1 } } } } },
      'tiers.free.models.qwen3-8b.rpm',
      /expected number to be >0|Too small/i,
    ],
    [
      'a model missing from the catalog',
      {
        tiers: {
          developer: {
            models: {
              'gpt-9': {
                rpm: 1,
                rpd: 1,
                tpm: 1,
                tpd: 1,
                inputUsdPerMillion: 0,
                outputUsdPerMillion: 0,
              },
            },
          },
        },
      },
      'tiers.developer.models.gpt-9',
      /not in the catalog: add it under "models"/,
    ],
    [
      'rpm above rpd',
      { tiers: { free: { models: { 'qwen3-8b': { rpm: 20_000 } } } } },
      'tiers.free.models.qwen3-8b.rpm',
      /rpm must not exceed rpd/,
    ],
    [
      'a burst below the rate',
      { tiers: { developer: { edge: { rateLimit: 50, burstLimit: 10 } } } },
      'tiers.developer.edge.burstLimit',
      /burstLimit must be at least rateLimit/,
    ],
    [
      'a misspelt field',
      { tiers: { free: { batch: { alowed: true } } } },
      'tiers.free.batch',
      /alowed/,
    ],
    [
      'a bad instance type',
      { models: { 'qwen3-32b': { instanceType: 'g5.xlarge' } } },
      'models.qwen3-32b.instanceType',
      /must be a SageMaker instance type such as ml\.g5\.2xlarge/,
    ],
  ])('rejects %s, naming the field and how to fix it', (_case, overrides, field, message) => {
    const attempt = () => loadConfig({ env: 'dev', overrides });

    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(field);
    expect(attempt).toThrow(message);
  });

  it('requires an edge quota on the free tier', () => {
    const config = loadConfig({ env: 'dev' }) as unknown as {
      tiers: { free: { edge: { quota?: unknown } } };
    };
    delete config.tiers.free.edge.quota;

    expect(() => parseConfig(config)).toThrow(
      /tiers\.free\.edge\.quota: the free tier needs an edge quota/,
    );
  });

  it('takes a mail sender at its verified SES identity, and refuses one outside it', () => {
    const withMail = (mail: unknown) => () => loadConfig({ env: 'dev', overrides: { mail } });

    expect(loadConfig({ env: 'dev' }).mail).toBeUndefined();
    for (const [from, identity] of [
      ['Tierline <no-reply@example.com>', 'example.com'],
      ['no-reply@mail.example.com', 'example.com'],
      ['Billing <billing@example.com>', 'billing@example.com'],
    ]) {
      expect(withMail({ from, identity })().mail).toEqual({ from, identity });
    }
    for (const [from, identity] of [
      ['Tierline <no-reply@example.org>', 'example.com'],
      ['no-reply@notexample.com', 'example.com'],
      ['other@example.com', 'billing@example.com'],
      ['Tierline', 'example.com'],
    ]) {
      expect(withMail({ from, identity })).toThrow(
        new RegExp(`mail\\.from: "${from}" is not an address at the identity "${identity}"`),
      );
    }
    expect(withMail({ from: 'a@example.com', identity: 'Example.com' })).toThrow(/mail\.identity/);
    expect(withMail({ from: 'Grüße <a@example.com>', identity: 'example.com' })).toThrow(
      /mail\.from: printable ASCII/,
    );
    expect(
      withMail({ from: 'a@example.com', identity: 'example.com', configurationSet: 'a b' }),
    ).toThrow(/mail\.configurationSet/);
  });

  it('names the known environments when an unknown one is asked for', () => {
    expect(() => loadConfig({ env: 'staging' })).toThrow(
      /Unknown environment "staging".*dev, prod/,
    );
  });
});

describe('-c configFile= errors name the file, the line or field, and the fix', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tierline-config-file-'));
  const write = (name: string, text: string) => {
    const file = path.join(dir, name);
    writeFileSync(file, text);
    return file;
  };

  it('names a missing file', () => {
    const file = path.join(dir, 'nope.json');
    expect(() => readConfigFile(file)).toThrow(
      new RegExp(`Config file ${file} \\(from -c configFile=\\) does not exist`),
    );
  });

  it('names the line and column of broken JSON', () => {
    const file = write('broken.json', '{\n  "tiers": {\n    "free": ,\n  }\n}');
    expect(() => readConfigFile(file)).toThrow(
      new RegExp(`${file} is not valid JSON \\(line 3, column 13\\)`),
    );
  });

  it('refuses a file that is not one object', () => {
    expect(() => readConfigFile(write('list.json', '[1]'))).toThrow(/must hold one JSON object/);
  });

  it('names the bad field and blames the file, not defaults.ts', () => {
    const file = write(
      'bad.json',
      JSON.stringify({ tiers: { free: { models: { 'qwen3-8b': { tpm: -1 } } } } }),
    );
    const attempt = () =>
      loadConfig({ env: 'dev', overrides: readConfigFile(file), overridesSource: file });

    expect(attempt).toThrow(/tiers\.free\.models\.qwen3-8b\.tpm/);
    expect(attempt).toThrow(new RegExp(`Fix the field\\(s\\) above in ${file}`));
    expect(attempt).not.toThrow(/Fix the field\(s\) above in lib\/config\/defaults\.ts/);
  });
});

describe('cdk synth with an invalid config', () => {
  it('fails with exit code 1 and a message that names the field', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'tierline-config-'));
    const configFile = path.join(dir, 'tiers.json');
    writeFileSync(
      configFile,
      JSON.stringify({ tiers: { free: { models: { 'qwen3-8b': { tpm: 0 } } } } }),
    );

    const run = promisify(execFile)(
      path.join(ROOT, 'node_modules', '.bin', 'tsx'),
      ['bin/app.ts'],
      {
        cwd: ROOT,
        env: {
          ...process.env,
          CDK_OUTDIR: path.join(dir, 'cdk.out'),
          CDK_CONTEXT_JSON: JSON.stringify({ env: 'dev', configFile }),
        },
      },
    );

    await expect(run).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining('tiers.free.models.qwen3-8b.tpm'),
    });
  });
});
