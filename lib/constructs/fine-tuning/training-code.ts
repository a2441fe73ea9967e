import { mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Asset } from 'aws-cdk-lib/aws-s3-assets';
import { Construct } from 'constructs';
import { create as createTar } from 'tar';

/** The training script's folder. */
export const TRAINING_DIR = path.join(__dirname, '..', '..', '..', 'training', 'lora');

/** The files SageMaker runs: train.py and the tierline_lora package (not the tests, not caches). */
export function trainingFiles(dir = TRAINING_DIR): string[] {
  const walk = (relative: string): string[] =>
    readdirSync(path.join(dir, relative))
      .sort()
      .flatMap((name) => {
        const child = path.posix.join(relative, name);
        if (name === '__pycache__' || name === 'tests' || name.startsWith('.')) return [];
        return statSync(path.join(dir, child)).isDirectory() ? walk(child) : [child];
      });
  return walk('')
    .map((f) => f.replace(/^\//, ''))
    .filter((f) => f === 'train.py' || f.startsWith('tierline_lora/'));
}

/**
 * `training/lora` as the sourcedir.tar.gz SageMaker's training toolkit extracts
 * (sagemaker_submit_directory). A network-isolated job cannot fetch it itself: it arrives as the
 * `code` input channel, from this asset. Built reproducibly (sorted, portable headers, fixed
 * times), so the asset hash changes only with the code.
 */
export class TrainingCode extends Construct {
  public readonly asset: Asset;
  /** Where the archive lies inside the training container. */
  public readonly containerPath: string;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    const file = path.join(
      mkdtempSync(path.join(tmpdir(), 'tierline-training-')),
      'sourcedir.tar.gz',
    );
    createTar(
      { gzip: true, file, cwd: TRAINING_DIR, sync: true, portable: true, mtime: new Date(0) },
      trainingFiles(),
    );
    this.asset = new Asset(this, 'Asset', { path: file });
    // The channel copies the object under its key's name: `<hash>.tar.gz` at the assets bucket's
    // root.
    this.containerPath = `/opt/ml/input/data/code/${this.asset.s3ObjectKey}`;
  }
}
