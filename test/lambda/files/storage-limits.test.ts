import { createDocumentClient } from '../../../lambda/customers/customers-repository';
import { inDefaultProject } from '../../../lambda/customers/project-ownership';
import { createFiles } from '../../../lambda/files/create-files';
import { createS3Client } from '../../../lambda/files/file-storage';
import { FilesRepository } from '../../../lambda/files/files-repository';
import { HttpError } from '../../../lambda/openai/errors';
import { DEFAULT_FILES_CONFIG } from '../../../lib/config/schema';
import { type LocalS3, startLocalS3 } from '../../../local/local-s3';
import { ensureFilesTable } from '../../../local/local-tables';
import { type LocalDynamo, startDynalite } from '../../support/dynalite';

/** Parts per upload and the per-customer storage quota, on dynalite and s3rver. */
describe('upload parts cap and storage quota', () => {
  let dynamo: LocalDynamo;
  let s3Server: LocalS3;
  let s3: ReturnType<typeof createS3Client>;
  let repository: FilesRepository;
  let service: ReturnType<typeof createFiles>;
  let customers = 0;
  const nextCustomer = () => {
    customers += 1;
    return `cus_quota${customers}`;
  };
  /** A JSONL file of exactly `bytes` bytes. */
  const jsonl = (bytes: number) => Buffer.from(`{"p":"${'x'.repeat(bytes - 9)}"}\n`);

  beforeAll(async () => {
    dynamo = await startDynalite();
    await ensureFilesTable(dynamo.client, 'files-quota');
    s3Server = await startLocalS3({ bucket: 'files-quota' });
    s3 = createS3Client({ endpoint: s3Server.endpoint });
    const doc = createDocumentClient(dynamo.client);
    repository = new FilesRepository(doc, 'files-quota');
    service = createFiles({
      doc,
      tableName: 'files-quota',
      s3,
      bucket: 'files-quota',
      config: { ...DEFAULT_FILES_CONFIG, maxPartsPerUpload: 3 },
    });
  });
  afterAll(async () => {
    s3.destroy();
    await s3Server.stop();
    await dynamo.stop();
  });

  const refusal = (promise: Promise<unknown>) =>
    promise.then(
      () => {
        throw new Error('expected a refusal');
      },
      (error: unknown) => {
        expect(error).toBeInstanceOf(HttpError);
        return error as HttpError;
      },
    );

  it('an upload takes at most maxPartsPerUpload parts: the next answers 400 too_many_parts, nothing stored', async () => {
    const customer = nextCustomer();
    const upload = await service.uploads.create(inDefaultProject(customer), {
      filename: 'a.jsonl',
      purpose: 'batch',
      bytes: 100,
      mimeType: 'text/jsonl',
    });
    for (let i = 0; i < 3; i++)
      await service.uploads.addPart(
        inDefaultProject(customer),
        upload.uploadId,
        Buffer.from('{}\n'),
      );

    const error = await refusal(
      service.uploads.addPart(inDefaultProject(customer), upload.uploadId, Buffer.from('{}\n')),
    );

    expect(error).toMatchObject({ status: 400, code: 'too_many_parts', param: 'data' });
    expect(error.message).toContain('has 3 parts, the most one upload takes');
    expect(await repository.listParts(customer, upload.uploadId)).toHaveLength(3);
  });

  it('the parts of an upload hold at most twice its bytes: past that 413, and a failed store gives its count back', async () => {
    const customer = nextCustomer();
    const upload = await service.uploads.create(inDefaultProject(customer), {
      filename: 'a.jsonl',
      purpose: 'batch',
      bytes: 10,
      mimeType: 'text/jsonl',
    });
    await service.uploads.addPart(inDefaultProject(customer), upload.uploadId, jsonl(10)); // sent once,
    const put = jest.spyOn(service.storage, 'put').mockRejectedValueOnce(new Error('s3 down'));
    await expect(
      service.uploads.addPart(inDefaultProject(customer), upload.uploadId, jsonl(10)),
    ).rejects.toThrow('s3 down');
    put.mockRestore();
    const resent = await service.uploads.addPart(
      inDefaultProject(customer),
      upload.uploadId,
      jsonl(10),
    ); // and again: 20 bytes

    const error = await refusal(
      service.uploads.addPart(inDefaultProject(customer), upload.uploadId, Buffer.from('{}\n')),
    );

    expect(error).toMatchObject({ status: 413, code: 'request_too_large', param: 'data' });
    expect(error.message).toContain('more than 20 bytes, twice the 10 bytes');
    expect(await repository.getUpload(inDefaultProject(customer), upload.uploadId)).toMatchObject({
      partCount: 2,
      partBytes: 20,
    });
    const { file } = await service.uploads.complete(inDefaultProject(customer), upload.uploadId, [
      resent.partId,
    ]);
    expect(file.bytes).toBe(10);
  });

  it('files.create holds to the quota with the numbers in a 400, and a deleted file frees its bytes', async () => {
    const customer = nextCustomer();
    const first = await service.files.create(
      inDefaultProject(customer),
      { filename: 'a.jsonl', purpose: 'batch', content: jsonl(60) },
      100,
    );

    const error = await refusal(
      service.files.create(
        inDefaultProject(customer),
        { filename: 'b.jsonl', purpose: 'batch', content: jsonl(60) },
        100,
      ),
    );

    expect(error).toMatchObject({
      status: 400,
      type: 'invalid_request_error',
      code: 'storage_quota_exceeded',
      param: 'file',
    });
    expect(error.message).toBe(
      'Storing this file (60 bytes) would pass your storage quota of 100 bytes (60 bytes stored). Delete files ' +
        '(DELETE /v1/files/{file_id}) or stored responses (DELETE /v1/responses/{response_id}) you no longer ' +
        'need; see GET /v1/plans for the quota of each tier.',
    );
    await service.files.delete(inDefaultProject(customer), first.fileId);
    await expect(
      service.files.create(
        inDefaultProject(customer),
        { filename: 'b.jsonl', purpose: 'batch', content: jsonl(60) },
        100,
      ),
    ).resolves.toMatchObject({ bytes: 60 });
    expect(await repository.storedBytes(customer)).toBe(60);
  });

  it('a DELETE never leaves the counter below what is stored when a recount runs between its record and its counter', async () => {
    const customer = nextCustomer();
    const scope = inDefaultProject(customer);
    const kept = { filename: 'kept.jsonl', purpose: 'batch' as const, content: jsonl(30) };
    await service.files.create(scope, kept, 100);
    const gone = await service.files.create(scope, { ...kept, content: jsonl(60) }, 100);
    expect(await repository.storedBytes(customer)).toBe(90);

    // Another request's refusal recounts right after the DELETE removed the file's record.
    const doc = createDocumentClient(dynamo.client);
    let recounted: Promise<number> | undefined;
    const pausing = {
      send: async (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
        const answer = await (doc.send as (c: unknown) => Promise<unknown>)(command);
        const key = command.input.Key as Record<string, string> | undefined;
        if (
          !recounted &&
          command.constructor.name === 'DeleteCommand' &&
          key?.sk?.startsWith('FILE#')
        )
          recounted = repository.recountStorage(customer);
        if (recounted) await recounted;
        return answer;
      },
    } as unknown as typeof doc;
    const racing = createFiles({
      doc: pausing,
      tableName: 'files-quota',
      s3,
      bucket: 'files-quota',
      config: DEFAULT_FILES_CONFIG,
    });
    await racing.files.delete(scope, gone.fileId);
    expect(recounted).toBeDefined();

    // The kept file's 30 bytes are still counted: 70 more fit, not 130.
    expect(await repository.storedBytes(customer)).toBe(30);
    expect(await repository.recountStorage(customer)).toBe(30);
  });

  it('concurrent uploads cannot pass the quota together: 6 files of 30 bytes at once into 100 -> exactly 3', async () => {
    const customer = nextCustomer();

    const results = await Promise.allSettled(
      Array.from({ length: 6 }, (_, i) =>
        service.files.create(
          inDefaultProject(customer),
          { filename: `${i}.jsonl`, purpose: 'batch', content: jsonl(30) },
          100,
        ),
      ),
    );

    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
    expect(
      (await service.files.list(inDefaultProject(customer), { order: 'asc', limit: 100 })).files,
    ).toHaveLength(3);
    expect(await repository.storedBytes(customer)).toBe(90);
  });

  it('the Uploads API: refused at create when it cannot fit, reserved at complete, and nothing leaks on a bad file', async () => {
    const customer = nextCustomer();
    await service.files.create(
      inDefaultProject(customer),
      { filename: 'a.jsonl', purpose: 'batch', content: jsonl(50) },
      100,
    );
    const tooBig = await refusal(
      service.uploads.create(
        inDefaultProject(customer),
        { filename: 'b', purpose: 'batch', bytes: 60, mimeType: 'text/jsonl' },
        100,
      ),
    );
    expect(tooBig).toMatchObject({ status: 400, code: 'storage_quota_exceeded' });

    const bad = await service.uploads.create(
      inDefaultProject(customer),
      { filename: 'b', purpose: 'batch', bytes: 10, mimeType: 'text/jsonl' },
      100,
    );
    const part = await service.uploads.addPart(
      inDefaultProject(customer),
      bad.uploadId,
      Buffer.from('not json\n\n'),
    );
    await expect(
      service.uploads.complete(inDefaultProject(customer), bad.uploadId, [part.partId], 100),
    ).rejects.toMatchObject({
      code: 'invalid_file',
    });
    expect(await repository.storedBytes(customer)).toBe(50);

    const good = await service.uploads.create(
      inDefaultProject(customer),
      { filename: 'c', purpose: 'batch', bytes: 40, mimeType: 'text/jsonl' },
      100,
    );
    const goodPart = await service.uploads.addPart(
      inDefaultProject(customer),
      good.uploadId,
      jsonl(40),
    );
    // Completed twice at once: one file, counted once.
    await Promise.all([
      service.uploads.complete(inDefaultProject(customer), good.uploadId, [goodPart.partId], 100),
      service.uploads
        .complete(inDefaultProject(customer), good.uploadId, [goodPart.partId], 100)
        .catch(() => undefined),
    ]);
    expect(await repository.storedBytes(customer)).toBe(90);
  });

  it('a recount before refusing keeps stores in flight and forgets what a crash left 15 minutes ago', async () => {
    const customer = nextCustomer();
    await service.files.create(
      inDefaultProject(customer),
      { filename: 'a.jsonl', purpose: 'batch', content: jsonl(20) },
      100,
    );
    // A store in flight holds 70 bytes: the next 50 do not fit, recount or not.
    await repository.reserveStorage(customer, 70, 100, 'file-inflight#1');
    const refused = await refusal(
      service.files.create(
        inDefaultProject(customer),
        { filename: 'b.jsonl', purpose: 'batch', content: jsonl(50) },
        100,
      ),
    );
    expect(refused).toMatchObject({ code: 'storage_quota_exceeded' });

    // The process holding them died 16 minutes ago: its hold no longer counts.
    await repository.releaseHold(customer, 'file-inflight#1');
    const clock = jest.spyOn(Date, 'now').mockReturnValue(Date.now() - 16 * 60 * 1000);
    await repository.reserveStorage(customer, 70, undefined, 'file-crashed#1');
    clock.mockRestore();
    expect(await repository.storedBytes(customer)).toBe(160);

    await expect(
      service.files.create(
        inDefaultProject(customer),
        { filename: 'b.jsonl', purpose: 'batch', content: jsonl(50) },
        100,
      ),
    ).resolves.toMatchObject({ bytes: 50 });
    expect(await repository.storedBytes(customer)).toBe(70);
  });
});
