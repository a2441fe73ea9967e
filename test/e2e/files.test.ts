import type Groq from 'groq-sdk';
import { toFile as groqToFile } from 'groq-sdk';
import OpenAI, { toFile } from 'openai';
import { loadConfig } from '../../lib/config/load';
import { type LocalMode, startLocalMode } from '../../local/local-mode';
import { localClients } from '../support/local-clients';
import { expectMatchesSpec, expectSpecCompliance, specCheckedFetch } from '../support/spec-check';

/**
 * The Files and Uploads APIs end to end: local mode (dynalite for metadata, an embedded S3 server
 * for content) driven by the official `openai` and `groq-sdk` clients. Every response is checked
 * against OpenAI's published schema.
 */

const config = loadConfig({ env: 'dev' });

const requestLine = (customId: string, content: string) =>
  JSON.stringify({
    custom_id: customId,
    method: 'POST',
    url: '/v1/chat/completions',
    body: { model: 'qwen3-8b', messages: [{ role: 'user', content }] },
  });
const batchFile = (n: number) =>
  `${Array.from({ length: n }, (_, i) => requestLine(`req-${i + 1}`, `hi ${i}`)).join('\n')}\n`;

describe('Files API with the official clients', () => {
  // Every answer below is checked against OpenAI's and Tierline's published schemas.
  const spec = specCheckedFetch();
  afterEach(() => expectSpecCompliance(spec));

  let local: LocalMode;
  let openai: OpenAI;
  let other: OpenAI;
  let groq: Groq;

  beforeAll(async () => {
    local = await startLocalMode({ config, port: 0 });
    const clients = localClients(local, spec.fetch);
    const { keys } = clients;
    openai = clients.openai(keys.developer);
    other = clients.openai(keys.enterprise);
    groq = clients.groq(keys.developer);
  });
  afterAll(() => local.stop());

  it('creates, retrieves, lists, reads and deletes a batch file (openai)', async () => {
    const content = batchFile(3);
    const created = await openai.files.create({
      file: await toFile(Buffer.from(content), 'requests.jsonl'),
      purpose: 'batch',
    });
    expectMatchesSpec('OpenAIFile', created);
    expect(created).toMatchObject({
      object: 'file',
      purpose: 'batch',
      filename: 'requests.jsonl',
      bytes: Buffer.byteLength(content),
    });
    expect(created.id).toMatch(/^file-/);

    const retrieved = await openai.files.retrieve(created.id);
    expectMatchesSpec('OpenAIFile', retrieved);
    expect(retrieved).toEqual(created);

    const listed = await openai.files.list({ purpose: 'batch' });
    expect(listed.data.map((f) => f.id)).toContain(created.id);

    const body = await openai.files.content(created.id);
    expect(await body.text()).toBe(content);

    const deleted = await openai.files.delete(created.id);
    expectMatchesSpec('DeleteFileResponse', deleted);
    expect(deleted).toEqual({ id: created.id, object: 'file', deleted: true });
    await expect(openai.files.retrieve(created.id)).rejects.toMatchObject({ status: 404 });
  });

  it('lists newest first by default, oldest first with order=asc, and pages with after and limit', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i += 1) {
      const file = await openai.files.create({
        file: await toFile(Buffer.from(batchFile(1)), `page-${i}.jsonl`),
        purpose: 'fine-tune',
      });
      ids.push(file.id);
    }
    const raw = await spec.fetch(`${local.openAIBaseUrl}/files?purpose=fine-tune&limit=2`, {
      headers: { authorization: `Bearer ${openai.apiKey}` },
    });
    const page = (await raw.json()) as { data: { id: string }[]; has_more: boolean };
    expectMatchesSpec('ListFilesResponse', page);
    expect(page.data.map((f) => f.id)).toEqual([ids[2], ids[1]]);
    expect(page.has_more).toBe(true);

    const asc = await openai.files.list({
      purpose: 'fine-tune',
      order: 'asc',
      after: ids[0],
      limit: 10,
    });
    expect(asc.data.map((f) => f.id)).toEqual([ids[1], ids[2]]);
    expect(asc.has_more).toBe(false);

    const all = [];
    for await (const file of openai.files.list({ purpose: 'fine-tune', limit: 1 }))
      all.push(file.id);
    expect(all).toEqual([ids[2], ids[1], ids[0]]);
  });

  it("accepts Groq's fine_tuning as fine-tune, and rejects other purposes naming the parameter", async () => {
    const file = await openai.files.create({
      file: await toFile(Buffer.from('{"messages":[]}\n'), 'train.jsonl'),
      purpose: 'fine_tuning' as 'fine-tune',
    });
    expect(file.purpose).toBe('fine-tune');
    await expect(
      openai.files.create({
        file: await toFile(Buffer.from('{}\n'), 'a.jsonl'),
        purpose: 'assistants',
      }),
    ).rejects.toMatchObject({ status: 400, error: { param: 'purpose', code: 'invalid_value' } });
  });

  it('rejects a JSONL file with bad lines, naming each line', async () => {
    const content = `${requestLine('a', 'x')}\nnot json\n${requestLine('b', 'y')}\n[1,2]\n`;
    const error = await openai.files
      .create({ file: await toFile(Buffer.from(content), 'bad.jsonl'), purpose: 'batch' })
      .catch((e) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect(error.error).toMatchObject({
      type: 'invalid_request_error',
      param: 'file',
      code: 'invalid_file',
    });
    expect(error.error.message).toContain('line 2 is not valid JSON');
    expect(error.error.message).toContain('line 4 is not a JSON object');
    const empty = await openai.files
      .create({ file: await toFile(Buffer.from(''), 'e.jsonl'), purpose: 'batch' })
      .catch((e) => e);
    expect(empty.error.message).toContain('the file is empty');
  });

  it('answers 413 above 4 MiB per request, pointing to the Uploads API', async () => {
    const big = Buffer.alloc(4 * 1024 * 1024 + 1, 0x20);
    const error = await openai.files
      .create({ file: await toFile(big, 'big.jsonl'), purpose: 'batch' })
      .catch((e) => e);
    expect(error.status).toBe(413);
    expect(error.error.message).toContain('Uploads API');
  });

  it('answers 404 to another customer for every file id and its content, and lists none of them', async () => {
    const mine = await openai.files.create({
      file: await toFile(Buffer.from(batchFile(1)), 'mine.jsonl'),
      purpose: 'batch',
    });
    for (const call of [
      () => other.files.retrieve(mine.id),
      () => other.files.content(mine.id),
      () => other.files.delete(mine.id),
    ]) {
      const error = await call().catch((e) => e);
      expect(error).toBeInstanceOf(OpenAI.NotFoundError);
      expectMatchesSpec('ErrorResponse', { error: error.error });
    }
    const theirs = await other.files.list();
    expect(theirs.data.map((f) => f.id)).not.toContain(mine.id);
    expect((await openai.files.retrieve(mine.id)).id).toBe(mine.id); // still there for its owner
    await expect(openai.files.retrieve('file-does-not-exist')).rejects.toMatchObject({
      status: 404,
    });
    await expect(openai.files.retrieve('../../etc')).rejects.toMatchObject({ status: 404 });
  });

  it('uploads a 9 MiB file in parts through the Uploads API and reads it back through a redirect', async () => {
    const line = `${requestLine('x'.repeat(20), 'y'.repeat(1000))}\n`;
    const lines = Math.ceil((9 * 1024 * 1024) / line.length);
    const content = Buffer.from(line.repeat(lines));
    const upload = await openai.uploads.create({
      filename: 'large.jsonl',
      purpose: 'batch',
      bytes: content.byteLength,
      mime_type: 'application/jsonl',
    });
    expect(upload).toMatchObject({
      object: 'upload',
      status: 'pending',
      bytes: content.byteLength,
    });
    const partSize = 3 * 1024 * 1024 + 17; // not aligned to lines: a line spans two parts
    const partIds: string[] = [];
    for (let offset = 0; offset < content.byteLength; offset += partSize) {
      const part = await openai.uploads.parts.create(upload.id, {
        data: await toFile(content.subarray(offset, offset + partSize), 'part'),
      });
      expect(part).toMatchObject({ object: 'upload.part', upload_id: upload.id });
      partIds.push(part.id);
    }
    const completed = await openai.uploads.complete(upload.id, { part_ids: partIds });
    expect(completed.status).toBe('completed');
    expect(completed.file).toBeTruthy();
    expectMatchesSpec('OpenAIFile', completed.file);
    expect(completed.file?.bytes).toBe(content.byteLength);

    // A retried complete answers the same file, not a second one.
    const again = await openai.uploads.complete(upload.id, { part_ids: partIds });
    expect(again.file?.id).toBe(completed.file?.id);

    const body = Buffer.from(
      await (await openai.files.content(completed.file?.id as string)).arrayBuffer(),
    );
    expect(body.equals(content)).toBe(true);
  });

  it('refuses parts in the wrong total, bad parts, and changes after cancel; uploads are 404 to others', async () => {
    const content = Buffer.from(batchFile(2));
    const upload = await openai.uploads.create({
      filename: 'c.jsonl',
      purpose: 'batch',
      bytes: content.byteLength,
      mime_type: 'application/jsonl',
    });
    const part = await openai.uploads.parts.create(upload.id, {
      data: await toFile(content.subarray(0, 10), 'p'),
    });
    await expect(openai.uploads.complete(upload.id, { part_ids: [part.id] })).rejects.toMatchObject(
      {
        status: 400,
        error: { param: 'part_ids' },
      },
    );
    await expect(
      openai.uploads.complete(upload.id, { part_ids: ['part_nope'] }),
    ).rejects.toMatchObject({
      status: 400,
    });
    for (const call of [
      async () => other.uploads.parts.create(upload.id, { data: await toFile(content, 'p') }),
      () => other.uploads.complete(upload.id, { part_ids: [part.id] }),
      () => other.uploads.cancel(upload.id),
    ]) {
      await expect(call()).rejects.toMatchObject({ status: 404 });
    }
    const cancelled = await openai.uploads.cancel(upload.id);
    expect(cancelled.status).toBe('cancelled');
    await expect(
      openai.uploads.parts.create(upload.id, { data: await toFile(content, 'p') }),
    ).rejects.toMatchObject({
      status: 400,
      error: { code: 'upload_cancelled' },
    });
  });

  it('rejects an upload whose assembled content is not valid JSONL, naming the line', async () => {
    const content = Buffer.from(`${requestLine('a', 'b')}\n{"broken": \n`);
    const upload = await openai.uploads.create({
      filename: 'b.jsonl',
      purpose: 'batch',
      bytes: content.byteLength,
      mime_type: 'application/jsonl',
    });
    const part = await openai.uploads.parts.create(upload.id, { data: await toFile(content, 'p') });
    const error = await openai.uploads.complete(upload.id, { part_ids: [part.id] }).catch((e) => e);
    expect(error.status).toBe(400);
    expect(error.error.message).toContain('line 2 is not valid JSON');
  });

  it('works with groq-sdk: create, list, retrieve, content, delete', async () => {
    const content = batchFile(2);
    const created = await groq.files.create({
      file: await groqToFile(Buffer.from(content), 'groq.jsonl'),
      purpose: 'batch',
    });
    expectMatchesSpec('OpenAIFile', created);
    const listed = await groq.files.list();
    expect(listed.data.map((f) => f.id)).toContain(created.id);
    expect((await groq.files.info(created.id as string)).id).toBe(created.id);
    expect(await (await groq.files.content(created.id as string)).text()).toBe(content);
    await groq.files.delete(created.id as string);
    await expect(groq.files.info(created.id as string)).rejects.toMatchObject({ status: 404 });
  });
});
