// s3rver ships no types; this covers the part Tierline uses.
declare module 's3rver' {
  import type { AddressInfo } from 'node:net';

  interface S3rverOptions {
    address?: string;
    port?: number;
    /** Folder the buckets and objects are kept in. */
    directory: string;
    silent?: boolean;
    resetOnClose?: boolean;
    configureBuckets?: { name: string }[];
  }

  class S3rver {
    constructor(options: S3rverOptions);
    run(): Promise<AddressInfo>;
    /** Set by `run()`. */
    httpServer?: import('node:http').Server;
    close(): Promise<void>;
  }
  export = S3rver;
}
