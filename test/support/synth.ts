import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { loadConfig } from '../../lib/config/load';
import type { TierlineConfig } from '../../lib/config/schema';
import { createApp, type TierlineStacks } from '../../lib/create-app';

// The feature flags of cdk.json, so tests synthesize exactly what `cdk synth` does.
const cdkJsonContext: Record<string, unknown> = require(
  path.join(__dirname, '..', '..', 'cdk.json'),
).context;

export interface SynthesizedApp {
  app: App;
  config: TierlineConfig;
  stacks: TierlineStacks;
  data: Template;
  api: Template;
  inference: Template;
}

/** Synthesizes the whole app for one environment, without bundling the functions (fast). */
export function synthesize(
  options: { env?: string; overrides?: unknown; bundle?: boolean } = {},
): SynthesizedApp {
  const config = loadConfig({ env: options.env ?? 'dev', overrides: options.overrides });
  const app = new App({
    context: { ...cdkJsonContext, ...(options.bundle ? {} : { 'aws:cdk:bundling-stacks': [] }) },
  });
  const stacks = createApp(app, config);
  return {
    app,
    config,
    stacks,
    data: Template.fromStack(stacks.data),
    api: Template.fromStack(stacks.api),
    inference: Template.fromStack(stacks.inference),
  };
}

/**
 * Every statement a role is granted in a template: its inline policies and the managed policies
 * CDK moves a role's statements into once its inline policy is full (`…OverflowPolicy…`).
 */
export function roleStatements(template: Template, roleLogicalId: string) {
  return ['AWS::IAM::Policy', 'AWS::IAM::ManagedPolicy']
    .flatMap((type) => Object.values(template.findResources(type)))
    .filter((p) => JSON.stringify(p.Properties.Roles).includes(roleLogicalId))
    .flatMap(
      (p) =>
        p.Properties.PolicyDocument.Statement as {
          Sid?: string;
          Action: string | string[];
          Resource: unknown;
          Condition?: unknown;
        }[],
    );
}
