import * as z from 'zod/mini';
import type { FilesConfig } from '../../lib/config/schema';
import { randomBase62 } from '../customers/api-keys';
import {
  everyProject,
  type ObjectScope,
  type ProjectScope,
  projectToRecord,
} from '../customers/project-ownership';
import { BadRequestError, NotFoundError, PayloadTooLargeError } from '../openai/errors';
import { bodySchema, field } from '../openai/request-body';
import type { FileStorage } from './file-storage';
import type { FileListQuery, FilePurpose, FileRecord, FilesRepository } from './files-repository';
import { isWellFormedId, newFileId } from './ids';
import { JsonlValidator } from './jsonl';

/**
 * Content answered inline by `GET /v1/files/{id}/content`, at most: larger files answer a redirect
 * to a presigned S3 URL without being read (smaller ones too when escaped they pass Lambda's 6 MB,
 * `fitsInlineText`).
 */
export const INLINE_CONTENT_MAX_BYTES = 5 * 1024 * 1024;
/**
 * A synchronous Lambda invocation answers at most 6 MB (6,291,456 bytes: Lambda quotas, "Invocation
 * payload (request and response)"), counted on the serialized response.
 */
const LAMBDA_RESPONSE_MAX_BYTES = 6 * 1024 * 1024;
/** The rest of the response around the body: status, headers (content-disposition's file name). */
const RESPONSE_ENVELOPE_BYTES = 16 * 1024;

/**
 * Whether content can be answered inline as text, and fits a buffered Lambda response once
 * escaped. The buffered Lambda adapter sends a text body as it is and a binary one base64-encoded,
 * which API Gateway decodes only for a request whose Accept matches the REST API's binary media
 * types (multipart/form-data): audio (user_data) and adapter archives would reach the client as
 * mangled text or as base64, so they answer a redirect to S3, as content too large does.
 */
function fitsInlineText(body: Uint8Array): boolean {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    return false;
  }
  // Lambda's 6 MB counts the JSON the function returns, where the body is a JSON string: every
  // quote, backslash and newline of a JSONL file doubles there.
  const escapedBytes = new TextEncoder().encode(JSON.stringify(text)).byteLength;
  return escapedBytes <= LAMBDA_RESPONSE_MAX_BYTES - RESPONSE_ENVELOPE_BYTES;
}

/** How long a content redirect URL works. */
export const CONTENT_URL_SECONDS = 300;

const MAX_FILENAME_CHARS = 255;

export const contentKey = (customerId: string, fileId: string) => `files/${customerId}/${fileId}`;

export function fileNotFound(fileId: string): NotFoundError {
  return new NotFoundError(`No such File object: ${fileId}`, {
    code: 'file_not_found',
    param: 'file_id',
  });
}

/** Which rule a file name breaks, or undefined: the first of missing, too long, control characters. */
function filenameFault(filename: unknown): { message: string; code: string } | undefined {
  if (typeof filename !== 'string' || filename.trim() === '')
    return { message: 'The file needs a name.', code: 'missing_required_parameter' };
  if (filename.length > MAX_FILENAME_CHARS) {
    return {
      message: `The file name is too long: at most ${MAX_FILENAME_CHARS} characters.`,
      code: 'invalid_value',
    };
  }
  // A name is shown back in listings, headers and consoles: control characters (NUL, CR, LF, ...) have no place.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: these are the characters refused.
  if (/[\u0000-\u001f\u007f-\u009f]/.test(filename)) {
    return {
      message: 'The file name may not contain control characters (NUL, tab, line breaks, ...).',
      code: 'invalid_value',
    };
  }
  return undefined;
}

/** `filename` of a multipart file or an upload. */
const FILENAME = bodySchema(
  {
    filename: field(
      z.custom<string>((filename) => filenameFault(filename) === undefined),
      (filename) => filenameFault(filename)?.message ?? '',
      (filename) => filenameFault(filename)?.code ?? '',
    ),
  },
  { unknownField: 'ignore' },
);

export function checkFilename(filename: unknown): string {
  return FILENAME.check({ filename }).filename;
}

/**
 * A zip ("PK\3\4") or gzip (1f 8b) archive: with purpose `fine-tune`, a PEFT adapter to register
 * with `POST /v1/fine_tunings` (Groq's way), checked there against its base model; never JSONL.
 */
export function isAdapterArchive(purpose: FilePurpose, head: Uint8Array): boolean {
  if (purpose !== 'fine-tune') return false;
  const zip =
    head.length >= 4 &&
    head[0] === 0x50 &&
    head[1] === 0x4b &&
    head[2] === 0x03 &&
    head[3] === 0x04;
  const gzip = head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b;
  return zip || gzip;
}

/**
 * Content that is not JSONL, so not checked line by line: an adapter archive, or a `user_data`
 * file (audio to transcribe; `/v1/audio/transcriptions` measures it when it is named).
 */
export function isNotJsonl(purpose: FilePurpose, head: Uint8Array): boolean {
  return purpose === 'user_data' || isAdapterArchive(purpose, head);
}

/** Throws the validator's findings as one 400 that names the lines; answers the line count. */
export function throwIfInvalid(validator: JsonlValidator): number {
  const report = validator.end();
  const message = JsonlValidator.describe(report);
  if (message) throw new BadRequestError(message, { param: 'file', code: 'invalid_file' });
  return report.lines;
}

/** 400 for a file the customer's storage quota cannot hold, with the numbers. */
export function storageQuotaExceeded(
  quotaBytes: number,
  storedBytes: number,
  bytes: number,
): BadRequestError {
  return new BadRequestError(
    `Storing this file (${bytes} bytes) would pass your storage quota of ${quotaBytes} bytes ` +
      `(${storedBytes} bytes stored). Delete files (DELETE /v1/files/{file_id}) or stored responses ` +
      '(DELETE /v1/responses/{response_id}) you no longer need; see GET /v1/plans for the quota of ' +
      'each tier.',
    { param: 'file', code: 'storage_quota_exceeded' },
  );
}

/**
 * Counts `bytes` against the customer's storage quota (always counted; refused only with a quota).
 * A refusal first recounts from the file records, so bytes a crash left counted never keep a
 * customer out.
 */
export async function reserveStorage(
  repository: FilesRepository,
  customerId: string,
  fileId: string,
  bytes: number,
  quotaBytes?: number,
): Promise<string> {
  // One hold per attempt: two completes of one upload must not end each other's hold.
  const holdId = `${fileId}#${randomBase62(8)}`;
  if (await repository.reserveStorage(customerId, bytes, quotaBytes, holdId)) return holdId;
  const stored = await repository.recountStorage(customerId);
  if (await repository.reserveStorage(customerId, bytes, quotaBytes, holdId)) return holdId;
  throw storageQuotaExceeded(quotaBytes ?? 0, stored, bytes);
}

export interface FilesServiceOptions {
  repository: FilesRepository;
  storage: FileStorage;
  config: FilesConfig;
  now?: () => Date;
}

/**
 * The Files API: every file belongs to one organization and one project; another's id is not
 * found (`project-ownership.ts`).
 */
export class FilesService {
  constructor(private readonly options: FilesServiceOptions) {}

  private now(): Date {
    return this.options.now?.() ?? new Date();
  }

  /**
   * Stores an uploaded file after checking it: JSONL, one object per line, within the size and line
   * limits, and within the customer's storage quota (its tier's `storageQuotaBytes`; counted, never
   * refused, without one).
   */
  async create(
    scope: ObjectScope,
    input: { filename: string; purpose: FilePurpose; content: Uint8Array },
    quotaBytes?: number,
  ) {
    const { customerId } = scope;
    const { config, storage, repository } = this.options;
    if (input.content.byteLength > config.maxFileBytes)
      throw new PayloadTooLargeError(config.maxFileBytes);
    let lines = 0;
    if (!isNotJsonl(input.purpose, input.content)) {
      const validator = new JsonlValidator(config.maxLinesPerFile);
      validator.push(input.content);
      lines = throwIfInvalid(validator);
    }
    const now = this.now();
    const fileId = newFileId(now);
    const record: FileRecord = {
      fileId,
      customerId,
      ...projectToRecord(scope),
      filename: checkFilename(input.filename),
      purpose: input.purpose,
      bytes: input.content.byteLength,
      lines,
      createdAt: Math.floor(now.getTime() / 1000),
      objectKey: contentKey(customerId, fileId),
    };
    const hold = await reserveStorage(repository, customerId, fileId, record.bytes, quotaBytes);
    try {
      // Content first: metadata never points at content that is not there. A crash between the two
      // leaves an object that no record names: nobody can read it, and the client's retry uploads a
      // new file.
      await storage.put(record.objectKey, input.content);
      await repository.putFile(record);
    } catch (error) {
      await repository.releaseStorage(customerId, record.bytes);
      await repository.releaseHold(customerId, hold);
      throw error;
    }
    await repository.releaseHold(customerId, hold);
    return record;
  }

  /**
   * Writes a file that Tierline makes for a customer (a batch's output or error file) from a stream
   * of chunks. `fileId` is chosen by the caller so that a retry writes the same file, not a second
   * one.
   */
  async writeOwnedFile(input: {
    customerId: string;
    /** The project of what made it (a batch's): absent for a batch made before projects. */
    projectId?: string;
    fileId: string;
    filename: string;
    purpose: FilePurpose;
    chunks: AsyncIterable<Uint8Array>;
    lines: number;
  }): Promise<FileRecord> {
    const objectKey = contentKey(input.customerId, input.fileId);
    const { bytes } = await this.options.storage.compose(objectKey, input.chunks);
    const record: FileRecord = {
      fileId: input.fileId,
      customerId: input.customerId,
      ...(input.projectId === undefined ? {} : { projectId: input.projectId }),
      filename: input.filename,
      purpose: input.purpose,
      bytes,
      lines: input.lines,
      createdAt: Math.floor(this.now().getTime() / 1000),
      objectKey,
    };
    // Counted once (a retry writes no second record), and never refused: the batch that made it is
    // paid for.
    if (await this.options.repository.putFile(record)) {
      await this.options.repository.reserveStorage(input.customerId, bytes);
    }
    const scope = everyProject(input.customerId);
    return (await this.options.repository.getFile(scope, input.fileId)) ?? record;
  }

  /** The file when it is visible in `scope`; 404 otherwise (another project's included). */
  async get(scope: ObjectScope, fileId: string): Promise<FileRecord> {
    const file = isWellFormedId('file-', fileId)
      ? await this.options.repository.getFile(scope, fileId)
      : undefined;
    if (!file) throw fileNotFound(fileId);
    return file;
  }

  list(scope: ProjectScope, query: FileListQuery) {
    return this.options.repository.listFiles(scope, query);
  }

  /** The content, inline when it fits a buffered Lambda response, else a short-lived download URL. */
  async content(
    scope: ProjectScope,
    fileId: string,
  ): Promise<{ file: FileRecord; body: Uint8Array } | { file: FileRecord; url: string }> {
    const file = await this.get(scope, fileId);
    if (file.bytes > INLINE_CONTENT_MAX_BYTES) {
      return {
        file,
        url: await this.options.storage.downloadUrl(file.objectKey, CONTENT_URL_SECONDS),
      };
    }
    const body = await this.options.storage.get(file.objectKey);
    // The record is written after the content, so this is a file deleted between the two reads.
    if (!body) throw fileNotFound(fileId);
    if (!fitsInlineText(body)) {
      return {
        file,
        url: await this.options.storage.downloadUrl(file.objectKey, CONTENT_URL_SECONDS),
      };
    }
    return { file, body };
  }

  /** The whole content of a file {@link get} answered (its owner already checked there). */
  async bytes(file: FileRecord): Promise<Uint8Array> {
    const body = await this.options.storage.get(file.objectKey);
    // The record is written after the content, so this is a file deleted between the two reads.
    if (!body) throw fileNotFound(file.fileId);
    return body;
  }

  /**
   * Deletes the metadata first (from then on the file is gone for the customer), then the content.
   * The bucket is versioned: a lifecycle rule removes the deleted content's old version after 30
   * days.
   */
  async delete(scope: ProjectScope, fileId: string): Promise<FileRecord> {
    const { repository } = this.options;
    const found = isWellFormedId('file-', fileId)
      ? await repository.getFile(scope, fileId)
      : undefined;
    if (!found) throw fileNotFound(fileId);
    // Held while its bytes leave the counter, as a store holds them until its record is written:
    // a recount between the record's delete and the counter's (any refusal makes one) still counts
    // them. Without it that recount set the counter without them and the delete then took them off
    // again: the counter fell below what is stored, and the quota was passed by as much.
    const hold = `${fileId}#del-${randomBase62(8)}`;
    await repository.holdWhileReleased(scope.customerId, hold, found.bytes);
    const file = await repository.deleteFile(scope, fileId);
    if (!file) {
      await repository.releaseHold(scope.customerId, hold);
      throw fileNotFound(fileId);
    }
    // Only the request that deleted the record gives its bytes back: a repeated delete finds
    // nothing. The quota is the organization's, whichever project stored the file.
    await repository.releaseStorage(scope.customerId, file.bytes);
    await repository.releaseHold(scope.customerId, hold);
    await this.options.storage.delete(file.objectKey);
    return file;
  }
}
