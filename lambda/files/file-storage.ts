import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  NoSuchKey,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { awsClientOptions } from '../storage/aws-clients';

/**
 * Where file content lives: S3 in AWS, an embedded S3 server (s3rver) in local mode, through the
 * same adapter. Metadata lives in DynamoDB (`files-repository.ts`); keys come from there, never
 * from a client.
 */
export interface FileStorage {
  put(key: string, body: Uint8Array): Promise<void>;
  /** The whole object, or undefined when there is none. */
  get(key: string): Promise<Uint8Array | undefined>;
  /** Bytes `start` to `end` (inclusive) of an object, or undefined when there is none. */
  getRange(key: string, start: number, end: number): Promise<Uint8Array | undefined>;
  /** The object as a stream of chunks, for content too large to hold at once. */
  read(key: string): AsyncIterable<Uint8Array>;
  delete(key: string): Promise<void>;
  /**
   * Writes the concatenation of `chunks` to `key` with an S3 multipart upload, holding at most one
   * part in memory. Throwing from the iterable (a validation failure) leaves no object behind: the
   * multipart upload is never completed, and the bucket's lifecycle rule removes its parts.
   */
  compose(key: string, chunks: AsyncIterable<Uint8Array>): Promise<{ bytes: number }>;
  /** A URL that downloads the object without credentials for `expiresInSeconds`. */
  downloadUrl(key: string, expiresInSeconds: number): Promise<string>;
}

/** Where callers have imported it from; it lives with the table's names (no AWS imports). */
export { FILES_BUCKET_ENV } from './files-table';

/** S3 takes parts of 5 MiB to 5 GiB (all but the last) and at most 10,000 of them. 8 MiB: 200 MB in 25. */
export const COMPOSE_PART_BYTES = 8 * 1024 * 1024;

/**
 * A client with checksums only where S3 requires them: with the SDK's default, streamed bodies are
 * sent with aws-chunked framing and presigned URLs carry the checksum of an empty body
 * (aws-sdk-js-v3 #6994).
 */
export function createS3Client(options: { endpoint?: string; region?: string } = {}): S3Client {
  return new S3Client({
    ...awsClientOptions('s3'),
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    ...(options.endpoint
      ? {
          endpoint: options.endpoint,
          region: options.region ?? 'local',
          forcePathStyle: true,
          credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
        }
      : {}),
  });
}

export class S3FileStorage implements FileStorage {
  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
  ) {}

  async put(key: string, body: Uint8Array): Promise<void> {
    await this.s3.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body }));
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    try {
      const object = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      return object.Body ? await object.Body.transformToByteArray() : new Uint8Array();
    } catch (error) {
      if (error instanceof NoSuchKey) return undefined;
      throw error;
    }
  }

  async getRange(key: string, start: number, end: number): Promise<Uint8Array | undefined> {
    try {
      const object = await this.s3.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: key, Range: `bytes=${start}-${end}` }),
      );
      return object.Body ? await object.Body.transformToByteArray() : new Uint8Array();
    } catch (error) {
      if (error instanceof NoSuchKey) return undefined;
      throw error;
    }
  }

  async *read(key: string): AsyncIterable<Uint8Array> {
    const object = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
    if (!object.Body) return;
    for await (const chunk of object.Body as AsyncIterable<Uint8Array>) yield chunk;
  }

  async delete(key: string): Promise<void> {
    await this.s3.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
  }

  async compose(key: string, chunks: AsyncIterable<Uint8Array>): Promise<{ bytes: number }> {
    const { UploadId } = await this.s3.send(
      new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: key }),
    );
    const parts: { ETag: string; PartNumber: number }[] = [];
    let buffered: Uint8Array[] = [];
    let bufferedBytes = 0;
    let bytes = 0;
    const flush = async () => {
      const PartNumber = parts.length + 1;
      const body = Buffer.concat(buffered, bufferedBytes);
      buffered = [];
      bufferedBytes = 0;
      const { ETag } = await this.s3.send(
        new UploadPartCommand({ Bucket: this.bucket, Key: key, UploadId, PartNumber, Body: body }),
      );
      parts.push({ ETag: ETag ?? '', PartNumber });
    };
    for await (const chunk of chunks) {
      buffered.push(chunk);
      bufferedBytes += chunk.byteLength;
      bytes += chunk.byteLength;
      if (bufferedBytes >= COMPOSE_PART_BYTES) await flush();
    }
    // An empty object still needs one (empty) part.
    if (bufferedBytes > 0 || parts.length === 0) await flush();
    await this.s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: this.bucket,
        Key: key,
        UploadId,
        MultipartUpload: { Parts: parts },
      }),
    );
    return { bytes };
  }

  downloadUrl(key: string, expiresInSeconds: number): Promise<string> {
    return getSignedUrl(this.s3, new GetObjectCommand({ Bucket: this.bucket, Key: key }), {
      expiresIn: expiresInSeconds,
    });
  }
}
