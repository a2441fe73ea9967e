import { Template } from 'aws-cdk-lib/assertions';
import { API_GATEWAY_ACCOUNT_STACK_NAME } from '../../lib/stacks/api-gateway-account-stack';
import { synthesize } from '../support/synth';

/**
 * `AWS::ApiGateway::Account` is one setting per account and region (API Gateway's CloudWatch Logs
 * role). An environment's Api stack that owned it would, when destroyed, delete the role every
 * other stage logs through.
 */
describe("API Gateway's account-wide logging role", () => {
  it('is in no environment stack', () => {
    for (const env of ['dev', 'prod']) {
      const { data, api, inference } = synthesize({ env });
      for (const template of [data, api, inference]) {
        template.resourceCountIs('AWS::ApiGateway::Account', 0);
      }
    }
  });

  it('is in one stack of its own, named for no environment, kept when deleted, deployed before the API', () => {
    const { stacks } = synthesize({ env: 'prod' });
    const account = stacks.apiGatewayAccount;
    if (!account) throw new Error('no API Gateway account stack');
    const template = Template.fromStack(account);

    expect(account.stackName).toBe(API_GATEWAY_ACCOUNT_STACK_NAME);
    template.resourceCountIs('AWS::ApiGateway::Account', 1);
    template.hasResource('AWS::ApiGateway::Account', {
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
    template.hasResource('AWS::IAM::Role', {
      DeletionPolicy: 'Retain',
      Properties: {
        AssumeRolePolicyDocument: {
          Statement: [
            {
              Action: 'sts:AssumeRole',
              Effect: 'Allow',
              Principal: { Service: 'apigateway.amazonaws.com' },
            },
          ],
        },
      },
    });
    // The stage logs through the account's role, which must be set first.
    expect(stacks.api.dependencies).toContain(account);
  });

  it('is left out where the account already has one', () => {
    const { stacks } = synthesize({
      env: 'prod',
      overrides: { environment: { manageApiGatewayAccountRole: false } },
    });
    expect(stacks.apiGatewayAccount).toBeUndefined();
    expect(stacks.api.dependencies).toEqual([stacks.data]);
  });
});
