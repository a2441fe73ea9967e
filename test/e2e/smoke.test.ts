import OpenAI from 'openai';
import { runCli } from '../../cli/main';
import type { SmokeReport } from '../../cli/smoke/smoke';
import { TestModelBackend } from '../../lambda/inference/backends/test-model-backend';
import { loadConfig } from '../../lib/config/load';
import { type LocalMode, startLocalMode } from '../../local/local-mode';
import { expectSpecCompliance, specCheckedFetch } from '../support/spec-check';

/**
 * `tierline smoke` against local mode (the same API app as in Lambda, on a real port): it passes a
 * healthy deployment, names what is wrong with a broken one, and leaves no file behind either way.
 */

const config = loadConfig({ env: 'dev' });

async function smoke(args: string[], smokeFetch?: typeof fetch) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(['smoke', ...args], {
    out: (text) => out.push(text),
    err: (text) => err.push(text),
    connect: () => Promise.reject(new Error('smoke needs no deployment')),
    smokeFetch,
  });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

const statuses = (report: SmokeReport) =>
  Object.fromEntries(report.steps.map((s) => [s.step, s.status]));

describe('tierline smoke against local mode', () => {
  // Every answer the smoke test gets is checked against OpenAI's and Tierline's published schemas.
  const spec = specCheckedFetch();
  afterEach(() => expectSpecCompliance(spec));

  let local: LocalMode;
  let keys: Record<string, string>;
  /** The files a customer holds, as the API lists them. */
  const filesOf = async (tier: string) => {
    const client = new OpenAI({ apiKey: keys[tier], baseURL: local.openAIBaseUrl, maxRetries: 0 });
    const ids = [];
    for await (const file of client.files.list()) ids.push(file.id);
    return ids;
  };

  beforeAll(async () => {
    local = await startLocalMode({
      config,
      port: 0,
      backend: new TestModelBackend({ replyTokens: 6 }),
      console: false,
    });
    keys = Object.fromEntries(local.demoCustomers.map((d) => [d.tier, d.apiKey]));
  });
  afterAll(() => local.stop());

  it('passes every step with a Developer key, and deletes the file and the batch output it made', async () => {
    const { code, out } = await smoke(
      ['--url', local.openAIBaseUrl, '--key', keys.developer ?? '', '--json'],
      spec.fetch,
    );

    const report = JSON.parse(out) as SmokeReport;
    expect(code).toBe(0);
    expect(report).toMatchObject({ url: local.url, model: 'qwen3-8b', passed: true });
    expect(statuses(report)).toEqual({
      plans: 'pass',
      models: 'pass',
      chat: 'pass',
      'chat-stream': 'pass',
      'rate-limit-headers': 'pass',
      'wrong-key': 'pass',
      'cors-preflight': 'pass',
      usage: 'pass',
      'file-upload': 'pass',
      batch: 'pass',
      cleanup: 'pass',
    });
    const cleanup = report.steps.find((s) => s.step === 'cleanup');
    // The input file and the batch's output file (no error file: the line succeeded).
    expect(cleanup?.detail).toMatch(/^deleted 2 file\(s\): file-\S+, file-\S+$/);
    expect(await filesOf('developer')).toEqual([]);
    expect(spec.checked).toBeGreaterThan(10);
  });

  it('skips the batch on a Free key (no Batch API there) and still passes', async () => {
    const { code, out } = await smoke(['--url', local.url, '--key', keys.free ?? '']);

    expect(code).toBe(0);
    expect(out).toMatch(
      /SKIP {2}batch {15}not on this key's tier \(403 The Batch API is not available on the Free tier/,
    );
    expect(out).toContain('10 passed, 0 failed, 1 skipped.');
    expect(await filesOf('free')).toEqual([]);
  });

  it('names what a broken gateway gets wrong (no rate-limit headers, no CORS), exits 1, and still cleans up', async () => {
    // A gateway that drops the rate-limit headers and answers preflights 403, as a misconfigured
    // one would.
    const broken: typeof fetch = async (input, init) => {
      if ((init?.method ?? 'GET') === 'OPTIONS')
        return new Response('{"message":"Missing Authentication Token"}', { status: 403 });
      const answer = await fetch(input, init);
      const headers = new Headers(answer.headers);
      for (const name of [...headers.keys()])
        if (name.startsWith('x-ratelimit-')) headers.delete(name);
      return new Response(answer.body, { status: answer.status, headers });
    };

    const { code, out, err } = await smoke(
      ['--url', local.url, '--key', keys.enterprise ?? '', '--json'],
      broken,
    );

    const report = JSON.parse(out) as SmokeReport;
    expect(code).toBe(1);
    expect(err).toContain('smoke: 2 step(s) failed.');
    expect(report.passed).toBe(false);
    expect(report.steps.find((s) => s.step === 'rate-limit-headers')).toMatchObject({
      status: 'fail',
      detail:
        'missing on the chat answer: x-ratelimit-limit-requests, x-ratelimit-limit-tokens, x-ratelimit-remaining-requests, ' +
        'x-ratelimit-remaining-tokens, x-ratelimit-reset-requests, x-ratelimit-reset-tokens',
    });
    expect(report.steps.find((s) => s.step === 'cors-preflight')).toMatchObject({
      status: 'fail',
      detail: 'the preflight answered 403',
    });
    expect(report.steps.find((s) => s.step === 'cleanup')?.status).toBe('pass');
    expect(await filesOf('enterprise')).toEqual([]);
  });

  it('cancels a batch that does not finish in time, fails the step, and deletes its files', async () => {
    const slow = await startLocalMode({
      config,
      port: 0,
      backend: new TestModelBackend({ replyTokens: 40, tokensPerSecond: 10 }),
      console: false,
    });
    try {
      const key = slow.demoCustomers.find((d) => d.tier === 'developer')?.apiKey ?? '';

      const { code, out } = await smoke([
        '--url',
        slow.url,
        '--key',
        key,
        '--batch-timeout',
        '0.3',
        '--json',
      ]);

      const report = JSON.parse(out) as SmokeReport;
      const batch = report.steps.find((s) => s.step === 'batch');
      expect(code).toBe(1);
      expect(batch?.status).toBe('fail');
      expect(batch?.detail).toMatch(
        /^batch_\S+ was still (running|validating|in_progress) after 0 s: cancelled \(now cancel/,
      );
      const client = new OpenAI({ apiKey: key, baseURL: slow.openAIBaseUrl, maxRetries: 0 });
      const batches = [];
      for await (const b of client.batches.list()) batches.push(b);
      expect(batches.map((b) => b.status)).toEqual([expect.stringMatching(/^cancell(ing|ed)$/)]);
      expect(report.steps.find((s) => s.step === 'cleanup')?.status).toBe('pass');
      const left = [];
      for await (const file of client.files.list()) left.push(file.id);
      expect(left).toEqual([]);
    } finally {
      await slow.stop();
    }
  }, 60_000);

  it('fails every step against nothing, creating nothing', async () => {
    const { code, out } = await smoke([
      '--url',
      'http://127.0.0.1:9/v1',
      '--key',
      'tl_x',
      '--request-timeout',
      '2',
    ]);

    expect(code).toBe(1);
    expect(out).toContain('FAIL  plans');
    expect(out).toContain('PASS  cleanup             nothing was created');
    expect(out).toMatch(/1 passed, 9 failed, 1 skipped\./);
  });

  it('refuses a URL that is not http(s) as a wrong command line (exit 2)', async () => {
    const { code, err } = await smoke(['--url', 'ftp://example.com', '--key', 'tl_x']);

    expect(code).toBe(2);
    expect(err).toContain(
      "option '--url <url>' argument 'ftp://example.com' is invalid. must be an http(s) URL",
    );
  });
});
