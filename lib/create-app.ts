import type { App, Environment } from 'aws-cdk-lib';
import { Tags } from 'aws-cdk-lib';
import type { TierlineConfig } from './config/schema';
import {
  API_GATEWAY_ACCOUNT_STACK_NAME,
  ApiGatewayAccountStack,
} from './stacks/api-gateway-account-stack';
import { ApiStack } from './stacks/api-stack';
import { DataStack } from './stacks/data-stack';
import { InferenceStack } from './stacks/inference-stack';

export interface TierlineStacks {
  data: DataStack;
  api: ApiStack;
  /** The GPU endpoints: destroy it on its own to stop their cost; nothing else depends on it. */
  inference: InferenceStack;
  /** API Gateway's account-wide logging role; absent when `environment.manageApiGatewayAccountRole` is false. */
  apiGatewayAccount?: ApiGatewayAccountStack;
}

/**
 * Composes Tierline's stacks for one environment. `bin/app.ts` and the tests both call this. The
 * stacks name the region of `environment.region` or none (region-agnostic: `${AWS::Region}`
 * everywhere, filled in by CloudFormation), and never an account: a known account and region make
 * CDK look up Availability Zones online at synth, and `cdk synth` stays offline.
 */
export function createApp(app: App, config: TierlineConfig): TierlineStacks {
  const env: Environment | undefined = config.environment.region
    ? { region: config.environment.region }
    : undefined;
  const prefix = `Tierline-${config.environment.name}`;
  const data = new DataStack(app, `${prefix}-Data`, {
    config,
    env,
    description: `Tierline ${config.environment.name}: customer data (stateful)`,
  });
  const api = new ApiStack(app, `${prefix}-Api`, {
    config,
    env,
    customers: data.customers,
    metering: data.metering,
    ledgerDeadLetters: data.ledgerDeadLetters,
    files: data.files,
    fineTuning: data.fineTuning,
    consoleUsers: data.consoleUsers,
    description: `Tierline ${config.environment.name}: OpenAI-compatible API (stateless)`,
  });
  let apiGatewayAccount: ApiGatewayAccountStack | undefined;
  if (config.environment.manageApiGatewayAccountRole) {
    apiGatewayAccount = new ApiGatewayAccountStack(app, API_GATEWAY_ACCOUNT_STACK_NAME, {
      env,
      description:
        "Tierline: API Gateway's CloudWatch Logs role, one per account and region (kept when deleted)",
    });
    // The stage logs through the account's role: it must be set before the stage is created.
    api.addStackDependency(apiGatewayAccount);
    Tags.of(apiGatewayAccount).add('project', 'tierline');
  }
  const inference = new InferenceStack(app, `${prefix}-Inference`, {
    config,
    env,
    fineTuning: data.fineTuning,
    description: `Tierline ${config.environment.name}: GPU inference (SageMaker endpoints); destroy to stop GPU cost`,
  });
  for (const stack of [data, api, inference]) {
    Tags.of(stack).add('project', 'tierline');
    Tags.of(stack).add('environment', config.environment.name);
  }
  return { data, api, inference, apiGatewayAccount };
}
