import { S3Client } from '@aws-sdk/client-s3';
import { awsEngines } from '../composition/aws-engines';
import { fineTuningWorkflow } from '../composition/fine-tuning';
import { meteringServices } from '../composition/metering';
import { bundledConfig } from '../config';
import { createWorkflowHandler } from '../fine-tuning/workflow-handler';
import { awsClientOptions } from '../storage/aws-clients';

// Created once per execution environment and reused across invocations. Off the request path: the
// SDK's document client; and the SDK's S3 client with its default checksums (the files' client
// sends them only where S3 requires them, for presigned URLs and streamed bodies: file-storage.ts).
const config = bundledConfig();
const engines = awsEngines({
  config,
  documentClient: 'sdk',
  override: { s3: () => new S3Client(awsClientOptions('s3')) },
});

export const handler = createWorkflowHandler(
  fineTuningWorkflow(engines, config, meteringServices(engines, config)),
);
