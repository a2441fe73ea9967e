import {
  BatchGetImageCommand,
  DescribeImagesCommand,
  type ImageIdentifier,
} from '@aws-sdk/client-ecr';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { DescribeSecretCommand } from '@aws-sdk/client-secrets-manager';
import type { ModelConfig } from '../../lib/config/schema';
import { s3Weights } from '../../lib/constructs/inference/lmi-container';
import { errorName } from '../operator-errors';
import { type CheckContext, type CheckResult, describeError, isAccessDenied } from './doctor';

/** How long the Hugging Face Hub may take to answer. */
const HUB_TIMEOUT_MS = 10_000;

/**
 * The Secrets Manager secret holding a Hugging Face token for a model, when the config has one.
 * Read by name and type only: the field is optional and may not exist in every version of the
 * schema.
 */
export function hfTokenSecretArn(model: ModelConfig): string | undefined {
  const value = (model as Record<string, unknown>).hfTokenSecretArn;
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/**
 * Weights in S3 must be a folder of Hugging Face files (SageMaker copies the uncompressed prefix
 * into /opt/ml/model): `config.json` and the tensors. A bucket in another region answers
 * PermanentRedirect, and SageMaker reads model data only from its own region.
 */
async function s3WeightsCheck(
  context: CheckContext,
  modelId: string,
  model: ModelConfig,
): Promise<CheckResult> {
  const weights = s3Weights(modelId, model);
  const base = { check: 'model-weights', subject: modelId };
  if (!weights) throw new Error('not S3 weights');
  const keys: string[] = [];
  try {
    let token: string | undefined;
    // A model folder holds tens of files; 10 pages (10,000 keys) is far more than any has.
    for (let page = 0; page < 10; page += 1) {
      const answer = await context.clients.s3.send(
        new ListObjectsV2Command({
          Bucket: weights.bucket,
          Prefix: weights.prefix,
          ContinuationToken: token,
        }),
      );
      keys.push(...(answer.Contents ?? []).map((object) => object.Key ?? ''));
      token = answer.IsTruncated ? answer.NextContinuationToken : undefined;
      if (!token) break;
    }
  } catch (error) {
    const name = errorName(error);
    if (name === 'NoSuchBucket') {
      return {
        ...base,
        status: 'fail',
        message: `Bucket ${weights.bucket} does not exist.`,
        fix: 'Fix `weights` in the config.',
      };
    }
    if (name === 'PermanentRedirect' || name === 'AuthorizationHeaderMalformed') {
      return {
        ...base,
        status: 'fail',
        message: `Bucket ${weights.bucket} is not in ${context.region}; SageMaker reads model data from its own region.`,
        fix: `Copy the weights to a bucket in ${context.region} (aws s3 sync) and point \`weights\` there.`,
      };
    }
    return {
      ...base,
      status: 'warn',
      message: `Could not list ${weights.uri} (${describeError(error)}).`,
      fix: `Check by hand: aws s3 ls ${weights.uri}`,
    };
  }
  const files = keys.map((key) => key.slice(weights.prefix.length));
  if (files.length === 0) {
    return {
      ...base,
      status: 'fail',
      message: `Nothing under ${weights.uri}.`,
      fix: `Upload the model folder: aws s3 sync ./MODEL_DIR ${weights.uri}`,
    };
  }
  const hasConfig = files.includes('config.json');
  const tensors = files.filter((file) => /\.(safetensors|bin)$/.test(file)).length;
  if (!hasConfig || tensors === 0) {
    return {
      ...base,
      status: 'fail',
      message: `${weights.uri} holds ${files.length} object(s) but ${hasConfig ? 'no .safetensors' : 'no config.json'} at its top.`,
      fix: 'Point `weights` at the folder that holds config.json and the *.safetensors files.',
    };
  }
  return {
    ...base,
    status: 'ok',
    message: `${weights.uri}: config.json and ${tensors} tensor file(s)`,
  };
}

/**
 * A Hugging Face id is downloaded by the container at start. The Hub's model API answers `gated`:
 * false, "auto" or "manual" (https://huggingface.co/docs/hub/models-gated); a gated or private
 * repository needs a token of an account that accepted its licence. Anonymous requests for a
 * missing or private repository answer 401 or 404.
 */
async function hubWeightsCheck(
  context: CheckContext,
  modelId: string,
  model: ModelConfig,
): Promise<CheckResult> {
  const base = { check: 'model-weights', subject: modelId };
  const url = `https://huggingface.co/api/models/${model.weights}`;
  let answer: Response;
  try {
    answer = await context.clients.fetch(url, { signal: AbortSignal.timeout(HUB_TIMEOUT_MS) });
  } catch (error) {
    return {
      ...base,
      status: 'warn',
      message: `Could not reach the Hugging Face Hub (${describeError(error)}); the endpoint downloads ${model.weights} from it at start.`,
      fix: `Check ${url} from a browser, or copy the weights to S3 and set \`weights\` to the s3:// folder.`,
    };
  }
  if (answer.status === 401 || answer.status === 404) {
    return {
      ...base,
      status: 'fail',
      message: `Hugging Face has no public model "${model.weights}" (HTTP ${answer.status}).`,
      fix: 'Fix the id in `weights`, or copy the weights to S3 and use the s3:// folder.',
    };
  }
  if (!answer.ok) {
    return {
      ...base,
      status: 'warn',
      message: `The Hub answered HTTP ${answer.status} for ${model.weights}.`,
      fix: `Retry later; check ${url}.`,
    };
  }
  const info = (await answer.json()) as { gated?: unknown; private?: unknown };
  const gated = info.gated === 'auto' || info.gated === 'manual' || info.gated === true;
  if (!gated && info.private !== true) {
    return { ...base, status: 'ok', message: `${model.weights} on Hugging Face, not gated` };
  }
  const secretArn = hfTokenSecretArn(model);
  const why = info.private === true ? 'private' : `gated (${String(info.gated)} approval)`;
  if (!secretArn) {
    return {
      ...base,
      status: 'fail',
      message: `${model.weights} is ${why}: the container cannot download it without a token.`,
      fix:
        'Copy the weights to S3 and set `weights` to the s3:// folder (the endpoint then runs network isolated), ' +
        'or store a token of an account that accepted its licence in Secrets Manager and set `hfTokenSecretArn`.',
    };
  }
  try {
    const secret = await context.clients.secretsManager.send(
      new DescribeSecretCommand({ SecretId: secretArn }),
    );
    if (secret.DeletedDate) {
      return {
        ...base,
        status: 'fail',
        message: `${model.weights} is ${why}; its token secret ${secretArn} is scheduled for deletion.`,
        fix: 'Restore it (aws secretsmanager restore-secret) or point `hfTokenSecretArn` at another.',
      };
    }
    return {
      ...base,
      status: 'ok',
      message: `${model.weights} is ${why}; token secret ${secret.Name ?? secretArn} exists (its account must have accepted the licence)`,
    };
  } catch (error) {
    if (errorName(error) === 'ResourceNotFoundException') {
      return {
        ...base,
        status: 'fail',
        message: `${model.weights} is ${why}; its token secret ${secretArn} does not exist in ${context.region}.`,
        fix: 'Create it (aws secretsmanager create-secret --secret-string hf_...) or fix `hfTokenSecretArn`.',
      };
    }
    return {
      ...base,
      status: 'warn',
      message: `${model.weights} is ${why}; could not check its token secret (${describeError(error)}).`,
      fix: `aws secretsmanager describe-secret --secret-id ${secretArn}`,
    };
  }
}

/** Every model's weights can be fetched by the endpoint that serves it. */
export async function modelWeightsChecks(context: CheckContext): Promise<CheckResult[]> {
  return Promise.all(
    Object.entries(context.config.models).map(([modelId, model]) =>
      model.weights.startsWith('s3://')
        ? s3WeightsCheck(context, modelId, model)
        : hubWeightsCheck(context, modelId, model),
    ),
  );
}

/**
 * AWS Deep Learning Containers live in account 763104351884 in most regions and in a region's own
 * account in these (aws/deep-learning-containers, available_images.md, "Region" table).
 */
export const DLC_ACCOUNTS: Record<string, string> = {
  'af-south-1': '626614931356',
  'ap-east-1': '871362719292',
  'ap-northeast-3': '364406365360',
  'ap-southeast-3': '907027046896',
  'eu-south-1': '692866216735',
  'me-south-1': '217643126080',
  'me-central-1': '914824155844',
  'cn-north-1': '727897471807',
  'cn-northwest-1': '727897471807',
};
export const DEFAULT_DLC_ACCOUNT = '763104351884';

export interface ImageReference {
  uri: string;
  registryId: string;
  region: string;
  repositoryName: string;
  imageId: ImageIdentifier;
}

export function parseImageUri(uri: string): ImageReference | undefined {
  const match =
    /^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?\/([^:@]+)(?::([^@]+))?(?:@(sha256:[0-9a-f]{64}))?$/.exec(
      uri,
    );
  if (!match) return undefined;
  const [, registryId = '', region = '', repositoryName = '', tag, digest] = match;
  const imageId: ImageIdentifier = digest ? { imageDigest: digest } : { imageTag: tag ?? 'latest' };
  return { uri, registryId, region, repositoryName, imageId };
}

/** The images the config deploys: each model's container, and the training image if any model trains. */
export function configImages({
  config,
  region,
}: Pick<CheckContext, 'config' | 'region'>): Map<string, string[]> {
  const images = new Map<string, string[]>();
  const add = (template: string, user: string) => {
    const uri = template.replaceAll('${AWS::Region}', region);
    images.set(uri, [...(images.get(uri) ?? []), user]);
  };
  for (const [modelId, model] of Object.entries(config.models))
    add(model.containerImage, `model ${modelId}`);
  if (Object.values(config.models).some((model) => model.trainingInstanceType)) {
    add(config.fineTuning.training.image, 'fine-tuning jobs');
  }
  return images;
}

/**
 * Whether the image's tag exists, by DescribeImages; the DLC repositories may refuse DescribeImages
 * to other accounts while allowing pulls, so BatchGetImage (a pull's first call) is asked next.
 */
async function imageExists(
  context: CheckContext,
  image: ImageReference,
): Promise<'yes' | 'no' | 'unknown'> {
  const request = {
    registryId: image.registryId,
    repositoryName: image.repositoryName,
    imageIds: [image.imageId],
  };
  try {
    const { imageDetails = [] } = await context.clients.ecr.send(
      new DescribeImagesCommand(request),
    );
    return imageDetails.length > 0 ? 'yes' : 'no';
  } catch (error) {
    if (
      errorName(error) === 'ImageNotFoundException' ||
      errorName(error) === 'RepositoryNotFoundException'
    )
      return 'no';
    if (!isAccessDenied(error)) throw error;
  }
  try {
    const { images = [], failures = [] } = await context.clients.ecr.send(
      new BatchGetImageCommand(request),
    );
    if (images.length > 0) return 'yes';
    return failures.some(
      (f) => f.failureCode === 'ImageNotFound' || f.failureCode === 'ImageTagDoesNotMatchDigest',
    )
      ? 'no'
      : 'unknown';
  } catch (error) {
    if (errorName(error) === 'RepositoryNotFoundException') return 'no';
    if (isAccessDenied(error)) return 'unknown';
    throw error;
  }
}

/** Every container image exists, in the deploy region, in the account that serves that region. */
export async function containerImageChecks(context: CheckContext): Promise<CheckResult[]> {
  const { region } = context;
  const checks = [...configImages(context)].map(async ([uri, users]): Promise<CheckResult> => {
    const base = { check: 'container-image', subject: uri };
    const usedBy = users.join(', ');
    const image = parseImageUri(uri);
    if (!image) {
      return { ...base, status: 'warn', message: `Not an ECR image URI (${usedBy}); not checked.` };
    }
    if (image.region !== region) {
      return {
        ...base,
        status: 'fail',
        message: `The image is in ${image.region}; SageMaker pulls images from the deploy region ${region} only.`,
        fix: 'Write ${AWS::Region} in the image URI, or copy the image to ECR in the deploy region.',
      };
    }
    const dlcAccount = DLC_ACCOUNTS[region];
    if (image.registryId === DEFAULT_DLC_ACCOUNT && dlcAccount) {
      return {
        ...base,
        status: 'fail',
        message: `In ${region} the Deep Learning Containers are in account ${dlcAccount}, not ${DEFAULT_DLC_ACCOUNT}.`,
        fix: `Use ${dlcAccount}.dkr.ecr.${region}... in the config (aws/deep-learning-containers, available_images.md).`,
      };
    }
    try {
      const exists = await imageExists(context, image);
      if (exists === 'yes') return { ...base, status: 'ok', message: `exists (${usedBy})` };
      if (exists === 'no') {
        return {
          ...base,
          status: 'fail',
          message: `No such image in ${image.registryId}/${image.repositoryName} (${usedBy}).`,
          fix: 'Pick a tag that exists in this region (aws/deep-learning-containers, available_images.md).',
        };
      }
    } catch (error) {
      return {
        ...base,
        status: 'warn',
        message: `Unknown (${describeError(error)}).`,
        fix: 'Retry.',
      };
    }
    return {
      ...base,
      status: 'warn',
      message: `Unknown: the registry lets this principal neither describe nor pull it (${usedBy}).`,
      fix:
        `aws ecr get-login-password --region ${region} | docker login --username AWS --password-stdin ` +
        `${image.registryId}.dkr.ecr.${region}.amazonaws.com && docker manifest inspect ${uri}`,
    };
  });
  return Promise.all(checks);
}
