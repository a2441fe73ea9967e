import {
  CopyObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  type S3Client,
} from '@aws-sdk/client-s3';
import { bucketLayout } from './fine-tuning-table';

/**
 * A job's objects in the fine-tuning bucket, as the API sees them: the training inputs it copies
 * there at creation (the training role reads only that bucket's `jobs/<job>/input/`, never the
 * files bucket), and the checkpoints the training script writes (SageMaker syncs
 * `/opt/ml/checkpoints` to `jobs/<job>/checkpoints/`: a folder `checkpoint-<step>` per epoch,
 * complete once its `checkpoint.json` is).
 */

export interface Checkpoint {
  step: number;
  epoch: number;
  metrics: Record<string, number>;
  /** Unix seconds: when its marker was written. */
  createdAt: number;
}

export interface JobStorage {
  /** Copies a customer's file (a key of the files bucket) to `toKey` of the fine-tuning bucket. */
  copyInput(fromKey: string, toKey: string): Promise<void>;
  /** The job's complete checkpoints, by step. */
  checkpoints(jobId: string): Promise<Checkpoint[]>;
}

const MARKER = /checkpoint-(\d+)\/checkpoint\.json$/;

export class S3JobStorage implements JobStorage {
  constructor(
    private readonly options: { s3: S3Client; filesBucket: string; fineTuningBucket: string },
  ) {}

  async copyInput(fromKey: string, toKey: string): Promise<void> {
    const source = `${this.options.filesBucket}/${fromKey.split('/').map(encodeURIComponent).join('/')}`;
    await this.options.s3.send(
      new CopyObjectCommand({
        Bucket: this.options.fineTuningBucket,
        Key: toKey,
        CopySource: source,
      }),
    );
  }

  async checkpoints(jobId: string): Promise<Checkpoint[]> {
    const found: Checkpoint[] = [];
    let ContinuationToken: string | undefined;
    do {
      const page = await this.options.s3.send(
        new ListObjectsV2Command({
          Bucket: this.options.fineTuningBucket,
          Prefix: bucketLayout.checkpointPrefix(jobId),
          ContinuationToken,
        }),
      );
      for (const object of page.Contents ?? []) {
        if (!object.Key || !MARKER.test(object.Key)) continue;
        const marker = await this.readMarker(object.Key);
        if (marker)
          found.push({
            ...marker,
            createdAt: Math.floor((object.LastModified?.getTime() ?? 0) / 1000),
          });
      }
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (ContinuationToken);
    return found.sort((a, b) => a.step - b.step);
  }

  private async readMarker(key: string): Promise<Omit<Checkpoint, 'createdAt'> | undefined> {
    const object = await this.options.s3.send(
      new GetObjectCommand({ Bucket: this.options.fineTuningBucket, Key: key }),
    );
    try {
      const marker = JSON.parse(
        (await object.Body?.transformToString()) ?? '',
      ) as Partial<Checkpoint>;
      if (typeof marker.step !== 'number' || typeof marker.epoch !== 'number') return undefined;
      const metrics = Object.fromEntries(
        Object.entries(marker.metrics ?? {}).filter(([, v]) => typeof v === 'number'),
      ) as Record<string, number>;
      return { step: marker.step, epoch: marker.epoch, metrics };
    } catch {
      return undefined; // a marker being written (the script renames it into place, so this is rare)
    }
  }
}
