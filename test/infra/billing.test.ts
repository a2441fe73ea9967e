import { Match } from 'aws-cdk-lib/assertions';
import type { CfnMethod } from 'aws-cdk-lib/aws-apigateway';
import { STRIPE_SECRET_ENV } from '../../lambda/billing/stripe-settings';
import { USAGE_PLANS_ENV } from '../../lambda/customers/tier-switch';
import { METERING_TABLE_ENV } from '../../lambda/metering/metering-table';
import {
  BILLING_METRICS_NAMESPACE,
  BILLING_WEBHOOK_PATH,
  WEBHOOK_RESERVED_CONCURRENCY,
} from '../../lib/constructs/billing/usage-billing';
import { synthesize } from '../support/synth';

describe('billing infrastructure', () => {
  const { api, stacks } = synthesize();
  const billing = stacks.api.billing;
  const logicalId = (construct: { node: { defaultChild?: unknown } }) =>
    stacks.api.getLogicalId(construct.node.defaultChild as never);
  const senderId = logicalId(billing.sender.function);
  const secretId = stacks.api.getLogicalId(billing.stripeSecret.node.defaultChild as never);

  it("serves Stripe's webhook at POST /v1/billing/webhook without key or authorizer, on its own function", () => {
    const webhookId = logicalId(billing.webhook.function);
    const method = stacks.api.api.restApi.methods.find(
      (m) => m.resource.path === BILLING_WEBHOOK_PATH && m.httpMethod !== 'OPTIONS',
    );
    expect(method?.httpMethod).toBe('POST');
    const cfn = method?.node.defaultChild as CfnMethod;
    expect(cfn.authorizationType).toBe('NONE');
    expect(cfn.apiKeyRequired ?? false).toBe(false);
    expect(JSON.stringify(stacks.api.resolve(cfn.integration))).toContain(webhookId);
    api.hasResourceProperties('AWS::Lambda::Function', {
      ReservedConcurrentExecutions: WEBHOOK_RESERVED_CONCURRENCY,
      Environment: {
        Variables: Match.objectLike({
          [STRIPE_SECRET_ENV]: { Ref: secretId },
          [USAGE_PLANS_ENV]: Match.anyValue(),
        }),
      },
    });
    // The tier switch: the key moved between usage plans.
    const policies = JSON.stringify(api.findResources('AWS::IAM::Policy'));
    for (const action of ['apigateway:POST', 'apigateway:DELETE', 'apigateway:GET']) {
      expect(policies).toContain(action);
    }
  });

  it('runs the sender every hour at minute 25, after the previous hour closed', () => {
    api.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'cron(25 * * * ? *)',
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [senderId, 'Arn'] } })],
    });
  });

  it('gives the sender the metering table and the Stripe secret, KMS-encrypted, by name', () => {
    api.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          [METERING_TABLE_ENV]: Match.anyValue(),
          [STRIPE_SECRET_ENV]: { Ref: secretId },
        }),
      },
    });
    api.hasResourceProperties('AWS::SecretsManager::Secret', {
      KmsKeyId: Match.anyValue(),
    });
    api.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: Match.arrayWith(['secretsmanager:GetSecretValue']),
            Resource: { Ref: secretId },
          }),
        ]),
      },
    });
  });

  it('alarms on a failed run, on usage found after its hour was sent, on a stale pending event', () => {
    api.hasResourceProperties('AWS::Logs::MetricFilter', {
      FilterPattern: '{ $.billingDifferenceMicroUsd > 0 }',
      MetricTransformations: [
        Match.objectLike({
          MetricNamespace: BILLING_METRICS_NAMESPACE,
          MetricName: 'UsageDifferenceMicroUsd',
          MetricValue: '$.billingDifferenceMicroUsd',
        }),
      ],
    });
    api.hasResourceProperties('AWS::Logs::MetricFilter', {
      FilterPattern: '{ $.billingStalePending = 1 }',
    });
    for (const metric of ['UsageDifferenceMicroUsd', 'StalePendingEvents']) {
      api.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: BILLING_METRICS_NAMESPACE,
        MetricName: metric,
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
        AlarmActions: [Match.anyValue()],
      });
    }
    api.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'Errors',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: senderId } }],
      AlarmActions: [Match.anyValue()],
    });
  });
});
