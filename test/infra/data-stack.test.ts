import { Match } from 'aws-cdk-lib/assertions';
import { CUSTOMERS_TABLE } from '../../lambda/customers/customers-table';
import { synthesize } from '../support/synth';

describe('data stack', () => {
  it('holds the customers table: keys from the shared schema, on-demand, PITR, KMS, listing index', () => {
    const { data } = synthesize();

    // customers, metering, files, fine-tuning.
    data.resourceCountIs('AWS::DynamoDB::Table', 4);
    data.hasResourceProperties('AWS::DynamoDB::Table', {
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: [
        { AttributeName: CUSTOMERS_TABLE.partitionKey, KeyType: 'HASH' },
        { AttributeName: CUSTOMERS_TABLE.sortKey, KeyType: 'RANGE' },
      ],
      GlobalSecondaryIndexes: [
        Match.objectLike({ IndexName: CUSTOMERS_TABLE.byCreatedIndex.name }),
      ],
      SSESpecification: { SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: Match.anyValue() },
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
    });
    data.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
  });

  it('deletes development data with its stack', () => {
    const { data, stacks } = synthesize({ env: 'dev' });

    data.allResources('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Delete',
      UpdateReplacePolicy: 'Delete',
    });
    data.allResources('AWS::SQS::Queue', { DeletionPolicy: 'Delete' });
    expect(stacks.data.terminationProtection).toBe(false);
  });

  it('retains production data, protects the table from deletion and the stack from termination', () => {
    const { data, stacks } = synthesize({ env: 'prod' });

    data.allResources('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
      Properties: Match.objectLike({ DeletionProtectionEnabled: true }),
    });
    // Unbilled usage waiting for replay is billing data too.
    data.allResources('AWS::SQS::Queue', { DeletionPolicy: 'Retain' });
    data.hasResource('AWS::KMS::Key', { DeletionPolicy: 'Retain' });
    expect(stacks.data.terminationProtection).toBe(true);
    expect(stacks.api.terminationProtection).toBe(false);
  });
});
