import { Stack } from 'aws-cdk-lib';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import {
  FINE_TUNING_BUCKET_ENV,
  FINE_TUNING_TABLE,
  FINE_TUNING_TABLE_ENV,
} from '../../../lambda/fine-tuning/fine-tuning-table';
import { adapterComponentPrefix } from '../../../lambda/fine-tuning/sagemaker-names';
import { endpointName } from '../../../lambda/inference/backends/sagemaker-names';
import type { TierlineConfig } from '../../config/schema';
import type { FineTuningStore } from './fine-tuning-store';
import { acknowledgeWildcards } from './nag-ids';

export interface AdapterServingProps {
  readonly config: TierlineConfig;
  readonly store: FineTuningStore;
  /** Registers, lists and deletes adapters (`/v1/fine_tunings`, `/v1/models`). */
  readonly apiFunction: LambdaFunction;
  /** Resolves `ft:` models in chat completions. */
  readonly chatFunction: LambdaFunction;
  /** Runs batch lines that name `ft:` models: lists the owner's models (Query on the owner index). */
  readonly batchWorker: LambdaFunction;
}

/**
 * What serving fine-tuned models needs, granted to exactly the functions that do it:
 * - the API function registers uploaded adapters: it writes model records, puts the repackaged
 *   adapter under `adapters/` of the fine-tuning bucket, and creates, describes and deletes this
 *   environment's adapter components (`tierline-<env>-lora-*`) on the base models' endpoints;
 * - the chat function reads a model record (one GetItem) and, while it is deploying, describes its
 *   component and records the status it finds (UpdateItem): no writes beyond that, no other
 *   SageMaker action;
 * - the batch worker lists a batch owner's models (Query on the owner index), nothing else.
 */
export function grantAdapterServing(props: AdapterServingProps): void {
  const { config, store } = props;
  const env = config.environment.name;
  const stack = Stack.of(props.apiFunction);
  const table = store.table;
  const index = `${table.tableArn}/index/${FINE_TUNING_TABLE.byOwnerIndex.name}`;
  const adapterComponents = stack.formatArn({
    service: 'sagemaker',
    resource: 'inference-component',
    resourceName: `${adapterComponentPrefix(env)}*`,
  });
  const baseEndpoints = Object.entries(config.models)
    .filter(([, model]) => model.architecture)
    .map(([id]) =>
      stack.formatArn({
        service: 'sagemaker',
        resource: 'endpoint',
        resourceName: endpointName(env, id).toLowerCase(),
      }),
    );
  const adapterObjects = stack.formatArn({
    service: 's3',
    region: '',
    account: '',
    resource: store.bucketName,
    resourceName: 'adapters/*',
  });
  const tableKey = new PolicyStatement({
    actions: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey'],
    resources: [store.encryptionKey.keyArn],
  });

  const api = props.apiFunction;
  api.addEnvironment(FINE_TUNING_TABLE_ENV, table.tableName);
  api.addEnvironment(FINE_TUNING_BUCKET_ENV, store.bucketName);
  api.addToRolePolicy(
    new PolicyStatement({
      actions: [
        'dynamodb:GetItem',
        'dynamodb:PutItem',
        'dynamodb:UpdateItem',
        'dynamodb:DeleteItem',
        'dynamodb:Query',
      ],
      resources: [table.tableArn, index],
    }),
  );
  api.addToRolePolicy(tableKey);
  api.addToRolePolicy(
    new PolicyStatement({
      actions: ['s3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload'],
      resources: [adapterObjects],
    }),
  );
  api.addToRolePolicy(
    new PolicyStatement({
      actions: [
        'sagemaker:CreateInferenceComponent',
        'sagemaker:DescribeInferenceComponent',
        'sagemaker:DeleteInferenceComponent',
        'sagemaker:AddTags',
      ],
      // An adapter component is created on its base model's endpoint.
      resources: [adapterComponents, ...baseEndpoints],
    }),
  );

  const chat = props.chatFunction;
  chat.addEnvironment(FINE_TUNING_TABLE_ENV, table.tableName);
  chat.addToRolePolicy(
    new PolicyStatement({
      actions: ['dynamodb:GetItem', 'dynamodb:UpdateItem'],
      resources: [table.tableArn],
    }),
  );
  chat.addToRolePolicy(tableKey);
  chat.addToRolePolicy(
    new PolicyStatement({
      actions: ['sagemaker:DescribeInferenceComponent'],
      resources: [adapterComponents],
    }),
  );

  const worker = props.batchWorker;
  worker.addEnvironment(FINE_TUNING_TABLE_ENV, table.tableName);
  worker.addToRolePolicy(new PolicyStatement({ actions: ['dynamodb:Query'], resources: [index] }));
  worker.addToRolePolicy(
    new PolicyStatement({ actions: ['kms:Decrypt'], resources: [store.encryptionKey.keyArn] }),
  );

  for (const fn of [api, chat]) {
    if (!fn.role) continue;
    acknowledgeWildcards(
      fn.role,
      fn === api ? [adapterObjects, adapterComponents] : [adapterComponents],
      'Per-customer objects created at run time: repackaged adapters under adapters/ of the fine-tuning bucket, ' +
        "and this environment's adapter components (tierline-<env>-lora-*).",
    );
  }
}
