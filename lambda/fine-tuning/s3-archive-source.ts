import { Readable } from 'node:stream';
import { GetObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { ArchiveSource } from './adapter-archive';

/** An adapter archive in S3, read with range GETs (zip) or one streamed GET (tar.gz). */
export async function s3ArchiveSource(
  s3: S3Client,
  bucket: string,
  key: string,
): Promise<ArchiveSource> {
  const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
  const size = head.ContentLength ?? 0;
  const body = async (range?: string) => {
    const { Body } = await s3.send(
      new GetObjectCommand({ Bucket: bucket, Key: key, Range: range }),
    );
    if (!Body) throw new Error(`s3://${bucket}/${key} has no body`);
    return Body as Readable;
  };
  return {
    size,
    read: async (start, end) => {
      if (end <= start) return Buffer.alloc(0);
      const chunks: Buffer[] = [];
      for await (const chunk of await body(`bytes=${start}-${end - 1}`))
        chunks.push(Buffer.from(chunk));
      return Buffer.concat(chunks);
    },
    stream: async () => Readable.from(await body()),
  };
}

/** `s3://bucket/key` split; undefined for anything else. */
export function parseS3Uri(uri: string): { bucket: string; key: string } | undefined {
  const match = /^s3:\/\/([^/]+)\/(.*)$/.exec(uri);
  return match ? { bucket: match[1] ?? '', key: match[2] ?? '' } : undefined;
}
