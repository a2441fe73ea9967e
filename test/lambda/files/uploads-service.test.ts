import { createDocumentClient } from '../../../lambda/customers/customers-repository';
import { inDefaultProject } from '../../../lambda/customers/project-ownership';
import {
  createS3Client,
  type FileStorage,
  S3FileStorage,
} from '../../../lambda/files/file-storage';
import { FilesRepository } from '../../../lambda/files/files-repository';
import { UploadsService } from '../../../lambda/files/uploads-service';
import { HttpError } from '../../../lambda/openai/errors';
import { DEFAULT_FILES_CONFIG } from '../../../lib/config/schema';
import { type LocalS3, startLocalS3 } from '../../../local/local-s3';
import { ensureFilesTable } from '../../../local/local-tables';
import { type LocalDynamo, startDynalite } from '../../support/dynalite';

/**
 * The Uploads service on dynalite and s3rver, with a storage that lets a test act at an exact point
 * of `complete` (while it reads the parts): the races a client can cause with two requests at once.
 */
describe('UploadsService races', () => {
  let dynamo: LocalDynamo;
  let s3Server: LocalS3;
  let s3: ReturnType<typeof createS3Client>;
  let repository: FilesRepository;
  let storage: S3FileStorage;
  let uploads: UploadsService;
  /** Runs once, the first time `complete` reads the part with this index. */
  let onRead: { index: number; run: () => Promise<unknown> } | undefined;
  let readCount = 0;

  beforeAll(async () => {
    dynamo = await startDynalite();
    await ensureFilesTable(dynamo.client, 'files-races');
    s3Server = await startLocalS3({ bucket: 'files-races' });
    s3 = createS3Client({ endpoint: s3Server.endpoint });
    repository = new FilesRepository(createDocumentClient(dynamo.client), 'files-races');
    storage = new S3FileStorage(s3, 'files-races');
    uploads = new UploadsService({ repository, storage: hooked, config: DEFAULT_FILES_CONFIG });
  });
  afterAll(async () => {
    s3.destroy();
    await s3Server.stop();
    await dynamo.stop();
  });

  const hooked: FileStorage = {
    put: (key, body) => storage.put(key, body),
    get: (key) => storage.get(key),
    getRange: (key, start, end) => storage.getRange(key, start, end),
    delete: (key) => storage.delete(key),
    compose: (key, chunks) => storage.compose(key, chunks),
    downloadUrl: (key, seconds) => storage.downloadUrl(key, seconds),
    read: async function* (key) {
      const index = readCount++;
      if (onRead && onRead.index === index) {
        const { run } = onRead;
        onRead = undefined;
        await run();
      }
      yield* storage.read(key);
    },
  };

  async function uploadInTwoParts(customerId: string) {
    const content = Buffer.from('{"a":1}\n{"b":2}\n');
    const upload = await uploads.create(inDefaultProject(customerId), {
      filename: 'race.jsonl',
      purpose: 'batch',
      bytes: content.byteLength,
      mimeType: 'application/jsonl',
    });
    const first = await uploads.addPart(
      inDefaultProject(customerId),
      upload.uploadId,
      content.subarray(0, 8),
    );
    const second = await uploads.addPart(
      inDefaultProject(customerId),
      upload.uploadId,
      content.subarray(8),
    );
    readCount = 0;
    return { upload, partIds: [first.partId, second.partId] };
  }

  it('a cancel that lands while complete reads the parts makes complete answer 400 upload_cancelled, not a 500', async () => {
    const { upload, partIds } = await uploadInTwoParts('cus_race1');
    onRead = {
      index: 1,
      run: () => uploads.cancel(inDefaultProject('cus_race1'), upload.uploadId),
    };
    const error = await uploads
      .complete(inDefaultProject('cus_race1'), upload.uploadId, partIds)
      .catch((e) => e);
    expect(error).toBeInstanceOf(HttpError);
    expect(error).toMatchObject({ status: 400, code: 'upload_cancelled' });
    expect(await repository.getFile(inDefaultProject('cus_race1'), upload.fileId)).toBeUndefined();
  });

  it('a second complete that loses the race to the first answers the same file, not a 500', async () => {
    const { upload, partIds } = await uploadInTwoParts('cus_race2');
    let first: Awaited<ReturnType<UploadsService['complete']>> | undefined;
    onRead = {
      index: 1,
      run: async () => {
        first = await uploads.complete(inDefaultProject('cus_race2'), upload.uploadId, partIds);
      },
    };
    const second = await uploads.complete(inDefaultProject('cus_race2'), upload.uploadId, partIds);
    expect(first?.upload.status).toBe('completed');
    expect(second.upload.status).toBe('completed');
    expect(second.file.fileId).toBe(first?.file.fileId);
    expect(Buffer.from((await storage.get(second.file.objectKey)) ?? []).toString()).toBe(
      '{"a":1}\n{"b":2}\n',
    );
  });
});
