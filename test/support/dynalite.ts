import type { AddressInfo } from 'node:net';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import dynalite from 'dynalite';
import {
  CustomersRepository,
  createDocumentClient,
} from '../../lambda/customers/customers-repository';
import { ensureCustomersTable, ensureMeteringTable } from '../../local/local-tables';

/** A real DynamoDB engine (dynalite, in memory) on a random loopback port, for one test file. */
export interface LocalDynamo {
  client: DynamoDBClient;
  endpoint: string;
  /** Number of DynamoDB API calls sent through `client` so far. */
  calls(): number;
  stop(): Promise<void>;
}

export async function startDynalite(): Promise<LocalDynamo> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  let count = 0;
  client.middlewareStack.add(
    (next) => async (args) => {
      count += 1;
      return next(args);
    },
    { step: 'initialize', name: 'countCalls' },
  );
  return {
    client,
    endpoint,
    calls: () => count,
    stop: async () => {
      client.destroy();
      await new Promise<void>((resolve, reject) =>
        server.close((error) => (error ? reject(error) : resolve())),
      );
    },
  };
}

/** A table keyed by `pk` and `sk` (strings), on demand: for tests of the storage helpers themselves. */
export async function createKeyedTable(client: DynamoDBClient, TableName: string): Promise<void> {
  await client.send(
    new CreateTableCommand({
      TableName,
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      AttributeDefinitions: [
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
      ],
    }),
  );
}

let tableCounter = 0;

/** A fresh customers table (unique name) and a repository on it. */
export async function newCustomersTable(
  dynamo: LocalDynamo,
): Promise<{ tableName: string; repository: CustomersRepository }> {
  tableCounter += 1;
  const tableName = `customers-${process.pid}-${tableCounter}`;
  await ensureCustomersTable(dynamo.client, tableName);
  return {
    tableName,
    repository: new CustomersRepository(createDocumentClient(dynamo.client), tableName),
  };
}

/** A fresh metering table (unique name) and a document client for it. */
export async function newMeteringTable(
  dynamo: LocalDynamo,
): Promise<{ tableName: string; doc: DynamoDBDocumentClient }> {
  tableCounter += 1;
  const tableName = `metering-${process.pid}-${tableCounter}`;
  await ensureMeteringTable(dynamo.client, tableName);
  return { tableName, doc: createDocumentClient(dynamo.client) };
}

/** A document client on the DynamoDB engine of a running local mode (`local.dynamoEndpoint`), for tests to read. */
export function localModeDocumentClient(endpoint: string): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(
    new DynamoDBClient({
      endpoint,
      region: 'local',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    }),
  );
}
