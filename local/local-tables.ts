import {
  CreateTableCommand,
  type DynamoDBClient,
  ResourceInUseException,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import { CUSTOMERS_TABLE } from '../lambda/customers/customers-table';
import { FILES_TABLE } from '../lambda/files/files-table';
import { FINE_TUNING_TABLE } from '../lambda/fine-tuning/fine-tuning-table';
import { METERING_TABLE } from '../lambda/metering/metering-table';

/**
 * Creates the tables in a local DynamoDB engine (dynalite) with the same keys and index as the CDK
 * constructs build from {@link CUSTOMERS_TABLE} and {@link METERING_TABLE}. Local mode and tests;
 * never AWS.
 */
export function ensureCustomersTable(client: DynamoDBClient, tableName: string): Promise<void> {
  return ensureTable(
    client,
    tableName,
    CUSTOMERS_TABLE.partitionKey,
    CUSTOMERS_TABLE.sortKey,
    CUSTOMERS_TABLE.byCreatedIndex,
  );
}

/** The metering table, as the CDK construct builds it from {@link METERING_TABLE}. */
export function ensureMeteringTable(client: DynamoDBClient, tableName: string): Promise<void> {
  return ensureTable(
    client,
    tableName,
    METERING_TABLE.partitionKey,
    METERING_TABLE.sortKey,
    METERING_TABLE.byCustomerDayIndex,
  );
}

/** The files table, as the CDK construct builds it from {@link FILES_TABLE}. */
export function ensureFilesTable(client: DynamoDBClient, tableName: string): Promise<void> {
  return ensureTable(
    client,
    tableName,
    FILES_TABLE.partitionKey,
    FILES_TABLE.sortKey,
    FILES_TABLE.byPurposeIndex,
  );
}

/** The fine-tuning table (jobs, events, fine-tuned models), as the CDK construct builds it. */
export function ensureFineTuningTable(client: DynamoDBClient, tableName: string): Promise<void> {
  return ensureTable(
    client,
    tableName,
    FINE_TUNING_TABLE.partitionKey,
    FINE_TUNING_TABLE.sortKey,
    FINE_TUNING_TABLE.byOwnerIndex,
  );
}

async function ensureTable(
  client: DynamoDBClient,
  tableName: string,
  partitionKey: string,
  sortKey: string,
  index: { name: string; partitionKey: string; sortKey: string },
): Promise<void> {
  const byCreatedIndex = index;
  try {
    await client.send(
      new CreateTableCommand({
        TableName: tableName,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [
          partitionKey,
          sortKey,
          byCreatedIndex.partitionKey,
          byCreatedIndex.sortKey,
        ].map((name) => ({ AttributeName: name, AttributeType: 'S' })),
        KeySchema: [
          { AttributeName: partitionKey, KeyType: 'HASH' },
          { AttributeName: sortKey, KeyType: 'RANGE' },
        ],
        GlobalSecondaryIndexes: [
          {
            IndexName: byCreatedIndex.name,
            KeySchema: [
              { AttributeName: byCreatedIndex.partitionKey, KeyType: 'HASH' },
              { AttributeName: byCreatedIndex.sortKey, KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'ALL' },
          },
        ],
      }),
    );
  } catch (error) {
    if (!(error instanceof ResourceInUseException)) throw error;
  }
  await waitUntilTableExists({ client, maxWaitTime: 30, minDelay: 1 }, { TableName: tableName });
}
