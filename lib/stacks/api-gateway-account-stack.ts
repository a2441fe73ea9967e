import { RemovalPolicy, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import { CfnAccount } from 'aws-cdk-lib/aws-apigateway';
import { ManagedPolicy, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { Construct, IConstruct } from 'constructs';

export { API_GATEWAY_ACCOUNT_STACK_NAME } from './stack-names';

/**
 * API Gateway's CloudWatch Logs role, an account-wide setting of each region
 * (`AWS::ApiGateway::Account`): the stages' execution logs go through it, and a stage with logging
 * cannot be created while it is unset. It lives here, not in an environment's Api stack, so
 * destroying dev cannot take the role from under prod. Every environment's app synthesizes the same
 * template, so deploying it again changes nothing; its role and setting are retained when the stack
 * is deleted (CloudFormation would otherwise delete the role the setting still names).
 */
export class ApiGatewayAccountStack extends Stack {
  public readonly role: Role;

  constructor(scope: Construct, id: string, props?: StackProps) {
    super(scope, id, props);
    this.role = new Role(this, 'CloudWatchRole', {
      description:
        'API Gateway: writes execution and access logs of every REST API stage in this region',
      assumedBy: new ServicePrincipal('apigateway.amazonaws.com'),
      managedPolicies: [
        ManagedPolicy.fromAwsManagedPolicyName('service-role/AmazonAPIGatewayPushToCloudWatchLogs'),
      ],
    });
    this.role.applyRemovalPolicy(RemovalPolicy.RETAIN);
    const account = new CfnAccount(this, 'Account', { cloudWatchRoleArn: this.role.roleArn });
    account.applyRemovalPolicy(RemovalPolicy.RETAIN);
    // At the role's resource: acknowledgements sit below the stack (test/infra/nag.test.ts).
    Validations.of(this.role.node.defaultChild as IConstruct).acknowledge({
      id: 'AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
      reason:
        "API Gateway's account-level logging role: AWS documents this managed policy for it; it only writes logs.",
    });
  }
}
