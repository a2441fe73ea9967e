/**
 * Stack names read outside the CDK app too (the CLI's doctor), in a module that imports nothing, so
 * the CLI does not load aws-cdk-lib to know them.
 */

/** API Gateway's logging role stack: one per account and region, whichever environments share them. */
export const API_GATEWAY_ACCOUNT_STACK_NAME = 'Tierline-ApiGatewayAccount';
