import * as fs from 'node:fs';
import * as path from 'node:path';
import { Match } from 'aws-cdk-lib/assertions';
import fc from 'fast-check';
import { Hono } from 'hono';
import { requestSizeLimit } from '../../lambda/http/request-guards';
import { UploadTooLargeError } from '../../lambda/openai/errors';
import {
  BODY_ESCAPING_ALLOWANCE,
  base64Capacity,
  EVENT_ENVELOPE_BYTES,
  LAMBDA_SYNC_EVENT_BYTES,
  MAX_MULTIPART_REQUEST_BYTES,
  MAX_REQUEST_BYTES,
} from '../../lambda/openai/request-size';
import {
  decimalAbovePattern,
  mediaTypePattern,
  WAF_REGEX_MAX_LENGTH,
} from '../../lib/constructs/api/request-size-guard';
import { synthesize } from '../support/synth';

const TEN_MB = 10 * 1024 * 1024; // API Gateway's own limit on a REST API's payload

describe('decimalAbovePattern: the Content-Length regex WAF runs, compiled the same way in JavaScript', () => {
  it.each([
    ['MAX_REQUEST_BYTES', MAX_REQUEST_BYTES],
    ['MAX_MULTIPART_REQUEST_BYTES', MAX_MULTIPART_REQUEST_BYTES],
  ])('matches exactly the values above %s at its boundary', (_name, limit) => {
    const above = new RegExp(decimalAbovePattern(limit));
    expect(above.test(String(limit - 1))).toBe(false);
    expect(above.test(String(limit))).toBe(false);
    expect(above.test(String(limit + 1))).toBe(true);
    expect(above.test(String(TEN_MB))).toBe(true);
    expect(above.test(`000${limit}`)).toBe(false);
    expect(above.test(`000${limit + 1}`)).toBe(true);
    expect(above.test(` ${limit + 1}\t`)).toBe(true);
    expect(above.test('9'.repeat(40))).toBe(true);
    expect(above.test(`1${'0'.repeat(40)}`)).toBe(true);
    for (const refused of ['', '0', '-1', `-${limit + 1}`, `${limit + 1}x`, `+${limit + 1}`]) {
      expect(above.test(refused)).toBe(false);
    }
  });

  it('agrees with a numeric comparison for every value around small and awkward limits', () => {
    for (const limit of [0, 1, 9, 10, 99, 100, 109, 190, 999, 1000, 4096, 90_909]) {
      const above = new RegExp(decimalAbovePattern(limit));
      const wrong: number[] = [];
      for (let value = 0; value <= limit * 11 + 20; value++) {
        if (above.test(String(value)) !== value > limit) wrong.push(value);
      }
      expect({ limit, wrong }).toEqual({ limit, wrong: [] });
    }
  });

  it('agrees with a numeric comparison for any limit and value, with any leading zeros', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: 2 ** 40 }),
        fc.nat({ max: 2 ** 40 }),
        fc.nat({ max: 3 }),
        (limit, value, zeros) => {
          const above = new RegExp(decimalAbovePattern(limit));
          return above.test(`${'0'.repeat(zeros)}${value}`) === value > limit;
        },
      ),
      { seed: 20261207, numRuns: 2_000 },
    );
  });

  it("stays within WAF's regex rules: at most 512 characters, no capturing group", () => {
    for (const limit of [MAX_REQUEST_BYTES, MAX_MULTIPART_REQUEST_BYTES, Number.MAX_SAFE_INTEGER]) {
      const pattern = decimalAbovePattern(limit);
      expect(pattern.length).toBeLessThanOrEqual(WAF_REGEX_MAX_LENGTH);
      expect(pattern).not.toMatch(/\((?!\?:)/);
    }
    expect(() => decimalAbovePattern(-1)).toThrow(/non-negative integer/);
    expect(() => decimalAbovePattern(1.5)).toThrow(/non-negative integer/);
  });
});

describe('mediaTypePattern: which lowercased Content-Type gets the multipart threshold', () => {
  const multipart = new RegExp(mediaTypePattern(['multipart/form-data']));

  it.each([
    ['multipart/form-data; boundary=----x', true],
    ['multipart/form-data', true],
    [' multipart/form-data ;boundary=x', true],
    ['multipart/form-dataxyz', false],
    ['application/json', false],
    ['text/plain; note=multipart/form-data', false],
  ])('%s: %s', (contentType, matches) => {
    expect(multipart.test(contentType)).toBe(matches);
  });

  it('escapes the characters a media type may hold', () => {
    const vendor = new RegExp(mediaTypePattern(['application/vnd.api+json']));
    expect(vendor.test('application/vnd.api+json')).toBe(true);
    expect(vendor.test('application/vndXapi+json')).toBe(false);
  });
});

describe('the limits the guard and the function share', () => {
  it('leave room in the 6 MB event for the envelope, JSON escaping of a text body, and base64 of a multipart one', () => {
    expect(MAX_REQUEST_BYTES).toBe(5 * 1024 * 1024);
    expect(
      MAX_REQUEST_BYTES * (1 + BODY_ESCAPING_ALLOWANCE) + EVENT_ENVELOPE_BYTES,
    ).toBeLessThanOrEqual(LAMBDA_SYNC_EVENT_BYTES);
    const encodedMultipart = Math.ceil(MAX_MULTIPART_REQUEST_BYTES / 3) * 4;
    expect(encodedMultipart + EVENT_ENVELOPE_BYTES).toBeLessThanOrEqual(LAMBDA_SYNC_EVENT_BYTES);
    expect(base64Capacity(LAMBDA_SYNC_EVENT_BYTES - EVENT_ENVELOPE_BYTES)).toBeGreaterThanOrEqual(
      MAX_MULTIPART_REQUEST_BYTES,
    );
    expect(MAX_MULTIPART_REQUEST_BYTES).toBe(4 * 1024 * 1024);
  });
});

describe('the escaping allowance', () => {
  it.each([
    ['TypeScript source', 'lambda/openai/errors.ts'],
    ['Markdown prose', 'docs/operating.md'],
    ['JSON pasted into a message', 'test/fixtures/openai-openapi/openai-openapi-subset.json'],
  ])('covers a chat body of %s written as a string inside the event', (_kind, file) => {
    const text = fs.readFileSync(path.join(__dirname, '..', '..', file), 'utf8');
    const body = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: text }] });
    const growth = JSON.stringify(body).length / body.length - 1;
    expect(growth).toBeGreaterThan(0);
    expect(growth).toBeLessThanOrEqual(BODY_ESCAPING_ALLOWANCE);
  });
});

describe('RequestSizeGuard in the synthesized prod template', () => {
  const { api, stacks } = synthesize({ env: 'prod' });
  const stageId = stacks.api.getLogicalId(
    stacks.api.api.restApi.deploymentStage.node.defaultChild as never,
  );
  const [webAclId, webAcl] = Object.entries(api.findResources('AWS::WAFv2::WebACL'))[0] ?? [];
  const bodies = webAcl?.Properties.CustomResponseBodies as Record<
    string,
    { ContentType: string; Content: string }
  >;

  it('is one regional web ACL that allows by default, associated with the API stage', () => {
    api.resourceCountIs('AWS::WAFv2::WebACL', 1);
    api.hasResourceProperties('AWS::WAFv2::WebACL', {
      Name: 'tierline-prod-request-size',
      Scope: 'REGIONAL',
      DefaultAction: { Allow: {} },
      VisibilityConfig: Match.objectLike({ SampledRequestsEnabled: false }),
    });
    api.resourceCountIs('AWS::WAFv2::WebACLAssociation', 1);
    api.hasResourceProperties('AWS::WAFv2::WebACLAssociation', {
      WebACLArn: { 'Fn::GetAtt': [webAclId, 'Arn'] },
      ResourceArn: {
        'Fn::Join': ['', Match.arrayWith(['::/restapis/', '/stages/', { Ref: stageId }])],
      },
    });
  });

  it('answers 413 with the multipart body first, then any body above MAX_REQUEST_BYTES', () => {
    const rules = webAcl?.Properties.Rules as { Name: string; Priority: number }[];
    expect(rules.map((r) => [r.Priority, r.Name])).toEqual([
      [0, 'MultipartBodyTooLarge'],
      [1, 'BodyTooLarge'],
    ]);
    const lengthOver = (limit: number) => ({
      RegexMatchStatement: {
        FieldToMatch: { SingleHeader: { Name: 'content-length' } },
        RegexString: decimalAbovePattern(limit),
        TextTransformations: [{ Priority: 0, Type: 'NONE' }],
      },
    });
    const block = (bodyKey: string) => ({
      Block: {
        CustomResponse: {
          ResponseCode: 413,
          CustomResponseBodyKey: bodyKey,
          ResponseHeaders: [{ Name: 'access-control-allow-origin', Value: '*' }],
        },
      },
    });
    expect(rules[0]).toMatchObject({
      Action: block('upload-too-large'),
      Statement: {
        AndStatement: {
          Statements: [
            {
              RegexMatchStatement: {
                FieldToMatch: { SingleHeader: { Name: 'content-type' } },
                RegexString: mediaTypePattern(['multipart/form-data']),
                TextTransformations: [{ Priority: 0, Type: 'LOWERCASE' }],
              },
            },
            lengthOver(MAX_MULTIPART_REQUEST_BYTES),
          ],
        },
      },
    });
    expect(rules[1]).toMatchObject({
      Action: block('request-too-large'),
      Statement: lengthOver(MAX_REQUEST_BYTES),
    });
  });

  it("answers with exactly the JSON bodies local mode's own 413s have, text and multipart", async () => {
    const app = new Hono();
    app.use('*', requestSizeLimit());
    app.post('/v1/chat/completions', (c) => c.json({}));
    const post = (bytes: number) =>
      app.request('/v1/chat/completions', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': `${bytes}` },
        body: 'x'.repeat(bytes),
      });
    expect((await post(MAX_REQUEST_BYTES)).status).toBe(200);
    const response = await post(MAX_REQUEST_BYTES + 1);
    expect(response.status).toBe(413);
    expect(bodies['request-too-large']).toEqual({
      ContentType: 'APPLICATION_JSON',
      Content: await response.text(),
    });
    const upload = JSON.parse(bodies['upload-too-large']?.Content ?? '{}');
    expect(upload).toEqual(new UploadTooLargeError('The request body').toBody());
    const multipart = (bytes: number) =>
      app.request('/v1/chat/completions', {
        method: 'POST',
        headers: {
          'content-type': 'multipart/form-data; boundary=b',
          'content-length': `${bytes}`,
        },
        body: 'x'.repeat(bytes),
      });
    expect((await multipart(MAX_MULTIPART_REQUEST_BYTES)).status).toBe(200);
    const refused = await multipart(MAX_MULTIPART_REQUEST_BYTES + 1);
    expect(refused.status).toBe(413);
    expect(await refused.text()).toBe(bodies['upload-too-large']?.Content);
    expect(upload.error).toMatchObject({
      type: 'invalid_request_error',
      param: null,
      code: 'request_too_large',
    });
    expect(Buffer.byteLength(bodies['upload-too-large']?.Content ?? '')).toBeLessThan(4096);
  });

  it('is absent in dev (requestSizeGuard defaults to off: it costs per request)', () => {
    const dev = synthesize({ env: 'dev' });
    dev.api.resourceCountIs('AWS::WAFv2::WebACL', 0);
    dev.api.resourceCountIs('AWS::WAFv2::WebACLAssociation', 0);
  });
});
