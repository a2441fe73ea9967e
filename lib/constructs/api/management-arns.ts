import { Aws } from 'aws-cdk-lib';

/**
 * The ARNs of API Gateway's management API that the functions making or moving customers' keys
 * are granted (sign-up in the API stack, the tier switch in usage billing), built in one place so
 * both grants name the same resources. API Gateway's ARNs have no account
 * (https://docs.aws.amazon.com/apigateway/latest/developerguide/arn-format-reference.html).
 */
export interface ManagementArns {
  /** `GetUsagePlans`; `${usagePlans}/*` is one plan, `${usagePlans}/*\/keys` its keys. */
  readonly usagePlans: string;
  /** `GetApiKeys`, `CreateApiKey`; `${apiKeys}/*` is one key. */
  readonly apiKeys: string;
  /**
   * Every API key's tags resource: `CreateApiKey` with tags is also authorized as a PUT there, the
   * key's ARN URL-encoded after `/tags/`; without it the create is denied however POST is granted.
   */
  readonly apiKeyTags: string;
}

export function managementArns(): ManagementArns {
  const apigateway = `arn:${Aws.PARTITION}:apigateway:${Aws.REGION}::`;
  const encodedKeyArn = [
    encodeURIComponent('arn:'),
    Aws.PARTITION,
    encodeURIComponent(':apigateway:'),
    Aws.REGION,
    encodeURIComponent('::/apikeys/'),
  ].join('');
  return {
    usagePlans: `${apigateway}/usageplans`,
    apiKeys: `${apigateway}/apikeys`,
    apiKeyTags: `${apigateway}/tags/${encodedKeyArn}*`,
  };
}
