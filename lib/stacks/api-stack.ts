import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import { StringParameter } from 'aws-cdk-lib/aws-ssm';
import type { Construct } from 'constructs';
import type { TierlineConfig } from '../config/schema';
import { TierUsagePlans } from '../constructs/api/tier-usage-plans';
import { TierlineApi } from '../constructs/api/tierline-api';
import type { CustomersTable } from '../constructs/customers-table';
import { type OperatorSettings, operatorParameterName } from '../operator-settings';

export interface ApiStackProps extends StackProps {
  readonly config: TierlineConfig;
  readonly customers: CustomersTable;
}

/** The stateless API: functions, REST API, usage plans. Safe to destroy and redeploy. */
export class ApiStack extends Stack {
  public readonly api: TierlineApi;
  public readonly usagePlans: TierUsagePlans;

  constructor(scope: Construct, id: string, props: ApiStackProps) {
    super(scope, id, props);
    const { config } = props;

    this.api = new TierlineApi(this, 'Api', { config, customers: props.customers });
    this.usagePlans = new TierUsagePlans(this, 'UsagePlans', {
      config,
      api: this.api.restApi,
      stage: this.api.restApi.deploymentStage,
    });

    const settings: OperatorSettings = {
      apiId: this.api.restApi.restApiId,
      stageName: this.api.restApi.deploymentStage.stageName,
      openAIBaseUrl: this.api.openAIBaseUrl,
      customersTableName: props.customers.table.tableName,
      usagePlanIds: Object.fromEntries(
        Object.entries(this.usagePlans.plans).map(([tier, plan]) => [tier, plan.usagePlanId]),
      ),
    };
    const parameter = new StringParameter(this, 'OperatorSettings', {
      parameterName: operatorParameterName(config.environment.name),
      description: 'Tierline: what the operator CLI needs to find this deployment',
      stringValue: this.toJsonString(settings),
    });

    new CfnOutput(this, 'OpenAIBaseUrl', {
      value: this.api.openAIBaseUrl,
      description: 'baseURL for the openai client',
    });
    new CfnOutput(this, 'GroqBaseUrl', { value: this.api.groqBaseUrl, description: 'baseURL for the groq-sdk client' });
    new CfnOutput(this, 'OperatorParameter', {
      value: parameter.parameterName,
      description: 'SSM parameter read by `npx tierline --env ...`',
    });
  }
}
