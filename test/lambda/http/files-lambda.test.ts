import type { Context as LambdaContext } from 'aws-lambda';
import { handle, type LambdaEvent } from 'hono/aws-lambda';
import type { CustomersRepository } from '../../../lambda/customers/customers-repository';
import { createDocumentClient } from '../../../lambda/customers/customers-repository';
import {
  principalFromAuthorizer,
  requestIdFromEvent,
} from '../../../lambda/customers/lambda-principal';
import { createFiles } from '../../../lambda/files/create-files';
import { createS3Client } from '../../../lambda/files/file-storage';
import { createApiApp } from '../../../lambda/http/app';
import { isBinaryResponse } from '../../../lambda/http/lambda-app';
import { TestModelBackend } from '../../../lambda/inference/backends/test-model-backend';
import { loadConfig } from '../../../lib/config/load';
import { type LocalS3, startLocalS3 } from '../../../local/local-s3';
import { ensureFilesTable } from '../../../local/local-tables';
import { type LocalDynamo, newCustomersTable, startDynalite } from '../../support/dynalite';
import { proxyEvent } from '../../support/events';
import { meteringOn } from '../../support/metering';

/**
 * Files through the Lambda adapter as API Gateway calls it: a multipart upload arrives
 * base64-encoded (multipart/form-data is a binary media type of the REST API), and file content
 * goes back as text.
 */
const config = loadConfig({ env: 'dev' });
const authorizer = { customerId: 'cus_dev', tier: 'developer' };

describe('files through the API function (Lambda proxy events)', () => {
  let dynamo: LocalDynamo;
  let s3Server: LocalS3;
  let s3: ReturnType<typeof createS3Client>;
  let handler: ReturnType<typeof handle>;

  beforeAll(async () => {
    dynamo = await startDynalite();
    s3Server = await startLocalS3({ bucket: 'files' });
    s3 = createS3Client({ endpoint: s3Server.endpoint });
    await ensureFilesTable(dynamo.client, 'files');
    const { repository } = await newCustomersTable(dynamo);
    const app = createApiApp({
      config,
      principalOf: principalFromAuthorizer,
      customers: repository as CustomersRepository,
      backend: new TestModelBackend(),
      ...(await meteringOn(dynamo, config)),
      files: createFiles({
        doc: createDocumentClient(dynamo.client),
        tableName: 'files',
        s3,
        bucket: 'files',
        config: config.files,
      }),
      requestIdOf: requestIdFromEvent,
    });
    handler = handle(app, { isContentTypeBinary: isBinaryResponse });
  });
  afterAll(async () => {
    s3.destroy();
    await s3Server.stop();
    await dynamo.stop();
  });

  const call = (event: ReturnType<typeof proxyEvent>) =>
    handler(event as unknown as LambdaEvent, {} as LambdaContext);

  it('stores the exact bytes of a base64-encoded multipart upload and answers the content as text', async () => {
    const content = '{"custom_id":"ü-1","method":"POST"}\n{"custom_id":"€-2"}\n';
    const form = new FormData();
    form.set('purpose', 'batch');
    form.set('file', new Blob([content]), 'unicode.jsonl');
    const request = new Request('http://x', { method: 'POST', body: form });
    const body = Buffer.from(await request.arrayBuffer());
    const event = proxyEvent({ method: 'POST', path: '/v1/files', authorizer });
    event.headers['content-type'] = request.headers.get('content-type') as string;
    event.headers['content-length'] = String(body.length);
    event.body = body.toString('base64');
    event.isBase64Encoded = true;

    const created = await call(event);
    expect(created.statusCode).toBe(200);
    const file = JSON.parse(created.body);
    expect(file).toMatchObject({
      object: 'file',
      purpose: 'batch',
      bytes: Buffer.byteLength(content),
    });

    const read = await call(proxyEvent({ path: `/v1/files/${file.id}/content`, authorizer }));
    expect(read.statusCode).toBe(200);
    expect(read.isBase64Encoded).toBe(false);
    expect(read.body).toBe(content);

    const otherCustomer = { customerId: 'cus_other', tier: 'developer' };
    const hidden = await call(
      proxyEvent({ path: `/v1/files/${file.id}/content`, authorizer: otherCustomer }),
    );
    expect(hidden.statusCode).toBe(404);
    expect(JSON.parse(hidden.body).error).toMatchObject({
      type: 'invalid_request_error',
      param: 'file_id',
    });
  });

  /** Uploads `content` as API Gateway hands a multipart body to the function: base64-encoded. */
  async function upload(content: Uint8Array, purpose: string, filename: string) {
    const form = new FormData();
    form.set('purpose', purpose);
    form.set('file', new Blob([content as Uint8Array<ArrayBuffer>]), filename);
    const request = new Request('http://x', { method: 'POST', body: form });
    const body = Buffer.from(await request.arrayBuffer());
    const event = proxyEvent({ method: 'POST', path: '/v1/files', authorizer });
    event.headers['content-type'] = request.headers.get('content-type') as string;
    event.headers['content-length'] = String(body.length);
    event.body = body.toString('base64');
    event.isBase64Encoded = true;
    const created = await call(event);
    expect(created.statusCode).toBe(200);
    return JSON.parse(created.body) as { id: string };
  }

  /** The content's answer, redirects followed as the openai client's fetch does (to S3). */
  async function contentOf(fileId: string): Promise<{ answer: unknown; bytes: Buffer }> {
    const answer = await call(proxyEvent({ path: `/v1/files/${fileId}/content`, authorizer }));
    if (answer.statusCode === 302) {
      const headers = answer.headers as Record<string, string> | undefined;
      const multi = (answer as { multiValueHeaders?: Record<string, string[]> }).multiValueHeaders;
      const location = headers?.location ?? multi?.location?.[0];
      const fetched = await fetch(String(location));
      expect(fetched.status).toBe(200);
      return { answer, bytes: Buffer.from(await fetched.arrayBuffer()) };
    }
    expect(answer.statusCode).toBe(200);
    const encoding = answer.isBase64Encoded ? 'base64' : 'utf8';
    return { answer, bytes: Buffer.from(answer.body, encoding) };
  }

  it('gives back the exact bytes of an audio file (user_data), not its bytes read as text', async () => {
    // A WAV file: RIFF header, then 16-bit samples, most of them bytes that are not UTF-8.
    const samples = Buffer.alloc(4000);
    for (let i = 0; i < samples.length; i++) samples[i] = (i * 37 + 128) % 256;
    const header = Buffer.alloc(44);
    header.write('RIFF', 0, 'ascii');
    header.writeUInt32LE(36 + samples.length, 4);
    header.write('WAVEfmt ', 8, 'ascii');
    header.writeUInt32LE(16, 16);
    header.writeUInt16LE(1, 20);
    header.writeUInt16LE(1, 22);
    header.writeUInt32LE(16_000, 24);
    header.writeUInt32LE(32_000, 28);
    header.writeUInt16LE(2, 32);
    header.writeUInt16LE(16, 34);
    header.write('data', 36, 'ascii');
    header.writeUInt32LE(samples.length, 40);
    const wav = Buffer.concat([header, samples]);
    const file = await upload(wav, 'user_data', 'speech.wav');

    const { bytes } = await contentOf(file.id);
    expect(bytes.equals(wav)).toBe(true);
  });

  // Lambda answers at most 6 MB (6,291,456 bytes) of response from a synchronous invocation:
  // https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html ("Invocation payload
  // (request and response)"), counted on the JSON the function returns, its body a JSON string.
  const LAMBDA_RESPONSE_MAX_BYTES = 6 * 1024 * 1024;

  it('answers a JSONL file whose escaped body would pass Lambda 6 MB by redirect, within the limit', async () => {
    // Each \" of the file is escaped again in the response's JSON string: this file nearly doubles.
    const quotes = '\\"'.repeat(500);
    const line = (i: number) =>
      `{"custom_id":"r-${i}","method":"POST","url":"/v1/chat/completions","body":{"model":"m",` +
      `"messages":[{"role":"user","content":"${quotes}"}]}}\n`;
    const content = Array.from({ length: 3_600 }, (_, i) => line(i)).join('');
    expect(Buffer.byteLength(content)).toBeLessThan(4 * 1024 * 1024);
    const file = await upload(Buffer.from(content), 'batch', 'quotes.jsonl');

    const { answer, bytes } = await contentOf(file.id);
    expect(Buffer.byteLength(JSON.stringify(answer))).toBeLessThanOrEqual(
      LAMBDA_RESPONSE_MAX_BYTES,
    );
    expect(bytes.toString('utf8')).toBe(content);
  });

  it('keeps other binary responses base64-encoded', () => {
    expect(isBinaryResponse('application/jsonl; charset=utf-8')).toBe(false);
    expect(isBinaryResponse('application/json')).toBe(false);
    expect(isBinaryResponse('application/octet-stream')).toBe(true);
  });
});
