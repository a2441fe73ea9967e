import * as path from 'node:path';
import { App, type Stack } from 'aws-cdk-lib';
import type { TierlineConfig } from '../config/schema';
import { createApp } from '../create-app';
import type { FixedResources } from './model';

/**
 * Counts what bills by the month in the environment's own templates (KMS keys, alarms, WAF), so the idle
 * cost follows the stacks as they change instead of a number someone has to keep in step.
 * Synthesizes in memory without bundling the functions (about a second), and never touches AWS.
 */
export function countFixedResources(config: TierlineConfig): FixedResources {
  const context: Record<string, unknown> = require(
    path.join(__dirname, '..', '..', 'cdk.json'),
  ).context;
  const app = new App({ context: { ...context, 'aws:cdk:bundling-stacks': [] } });
  const stacks = createApp(app, config);
  const counts = { kmsKeys: 0, alarms: 0, interfaceEndpointAzs: 0, wafWebAcls: 0, wafRules: 0 };
  for (const stack of Object.values(stacks).filter((s): s is Stack => s !== undefined)) {
    const resources = (app.synth().getStackByName(stack.stackName).template.Resources ??
      {}) as Record<
      string,
      {
        Type: string;
        Properties?: { VpcEndpointType?: string; SubnetIds?: unknown[]; Rules?: unknown[] };
      }
    >;
    for (const { Type, Properties } of Object.values(resources)) {
      if (Type === 'AWS::KMS::Key') counts.kmsKeys += 1;
      if (Type === 'AWS::CloudWatch::Alarm') counts.alarms += 1;
      // A web ACL bills by the month, and so does each rule in it.
      if (Type === 'AWS::WAFv2::WebACL') {
        counts.wafWebAcls += 1;
        counts.wafRules += Properties?.Rules?.length ?? 0;
      }
      // An interface endpoint bills per hour in each AZ (subnet) it has a network interface in.
      if (Type === 'AWS::EC2::VPCEndpoint' && Properties?.VpcEndpointType === 'Interface') {
        counts.interfaceEndpointAzs += Properties.SubnetIds?.length ?? 0;
      }
    }
  }
  return counts;
}
