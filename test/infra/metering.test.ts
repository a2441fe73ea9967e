import { Match } from 'aws-cdk-lib/assertions';
import { METERING_TABLE } from '../../lambda/metering/metering-table';
import { MAX_REQUEST_MS } from '../../lambda/metering/reservations';
import { SPEND_ALERT_DETAIL_TYPE } from '../../lambda/metering/spend-alerts';
import { synthesize } from '../support/synth';

describe('metering infrastructure', () => {
  const { data, api, stacks } = synthesize();
  const logicalId = (construct: { node: { defaultChild?: unknown } }, stack = stacks.api) =>
    stack.getLogicalId(construct.node.defaultChild as never);

  it('keeps counters, spend, ledger and aggregates in one encrypted table whose stream carries new images', () => {
    data.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [
        { AttributeName: METERING_TABLE.partitionKey, KeyType: 'HASH' },
        { AttributeName: METERING_TABLE.sortKey, KeyType: 'RANGE' },
      ],
      GlobalSecondaryIndexes: [
        Match.objectLike({ IndexName: METERING_TABLE.byCustomerDayIndex.name }),
      ],
      StreamSpecification: { StreamViewType: 'NEW_IMAGE' },
      SSESpecification: { SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: Match.anyValue() },
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
    });
  });

  it('feeds only new ledger records to the aggregator, with partial batch failures and a failure queue', () => {
    api.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: logicalId(stacks.api.usageMetering.aggregator.function) },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      BisectBatchOnFunctionError: true,
      StartingPosition: 'TRIM_HORIZON',
      DestinationConfig: { OnFailure: { Destination: Match.anyValue() } },
      FilterCriteria: {
        Filters: [
          {
            Pattern: JSON.stringify({
              eventName: ['INSERT'],
              dynamodb: { Keys: { pk: { S: [{ prefix: 'REQ#' }] } } },
            }),
          },
        ],
      },
    });
  });

  it('alarms on the failure queue of the aggregator and the spend alerts, to the operator topic', () => {
    const mapping = Object.values(api.findResources('AWS::Lambda::EventSourceMapping')).find(
      (m) => m.Properties.DestinationConfig?.OnFailure,
    );
    const failuresQueue =
      mapping?.Properties.DestinationConfig.OnFailure.Destination['Fn::GetAtt'][0];
    expect(failuresQueue).toEqual(expect.any(String));
    api.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Namespace: 'AWS/SQS',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [failuresQueue, 'QueueName'] } }],
      AlarmActions: [{ Ref: logicalId(stacks.api.usageMetering.notifications) }],
    });
  });

  it('alarms on unbilled usage in the ledger dead-letter queue, to the operator topic', () => {
    api.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Namespace: 'AWS/SQS',
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      AlarmActions: [{ Ref: logicalId(stacks.api.usageMetering.notifications) }],
    });
  });

  it('forwards spend alerts from EventBridge to the operator topic', () => {
    api.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: { source: ['tierline.dev'], 'detail-type': [SPEND_ALERT_DETAIL_TYPE] },
      Targets: [
        Match.objectLike({
          Arn: { Ref: logicalId(stacks.api.usageMetering.notifications) },
          DeadLetterConfig: { Arn: Match.anyValue() },
        }),
      ],
    });
  });

  it('gives both API functions the metering table, the dead-letter queue and the event bus, with their names', () => {
    for (const handler of [stacks.api.api.apiFunction, stacks.api.api.chatFunction]) {
      api.hasResourceProperties('AWS::Lambda::Function', {
        FunctionName: Match.absent(),
        Role: { 'Fn::GetAtt': [logicalId(handler.role), 'Arn'] },
        Environment: {
          Variables: Match.objectLike({
            METERING_TABLE_NAME: Match.anyValue(),
            LEDGER_DEAD_LETTER_QUEUE_URL: Match.anyValue(),
            TIERLINE_EVENT_SOURCE: 'tierline.dev',
          }),
        },
      });
      const statements = Object.values(
        api.findResources('AWS::IAM::Policy', {
          Properties: { Roles: [{ Ref: logicalId(handler.role) }] },
        }),
      ).flatMap((policy) => policy.Properties.PolicyDocument.Statement);
      const actions = statements.flatMap((s: { Action: string | string[] }) => [s.Action].flat());
      expect(actions).toEqual(
        expect.arrayContaining([
          'dynamodb:UpdateItem',
          'dynamodb:PutItem',
          'dynamodb:Query',
          'sqs:SendMessage',
          'events:PutEvents',
        ]),
      );
      expect(actions).not.toContain('dynamodb:*');
    }
  });

  it('runs the reservation reconciler every minute, alarmed, with only the table calls it makes', () => {
    const reconciler = stacks.api.usageMetering.reconciler;
    api.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 minute)',
      Targets: [
        Match.objectLike({
          Arn: { 'Fn::GetAtt': [logicalId(reconciler.function), 'Arn'] },
          RetryPolicy: { MaximumRetryAttempts: 0 },
        }),
      ],
    });
    api.hasResourceProperties('AWS::Lambda::Function', {
      Role: { 'Fn::GetAtt': [logicalId(reconciler.role), 'Arn'] },
      Timeout: 55,
      Environment: { Variables: Match.objectLike({ METERING_TABLE_NAME: Match.anyValue() }) },
    });
    api.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'Errors',
      Namespace: 'AWS/Lambda',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: logicalId(reconciler.function) } }],
      AlarmActions: [{ Ref: logicalId(stacks.api.usageMetering.notifications) }],
    });
    const statements = Object.values(
      api.findResources('AWS::IAM::Policy', {
        Properties: { Roles: [{ Ref: logicalId(reconciler.role) }] },
      }),
    ).flatMap((policy) => policy.Properties.PolicyDocument.Statement);
    const dynamo = statements.filter((s: { Action: string | string[] }) =>
      [s.Action].flat().some((action) => action.startsWith('dynamodb:')),
    );
    // Item calls on the table only; Query on the index only; no Scan, no wildcard.
    expect(dynamo.map((s: { Action: string | string[] }) => [s.Action].flat().sort())).toEqual([
      ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
      ['dynamodb:Query'],
    ]);
    expect(JSON.stringify(dynamo[1].Resource)).toContain('/index/byCustomerDay');
    expect(JSON.stringify(dynamo[0].Resource)).not.toContain('/index/');
  });

  it('lets the chat function run no longer than the reconciler assumes', () => {
    api.hasResourceProperties('AWS::Lambda::Function', {
      Role: { 'Fn::GetAtt': [logicalId(stacks.api.api.chatFunction.role), 'Arn'] },
      Timeout: MAX_REQUEST_MS / 1000,
    });
  });
});
