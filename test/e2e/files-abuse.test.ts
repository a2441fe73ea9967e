import http from 'node:http';
import type OpenAI from 'openai';
import { toFile } from 'openai';
import { loadConfig } from '../../lib/config/load';
import { type LocalMode, startLocalMode } from '../../local/local-mode';
import { localClients } from '../support/local-clients';
import { expectMatchesSpec, expectSpecCompliance, specCheckedFetch } from '../support/spec-check';

/**
 * The Files and Uploads APIs against hostile and careless clients, over real HTTP to local mode:
 * every refusal is a 4xx in OpenAI's error shape, never a 5xx.
 */

const config = loadConfig({ env: 'dev' });

describe('Files API against hostile and careless clients', () => {
  // Every answer below is checked against OpenAI's and Tierline's published schemas.
  const spec = specCheckedFetch();
  afterEach(() => expectSpecCompliance(spec));

  let local: LocalMode;
  let openai: OpenAI;
  let key: string;
  const unhandled: string[] = [];

  beforeAll(async () => {
    local = await startLocalMode({ config, port: 0, log: (line) => unhandled.push(line) });
    const clients = localClients(local, spec.fetch);
    key = clients.keys.developer;
    openai = clients.openai(key);
  });
  afterAll(() => local.stop());

  const get = (path: string) =>
    spec.fetch(`${local.openAIBaseUrl}${path}`, { headers: { authorization: `Bearer ${key}` } });
  async function expectOpenAIError(response: Response, status: number, param?: string) {
    const body = (await response.json()) as {
      error: { message: string; code: string | null; param: string | null };
    };
    expect(response.status).toBe(status);
    expectMatchesSpec('ErrorResponse', body);
    if (param !== undefined) expect(body.error.param).toBe(param);
    return body.error;
  }

  it("answers 400 naming 'after' to a list cursor that cannot be a file id, never a 500", async () => {
    await openai.files.create({
      file: await toFile(Buffer.from('{"a":1}\n'), 'a.jsonl'),
      purpose: 'batch',
    });
    for (const after of ['x'.repeat(2000), `file-${'a'.repeat(2000)}`, 'file-../x', '%00']) {
      for (const purpose of ['', '&purpose=batch']) {
        await expectOpenAIError(await get(`/files?after=${after}${purpose}`), 400, 'after');
      }
    }
    // A well-formed id that is not (or no longer, or not the caller's) a file still pages from its
    // place.
    const page = await get('/files?after=file-0000000000000000000000000');
    expect(page.status).toBe(200);
    expect(unhandled).toEqual([]);
  });

  /** Streams `totalMiB` of multipart body with no Content-Length; answers the response and how much was sent by then. */
  function sendChunked(
    path: string,
    totalMiB: number,
  ): Promise<{ status: number; body: string; sentMiB: number }> {
    const url = new URL(`${local.openAIBaseUrl}${path}`);
    return new Promise((resolve, reject) => {
      let sent = 0;
      let answered = false;
      const request = http.request(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          method: 'POST',
          headers: {
            authorization: `Bearer ${key}`,
            'content-type': 'multipart/form-data; boundary=XX',
            'transfer-encoding': 'chunked',
          },
        },
        (response) => {
          answered = true;
          const sentMiB = sent;
          let body = '';
          response.on('data', (d) => {
            body += d;
          });
          response.on('end', () => {
            resolve({ status: response.statusCode ?? 0, body, sentMiB });
            request.destroy();
          });
        },
      );
      request.on('error', (error) => {
        if (!answered) reject(error);
      });
      const chunk = Buffer.alloc(1024 * 1024, 0x61);
      request.write(
        '--XX\r\nContent-Disposition: form-data; name="file"; filename="a.jsonl"\r\n\r\n',
      );
      const pump = () => {
        while (!answered && sent < totalMiB) {
          sent += 1;
          if (!request.write(chunk)) {
            request.once('drain', () => setImmediate(pump));
            return;
          }
        }
        if (!answered) request.end('\r\n--XX--\r\n');
      };
      pump();
    });
  }

  it('answers 413 in the OpenAI shape to a chunked body over the limit before reading it all', async () => {
    for (const path of ['/files', '/uploads']) {
      const { status, body, sentMiB } = await sendChunked(path, 256);
      expect(status).toBe(413);
      expectMatchesSpec('ErrorResponse', JSON.parse(body));
      expect(JSON.parse(body).error.code).toBe('request_too_large');
      expect(sentMiB).toBeLessThan(64);
    }
    const upload = await openai.uploads.create({
      filename: 'u.jsonl',
      purpose: 'batch',
      bytes: 10,
      mime_type: 'text/jsonl',
    });
    const part = await sendChunked(`/uploads/${upload.id}/parts`, 256);
    expect(part.status).toBe(413);
    expect(part.sentMiB).toBeLessThan(64);
    expect(unhandled).toEqual([]);
  });

  it('answers a part larger than its whole upload with a 413 that gives both sizes', async () => {
    const upload = await openai.uploads.create({
      filename: 'u.jsonl',
      purpose: 'batch',
      bytes: 5,
      mime_type: 'text/jsonl',
    });
    const error = await openai.uploads.parts
      .create(upload.id, { data: await toFile(Buffer.from('{"a":1}\n'), 'p') })
      .catch((e) => e);
    expect(error.status).toBe(413);
    expectMatchesSpec('ErrorResponse', { error: error.error });
    expect(error.error.message).toBe(
      'The part is 8 bytes, more than the 5 bytes the upload was created for.',
    );
    expect(error.error.param).toBe('data');
  });

  it('refuses file names with control characters (NUL, CR, LF, ...) on files and uploads, naming filename', async () => {
    for (const name of [
      'a\u0000b.jsonl',
      'a\r\nx-injected: 1.jsonl',
      'tab\there.jsonl',
      'del\u007f.jsonl',
      'c1\u0085.jsonl',
    ]) {
      const form = new FormData();
      form.set('purpose', 'batch');
      form.set('file', new Blob(['{"a":1}\n']), name);
      const response = await fetch(`${local.openAIBaseUrl}/files`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}` },
        body: form,
      });
      const error = await expectOpenAIError(response, 400, 'filename');
      expect(error.code).toBe('invalid_value');
      const upload = await openai.uploads
        .create({ filename: name, purpose: 'batch', bytes: 8, mime_type: 'text/jsonl' })
        .catch((e) => e);
      expect(upload.status).toBe(400);
      expect(upload.error.param).toBe('filename');
    }
    const ok = await openai.files.create({
      file: await toFile(Buffer.from('{"a":1}\n'), 'ファイル 1.jsonl'),
      purpose: 'batch',
    });
    expect(ok.filename).toBe('ファイル 1.jsonl');
  });

  it('refuses a form that carries the file or the purpose twice, instead of keeping one silently', async () => {
    const post = (form: FormData) =>
      fetch(`${local.openAIBaseUrl}/files`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}` },
        body: form,
      });
    const twoFiles = new FormData();
    twoFiles.set('purpose', 'batch');
    twoFiles.append('file', new Blob(['{"a":1}\n']), 'one.jsonl');
    twoFiles.append('file', new Blob(['not json\n']), 'two.jsonl');
    expect((await expectOpenAIError(await post(twoFiles), 400, 'file')).code).toBe('invalid_value');
    const twoPurposes = new FormData();
    twoPurposes.append('purpose', 'batch');
    twoPurposes.append('purpose', 'fine-tune');
    twoPurposes.set('file', new Blob(['{"a":1}\n']), 'one.jsonl');
    expect((await expectOpenAIError(await post(twoPurposes), 400, 'purpose')).code).toBe(
      'invalid_value',
    );
  });
});
