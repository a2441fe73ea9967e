import {
  CreateTableCommand,
  type DynamoDBClient,
  ResourceInUseException,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import { CUSTOMERS_TABLE } from './customers-table';

/**
 * Creates the customers table in a local DynamoDB engine (dynalite) with the same keys and index as the
 * CDK construct builds from {@link CUSTOMERS_TABLE}. Used by local mode and the tests; never in AWS.
 */
export async function ensureCustomersTable(client: DynamoDBClient, tableName: string): Promise<void> {
  const { partitionKey, sortKey, byCreatedIndex } = CUSTOMERS_TABLE;
  try {
    await client.send(
      new CreateTableCommand({
        TableName: tableName,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [partitionKey, sortKey, byCreatedIndex.partitionKey, byCreatedIndex.sortKey].map(
          (name) => ({ AttributeName: name, AttributeType: 'S' }),
        ),
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
