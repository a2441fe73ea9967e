import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import S3rver from 's3rver';

export interface LocalS3 {
  endpoint: string;
  bucket: string;
  stop(): Promise<void>;
}

/**
 * An embedded S3 server (s3rver) on a random loopback port with one bucket, for local mode and
 * tests. The objects live in `directory` (they survive a restart), or in a temporary folder removed
 * at stop. Caveats (TOOLING.md): it does not verify SigV4 signatures, and answers 405 to
 * AbortMultipartUpload.
 */
export async function startLocalS3(options: {
  directory?: string;
  bucket: string;
  /** More buckets on the same server (the fine-tuning bucket beside the files bucket). */
  moreBuckets?: string[];
}): Promise<LocalS3> {
  const temporary = options.directory === undefined;
  const directory = options.directory ?? mkdtempSync(path.join(tmpdir(), 'tierline-s3-'));
  mkdirSync(directory, { recursive: true });
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    directory,
    silent: true,
    configureBuckets: [options.bucket, ...(options.moreBuckets ?? [])].map((name) => ({ name })),
  });
  const { port } = await server.run();
  return {
    endpoint: `http://127.0.0.1:${port}`,
    bucket: options.bucket,
    stop: async () => {
      const closing = server.close();
      // Idle keep-alive sockets (clients that followed a content redirect here) would hold close()
      // open.
      server.httpServer?.closeAllConnections();
      await closing;
      if (temporary) rmSync(directory, { recursive: true, force: true });
    },
  };
}
