/**
 * How the operator CLI finds a deployment: one SSM parameter per environment, written by the API
 * stack. No CDK imports here: the CLI reads this module too.
 */
export const operatorParameterName = (env: string) => `/tierline/${env}/operator`;

/** The JSON value of the operator parameter. */
export interface OperatorSettings {
  apiId: string;
  stageName: string;
  openAIBaseUrl: string;
  customersTableName: string;
  meteringTableName: string;
  /** The files table and bucket (files, uploads, batches): `customers delete` erases a customer's data there. */
  filesTableName?: string;
  filesBucketName?: string;
  /** SQS queue of usage records that failed to reach the ledger (`usage replay-dead-letters`); AWS only. */
  ledgerDeadLetterQueueUrl?: string;
  /** Usage plan id per tier name. */
  usagePlanIds: Record<string, string>;
}
