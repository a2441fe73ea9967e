/**
 * How the operator CLI finds a deployment: one SSM parameter per environment, written by the API stack.
 * No CDK imports here: the CLI reads this module too.
 */
export const operatorParameterName = (env: string) => `/tierline/${env}/operator`;

/** The JSON value of the operator parameter. */
export interface OperatorSettings {
  apiId: string;
  stageName: string;
  openAIBaseUrl: string;
  customersTableName: string;
  /** Usage plan id per tier name. */
  usagePlanIds: Record<string, string>;
}
