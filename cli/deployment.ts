import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { APIGatewayClient } from '@aws-sdk/client-api-gateway';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { GetParameterCommand, ParameterNotFound, SSMClient } from '@aws-sdk/client-ssm';
import { OrganizationPeople } from '../lambda/accounts/organization-people';
import { BatchesRepository } from '../lambda/batches/batches-repository';
import { FilesTableEraser } from '../lambda/batches/customer-data';
import {
  CustomersRepository,
  createDocumentClient,
} from '../lambda/customers/customers-repository';
import { createS3Client, S3FileStorage } from '../lambda/files/file-storage';
import { AggregateUpdater } from '../lambda/metering/aggregate-updates';
import { LedgerWriter } from '../lambda/metering/ledger';
import { SpendTracker } from '../lambda/metering/spend';
import { UsageAggregates } from '../lambda/metering/usage-aggregates';
import { UsageReports } from '../lambda/metering/usage-report';
import { loadConfig } from '../lib/config/load';
import { type OperatorSettings, operatorParameterName } from '../lib/operator-settings';
import { ApiGatewayEmulator } from '../local/api-gateway-emulator';
import { connectionFile, type LocalConnection } from '../local/local-mode';
import { FileDeadLetterSource, SqsDeadLetterSource } from './dead-letters';
import { Operator, OperatorError } from './operator';

export interface DeploymentOptions {
  env: string;
  region?: string;
  /** Operate a running local mode (`npm start`) instead of a deployment. */
  local?: boolean;
}

/** Reads what the API stack published about itself; the operator's AWS credentials are used as they are. */
export async function readOperatorSettings(ssm: SSMClient, env: string): Promise<OperatorSettings> {
  const name = operatorParameterName(env);
  try {
    const { Parameter } = await ssm.send(new GetParameterCommand({ Name: name }));
    if (!Parameter?.Value)
      throw new OperatorError(
        `SSM parameter ${name} is empty: redeploy the API stack.`,
        'no_deployment',
      );
    return JSON.parse(Parameter.Value) as OperatorSettings;
  } catch (error) {
    if (
      error instanceof ParameterNotFound ||
      (error instanceof Error && error.name === 'ParameterNotFound')
    ) {
      throw new OperatorError(
        `No Tierline deployment "${env}" found (SSM parameter ${name} is missing in this account and region). ` +
          'Deploy it with "npx cdk deploy --all -c env=' +
          env +
          '", or pass --env and --region (or AWS_REGION) for the right one.',
        'no_deployment',
      );
    }
    throw error;
  }
}

/** The spend items, for setting limits: the operator publishes no spend alerts (requests do). */
function operatorSpend(
  doc: ReturnType<typeof createDocumentClient>,
  tableName: string,
): SpendTracker {
  return new SpendTracker(doc, tableName, {
    publish: () => Promise.reject(new Error('the CLI publishes no alerts')),
  });
}

/** Erases a customer's files, uploads and batches: table items and the bucket's content. */
function customerDataEraser(
  doc: ReturnType<typeof createDocumentClient>,
  tableName: string,
  s3: S3Client,
  bucket: string,
): FilesTableEraser {
  return new FilesTableEraser(
    doc,
    tableName,
    new S3FileStorage(s3, bucket),
    new BatchesRepository(doc, tableName),
  );
}

/** What the operator reads and repairs of the metering table: usage views, spend, aggregates. */
function meteringTools(
  doc: ReturnType<typeof createDocumentClient>,
  tableName: string,
  customers: CustomersRepository,
) {
  const spend = operatorSpend(doc, tableName);
  return {
    spend,
    aggregates: new AggregateUpdater(doc, tableName),
    usageReports: new UsageReports({
      customers,
      aggregates: new UsageAggregates(doc, tableName),
      spend,
      doc,
      tableName,
    }),
  };
}

/** An {@link Operator} on a running local mode: its DynamoDB engine and API Gateway emulation. */
export function connectToLocalMode(
  env: string,
  dataDir = process.env.TIERLINE_DATA_DIR ?? '.local',
): Operator {
  const file = connectionFile(path.resolve(dataDir));
  if (!existsSync(file)) {
    throw new OperatorError(
      `Local mode is not running (no ${file}): start it with "npm start" in another terminal.`,
      'no_deployment',
    );
  }
  const connection = JSON.parse(readFileSync(file, 'utf8')) as LocalConnection;
  const doc = createDocumentClient(
    new DynamoDBClient({
      endpoint: connection.dynamoEndpoint,
      region: 'local',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    }),
  );
  const meteringTable = connection.settings.meteringTableName;
  const { filesTableName, filesBucketName } = connection.settings;
  const customers = new CustomersRepository(doc, connection.settings.customersTableName);
  const aggregates = new AggregateUpdater(doc, meteringTable);
  return new Operator({
    settings: connection.settings,
    config: loadConfig({ env }),
    customers,
    organizationPeople: new OrganizationPeople(doc, connection.settings.customersTableName),
    ...meteringTools(doc, meteringTable, customers),
    apiGateway: new ApiGatewayEmulator(doc).asClient(),
    customerData:
      filesTableName && filesBucketName && connection.s3Endpoint
        ? customerDataEraser(
            doc,
            filesTableName,
            createS3Client({ endpoint: connection.s3Endpoint }),
            filesBucketName,
          )
        : undefined,
    usage: connection.ledgerDeadLettersFile
      ? {
          deadLetters: new FileDeadLetterSource(connection.ledgerDeadLettersFile),
          // Replay never dead-letters again: a record that fails stays in the source.
          ledger: new LedgerWriter(doc, meteringTable, {
            send: () => Promise.reject(new Error('unused')),
          }),
          // Local mode has no table stream to keep the aggregates in step.
          afterWrite: (record) => aggregates.apply(record).then(() => undefined),
        }
      : undefined,
  });
}

/** An {@link Operator} wired to a deployed stack with the AWS SDK (or to local mode with `local`). */
export async function connectToDeployment(options: DeploymentOptions): Promise<Operator> {
  if (options.local) return connectToLocalMode(options.env);
  const region = options.region;
  const settings = await readOperatorSettings(new SSMClient({ region }), options.env);
  const doc = createDocumentClient(new DynamoDBClient({ region }));
  const customers = new CustomersRepository(doc, settings.customersTableName);
  return new Operator({
    settings,
    config: loadConfig({ env: options.env }),
    customers,
    organizationPeople: new OrganizationPeople(doc, settings.customersTableName),
    ...meteringTools(doc, settings.meteringTableName, customers),
    customerData:
      settings.filesTableName && settings.filesBucketName
        ? customerDataEraser(
            doc,
            settings.filesTableName,
            createS3Client({ region }),
            settings.filesBucketName,
          )
        : undefined,
    usage: settings.ledgerDeadLetterQueueUrl
      ? {
          deadLetters: new SqsDeadLetterSource(
            new SQSClient({ region }),
            settings.ledgerDeadLetterQueueUrl,
          ),
          ledger: new LedgerWriter(doc, settings.meteringTableName, {
            send: () => Promise.reject(new Error('unused')),
          }),
        }
      : undefined,
    // API Gateway allows 5 CreateApiKey calls per second per account (not raisable): adaptive retry
    // slows the client down on TooManyRequestsException instead of failing a bulk import.
    apiGateway: new APIGatewayClient({ region, retryMode: 'adaptive', maxAttempts: 10 }),
  });
}
