import type { App, Environment } from 'aws-cdk-lib';
import { Tags } from 'aws-cdk-lib';
import type { TierlineConfig } from './config/schema';
import { ApiStack } from './stacks/api-stack';
import { DataStack } from './stacks/data-stack';
import { InferenceStack } from './stacks/inference-stack';

export interface TierlineStacks {
  data: DataStack;
  api: ApiStack;
  /** The GPU endpoints: destroy it on its own to stop their cost; nothing else depends on it. */
  inference: InferenceStack;
}

/** Composes Tierline's stacks for one environment. `bin/app.ts` and the tests both call this. */
export function createApp(app: App, config: TierlineConfig, env?: Environment): TierlineStacks {
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
    description: `Tierline ${config.environment.name}: OpenAI-compatible API (stateless)`,
  });
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
  return { data, api, inference };
}
