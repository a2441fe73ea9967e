import * as z from 'zod/mini';
import type { FilesConfig } from '../../lib/config/schema';
import { everyProject, type ObjectScope, projectToRecord } from '../customers/project-ownership';
import { BadRequestError, HttpError, NotFoundError } from '../openai/errors';
import { bodySchema, field } from '../openai/request-body';
import type { FileStorage } from './file-storage';
import type {
  FilePurpose,
  FileRecord,
  FilesRepository,
  UploadPartRecord,
  UploadRecord,
} from './files-repository';
import {
  checkFilename,
  contentKey,
  isNotJsonl,
  reserveStorage,
  storageQuotaExceeded,
  throwIfInvalid,
} from './files-service';
import { isWellFormedId, newFileId, newPartId, newUploadId } from './ids';
import { JsonlValidator } from './jsonl';

export const partsKey = (customerId: string, uploadId: string, partId: string) =>
  `parts/${customerId}/${uploadId}/${partId}`;

export function uploadNotFound(uploadId: string): NotFoundError {
  return new NotFoundError(`No such Upload object: ${uploadId}`, {
    code: 'upload_not_found',
    param: 'upload_id',
  });
}

export interface UploadsServiceOptions {
  repository: FilesRepository;
  storage: FileStorage;
  config: FilesConfig;
  now?: () => Date;
}

const positiveInteger = (value: unknown): value is number =>
  typeof value === 'number' && Number.isInteger(value) && value >= 1;

/** `bytes` (a positive integer within the largest file) and `mime_type` of `POST /v1/uploads`. */
function uploadCreateSchema(maxFileBytes: number) {
  return bodySchema(
    {
      bytes: field(
        z.custom<number>((bytes) => positiveInteger(bytes) && bytes <= maxFileBytes),
        (bytes) =>
          positiveInteger(bytes)
            ? `The file is too large: ${bytes} bytes, at most ${maxFileBytes}.`
            : "'bytes' must be a positive integer: the file's size.",
        (bytes) => (positiveInteger(bytes) ? 'file_too_large' : 'invalid_value'),
      ),
      mime_type: field(
        z.string().check(z.minLength(1)),
        "Missing required parameter: 'mime_type'.",
        'missing_required_parameter',
      ),
    },
    { unknownField: 'ignore' },
  );
}

const partIdList = (ids: unknown): ids is string[] =>
  Array.isArray(ids) && ids.length > 0 && ids.every((id) => typeof id === 'string');

/** `part_ids` of `/complete`: a non-empty list of part ids, each once. */
const PART_IDS = bodySchema(
  {
    part_ids: field(
      z.custom<string[]>((ids) => partIdList(ids) && new Set(ids).size === ids.length),
      (ids) =>
        partIdList(ids)
          ? "'part_ids' names a part more than once."
          : "'part_ids' must be a non-empty list of part ids.",
      'invalid_value',
    ),
  },
  { unknownField: 'ignore' },
);

/**
 * OpenAI's Uploads API, for files larger than one request may carry: create an upload (name,
 * purpose, total bytes), add parts, complete it with the parts in order. Each part is its own S3
 * object; `complete` streams them, in the client's order, through the JSONL check into one S3
 * multipart upload (parts of any size work, where S3 multipart itself needs 5 MiB for every part
 * but the last), then writes the file.
 */
export class UploadsService {
  /** Built from the config on first use. */
  private createSchema: ReturnType<typeof uploadCreateSchema> | undefined;

  constructor(private readonly options: UploadsServiceOptions) {}

  private nowSeconds(): number {
    return Math.floor((this.options.now?.() ?? new Date()).getTime() / 1000);
  }

  /** Opens an upload; with a storage quota, one the customer's stored files leave no room for is refused now. */
  async create(
    scope: ObjectScope,
    input: { filename: unknown; purpose: FilePurpose; bytes: unknown; mimeType: unknown },
    quotaBytes?: number,
  ): Promise<UploadRecord> {
    const { customerId } = scope;
    const { config } = this.options;
    this.createSchema ??= uploadCreateSchema(config.maxFileBytes);
    this.createSchema.check({ bytes: input.bytes, mime_type: input.mimeType });
    if (quotaBytes !== undefined) {
      // A check, not a reservation: an upload that is never completed holds nothing. `complete`
      // reserves.
      const { repository } = this.options;
      const bytes = input.bytes as number;
      if (
        (await repository.storedBytes(customerId)) + bytes > quotaBytes &&
        (await repository.recountStorage(customerId)) + bytes > quotaBytes
      ) {
        throw storageQuotaExceeded(quotaBytes, await repository.storedBytes(customerId), bytes);
      }
    }
    const createdAt = this.nowSeconds();
    const now = this.options.now?.() ?? new Date();
    const upload: UploadRecord = {
      uploadId: newUploadId(now),
      customerId,
      // The file it becomes is this project's too.
      ...projectToRecord(scope),
      filename: checkFilename(input.filename),
      purpose: input.purpose,
      bytes: input.bytes as number,
      mimeType: input.mimeType as string,
      status: 'pending',
      createdAt,
      expiresAt: createdAt + config.uploadExpirySeconds,
      fileId: newFileId(now),
    };
    await this.options.repository.putUpload(upload);
    return upload;
  }

  /** The upload, when it is visible in `scope`; 404 otherwise (another project's included). */
  async get(scope: ObjectScope, uploadId: string): Promise<UploadRecord> {
    const upload = isWellFormedId('upload_', uploadId)
      ? await this.options.repository.getUpload(scope, uploadId)
      : undefined;
    if (!upload) throw uploadNotFound(uploadId);
    return upload;
  }

  /** A pending upload, or a 400 that says why it takes no more changes (and marks an expired one). */
  private async pending(scope: ObjectScope, uploadId: string): Promise<UploadRecord> {
    const upload = await this.get(scope, uploadId);
    if (upload.status === 'pending' && this.nowSeconds() >= upload.expiresAt) {
      await this.options.repository.finishUpload(scope.customerId, uploadId, 'expired');
      upload.status = 'expired';
    }
    if (upload.status !== 'pending') {
      throw new BadRequestError(
        `Upload ${uploadId} is ${upload.status}: it takes no more changes.`,
        {
          param: 'upload_id',
          code: `upload_${upload.status}`,
        },
      );
    }
    return upload;
  }

  async addPart(scope: ObjectScope, uploadId: string, data: Uint8Array): Promise<UploadPartRecord> {
    const { customerId } = scope;
    const upload = await this.pending(scope, uploadId);
    if (data.byteLength > upload.bytes) {
      throw new HttpError(
        413,
        'invalid_request_error',
        `The part is ${data.byteLength} bytes, more than the ${upload.bytes} bytes the upload was created for.`,
        { code: 'request_too_large', param: 'data' },
      );
    }
    const { repository, config } = this.options;
    // Counted before it is stored, so an upload holds at most this many parts and bytes of parts in
    // S3. Twice the upload's bytes leaves room to send again parts whose answer was lost.
    const maxBytes = 2 * upload.bytes;
    const counted = await repository.countPart(customerId, uploadId, data.byteLength, {
      maxParts: config.maxPartsPerUpload,
      maxBytes,
    });
    if (counted === 'not_pending') await this.pending(scope, uploadId);
    if (counted === 'too_many_parts') {
      throw new BadRequestError(
        `Upload ${uploadId} has ${config.maxPartsPerUpload} parts, the most one upload takes. ` +
          'Send larger parts (up to 4 MiB each), or complete it with the parts it has.',
        { param: 'data', code: 'too_many_parts' },
      );
    }
    if (counted === 'too_many_bytes') {
      throw new HttpError(
        413,
        'invalid_request_error',
        `The parts of upload ${uploadId} would hold more than ${maxBytes} bytes, twice the ${upload.bytes} ` +
          'bytes it was created for. Complete it with the parts you need, or cancel it and create a new one.',
        { code: 'request_too_large', param: 'data' },
      );
    }
    const now = this.options.now?.() ?? new Date();
    const partId = newPartId(now);
    const part: UploadPartRecord = {
      uploadId,
      partId,
      customerId,
      bytes: data.byteLength,
      createdAt: this.nowSeconds(),
      objectKey: partsKey(customerId, uploadId, partId),
    };
    try {
      await this.options.storage.put(part.objectKey, data);
      await repository.putPart(part);
    } catch (error) {
      await repository.uncountPart(customerId, uploadId, data.byteLength);
      throw error;
    }
    return part;
  }

  /**
   * The parts `part_ids` names, in its order, each once, adding up to the bytes the upload was
   * created for; 400 naming the first that is not.
   */
  private async orderedParts(
    customerId: string,
    upload: UploadRecord,
    partIds: unknown,
  ): Promise<UploadPartRecord[]> {
    PART_IDS.check({ part_ids: partIds });
    const parts = new Map(
      (await this.options.repository.listParts(customerId, upload.uploadId)).map((p) => [
        p.partId,
        p,
      ]),
    );
    const ordered = (partIds as string[]).map((id, index) => {
      const part = parts.get(id);
      if (!part)
        throw new BadRequestError(`No part ${id} in upload ${upload.uploadId}.`, {
          param: `part_ids[${index}]`,
          code: 'invalid_value',
        });
      return part;
    });
    const total = ordered.reduce((sum, part) => sum + part.bytes, 0);
    if (total !== upload.bytes) {
      throw new BadRequestError(
        `The parts hold ${total} bytes, but the upload was created for ${upload.bytes}.`,
        {
          param: 'part_ids',
          code: 'invalid_value',
        },
      );
    }
    return ordered;
  }

  /**
   * Assembles the parts in the order given, checks the file, stores it and completes the upload.
   * Safe to retry: the file id was fixed at creation, so a second `complete` (after a crash or a
   * lost answer) writes the same object and the same record, and a completed upload answers its
   * file again.
   */
  async complete(
    scope: ObjectScope,
    uploadId: string,
    partIds: unknown,
    quotaBytes?: number,
  ): Promise<{ upload: UploadRecord; file: FileRecord }> {
    const { customerId } = scope;
    const existing = await this.get(scope, uploadId);
    if (existing.status === 'completed')
      return { upload: existing, file: await this.fileOf(existing) };
    const upload = await this.pending(scope, uploadId);
    const ordered = await this.orderedParts(customerId, upload, partIds);

    const { storage, repository, config } = this.options;
    const validator = new JsonlValidator(config.maxLinesPerFile);
    let lines = 0;
    // An adapter archive (purpose fine-tune) is not JSONL: `POST /v1/fine_tunings` checks it; nor
    // is a user_data file (audio). Decided by the first bytes of the file, which the first part
    // holds.
    let archive: boolean | undefined;
    async function* checkedChunks() {
      for (const part of ordered) {
        for await (const chunk of storage.read(part.objectKey)) {
          archive ??= isNotJsonl(upload.purpose, chunk);
          if (!archive) validator.push(chunk);
          yield chunk;
        }
      }
      // Throwing here, before the last chunk is taken, keeps the multipart upload from completing.
      if (!archive) lines = throwIfInvalid(validator);
    }
    const objectKey = contentKey(customerId, upload.fileId);
    // The file's bytes are reserved before it is assembled; every way this complete does not make
    // the file (a bad file, a concurrent complete or cancel that won) gives them back.
    let hold: string;
    try {
      hold = await reserveStorage(repository, customerId, upload.fileId, upload.bytes, quotaBytes);
    } catch (error) {
      // A concurrent complete of the same upload holds the bytes, and made the file: answer it.
      const now = await this.get(scope, uploadId);
      if (now.status === 'completed') return { upload: now, file: await this.fileOf(now) };
      throw error;
    }
    let bytes: number;
    try {
      ({ bytes } = await storage.compose(objectKey, checkedChunks()));
    } catch (error) {
      await repository.releaseStorage(customerId, upload.bytes);
      await repository.releaseHold(customerId, hold);
      // A concurrent complete or cancel ended the upload and deleted its parts while they were read
      // here: answer as that request left it (the same file, or why it takes no more changes), not
      // with the missing part.
      const now = await this.get(scope, uploadId);
      if (now.status === 'completed') return { upload: now, file: await this.fileOf(now) };
      if (now.status !== 'pending') await this.pending(scope, uploadId);
      throw error;
    }
    const file: FileRecord = {
      fileId: upload.fileId,
      customerId,
      ...(upload.projectId === undefined ? {} : { projectId: upload.projectId }),
      filename: upload.filename,
      purpose: upload.purpose,
      bytes,
      lines,
      createdAt: this.nowSeconds(),
      objectKey,
    };
    await repository.putFile(file);
    if (!(await repository.finishUpload(customerId, uploadId, 'completed'))) {
      // Another complete made the file (and counted it), or a cancel ended the upload: ours is not
      // counted.
      await repository.releaseStorage(customerId, upload.bytes);
      const now = await this.get(scope, uploadId);
      if (now.status !== 'completed') {
        // Cancelled (or expired) while the parts were assembled: the upload ends that way, without
        // a file.
        await repository.deleteFile(everyProject(customerId), file.fileId);
        await storage.delete(objectKey);
        await this.pending(scope, uploadId);
      }
    }
    await repository.releaseHold(customerId, hold);
    // The parts are no longer needed; the lifecycle rule on `parts/` removes any this misses.
    await Promise.allSettled(ordered.map((part) => storage.delete(part.objectKey)));
    return {
      upload: { ...upload, status: 'completed' },
      file: (await repository.getFile(everyProject(customerId), file.fileId)) ?? file,
    };
  }

  async cancel(scope: ObjectScope, uploadId: string): Promise<UploadRecord> {
    const { customerId } = scope;
    const upload = await this.pending(scope, uploadId);
    if (!(await this.options.repository.finishUpload(customerId, uploadId, 'cancelled'))) {
      return this.pending(scope, uploadId); // a concurrent complete or cancel won: answer why
    }
    const parts = await this.options.repository.listParts(customerId, uploadId);
    await Promise.allSettled(parts.map((part) => this.options.storage.delete(part.objectKey)));
    return { ...upload, status: 'cancelled' };
  }

  /** The file a completed upload became. */
  private async fileOf(upload: UploadRecord): Promise<FileRecord> {
    // Its project's file, as the upload was (deleted since, or never made: not found).
    const file = await this.options.repository.getFile(
      everyProject(upload.customerId),
      upload.fileId,
    );
    // Deleted by the customer since: the upload still says completed, its file is gone.
    if (!file)
      throw new NotFoundError(`The file of upload ${upload.uploadId} was deleted.`, {
        code: 'file_not_found',
        param: 'upload_id',
      });
    return file;
  }
}
