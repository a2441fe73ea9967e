import type { S3Client } from '@aws-sdk/client-s3';
import type { FilesConfig } from '../../lib/config/schema';
import type { DocumentClient } from '../storage/document-client';
import { S3FileStorage } from './file-storage';
import { FilesRepository } from './files-repository';
import { FilesService } from './files-service';
import { UploadsService } from './uploads-service';

/** The Files and Uploads services on one table and one bucket; Lambda and local mode build them the same way. */
export function createFiles(options: {
  doc: DocumentClient;
  tableName: string;
  s3: S3Client;
  bucket: string;
  config: FilesConfig;
  now?: () => Date;
}): { files: FilesService; uploads: UploadsService; storage: S3FileStorage } {
  const shared = {
    repository: new FilesRepository(options.doc, options.tableName),
    storage: new S3FileStorage(options.s3, options.bucket),
    config: options.config,
    now: options.now,
  };
  return {
    files: new FilesService(shared),
    uploads: new UploadsService(shared),
    storage: shared.storage,
  };
}
