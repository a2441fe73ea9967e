import * as z from 'zod/mini';
import { BadRequestError } from '../openai/errors';
import { bodySchema, field } from '../openai/request-body';
import type {
  OpenAIFile,
  OpenAIFileList,
  OpenAIUpload,
  OpenAIUploadPart,
} from '../openai/shapes/files';
import { ownValue } from '../own';
import type { FilePurpose, FileRecord, UploadPartRecord, UploadRecord } from './files-repository';

/** Purposes a customer may upload, with Groq's `fine_tuning` as a synonym of OpenAI's `fine-tune`. */
const UPLOAD_PURPOSES: Record<string, FilePurpose> = {
  batch: 'batch',
  'fine-tune': 'fine-tune',
  fine_tuning: 'fine-tune',
  user_data: 'user_data',
};
const LISTED_PURPOSES = new Set<string>([
  'batch',
  'batch_output',
  'fine-tune',
  'fine-tune-results',
  'user_data',
]);

const missingPurpose = (value: unknown) => typeof value !== 'string' || value === '';

/** `purpose` of an upload: one of {@link UPLOAD_PURPOSES}'s own names. */
const UPLOAD_PURPOSE = bodySchema(
  {
    purpose: field(
      z.custom<string>(
        (value) => !missingPurpose(value) && ownValue(UPLOAD_PURPOSES, value) !== undefined,
      ),
      (value) =>
        missingPurpose(value)
          ? "Missing required parameter: 'purpose'."
          : `Invalid purpose '${value}': Tierline accepts 'batch', 'fine-tune' (or 'fine_tuning') and 'user_data' (audio to transcribe).`,
      (value) => (missingPurpose(value) ? 'missing_required_parameter' : 'invalid_value'),
    ),
  },
  { unknownField: 'ignore' },
);

export function parseUploadPurpose(value: unknown): FilePurpose {
  const { purpose } = UPLOAD_PURPOSE.check({ purpose: value });
  return ownValue(UPLOAD_PURPOSES, purpose) as FilePurpose;
}

/** The `purpose` filter of `GET /v1/files`; `fine_tuning` finds `fine-tune` files. */
export function parseListedPurpose(value: string | undefined): FilePurpose | undefined {
  if (value === undefined || value === '') return undefined;
  const purpose = value === 'fine_tuning' ? 'fine-tune' : value;
  if (!LISTED_PURPOSES.has(purpose)) {
    throw new BadRequestError(
      `Invalid purpose '${value}': one of ${[...LISTED_PURPOSES].join(', ')}.`,
      {
        param: 'purpose',
        code: 'invalid_value',
      },
    );
  }
  return purpose as FilePurpose;
}

export function toOpenAIFile(file: FileRecord): OpenAIFile {
  return {
    id: file.fileId,
    object: 'file',
    bytes: file.bytes,
    created_at: file.createdAt,
    filename: file.filename,
    purpose: file.purpose,
    status: 'processed',
  };
}

export function toOpenAIFileList(files: FileRecord[], hasMore: boolean): OpenAIFileList {
  return {
    object: 'list',
    data: files.map(toOpenAIFile),
    // OpenAI's schema requires both as strings, also for an empty page.
    first_id: files[0]?.fileId ?? '',
    last_id: files.at(-1)?.fileId ?? '',
    has_more: hasMore,
  };
}

export function toOpenAIUpload(upload: UploadRecord, file?: FileRecord): OpenAIUpload {
  return {
    id: upload.uploadId,
    object: 'upload',
    bytes: upload.bytes,
    created_at: upload.createdAt,
    expires_at: upload.expiresAt,
    filename: upload.filename,
    purpose: upload.purpose,
    status: upload.status,
    file: file ? toOpenAIFile(file) : null,
  };
}

export function toOpenAIUploadPart(part: UploadPartRecord): OpenAIUploadPart {
  return {
    id: part.partId,
    object: 'upload.part',
    created_at: part.createdAt,
    upload_id: part.uploadId,
  };
}
