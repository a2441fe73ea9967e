import { runSimulation } from '@cloud-copilot/iam-simulate';
import type { SynthesizedApp } from '../../support/synth';
import { appArns } from './app-arns';
import { EncryptionKeys } from './encryption';
import { gatewayInvocations } from './gateway-invocations';
import { ACCOUNT, ResolvedApp } from './resolved-app';
import {
  type Principal,
  type RolePrincipal,
  RUNTIME_CALLS,
  type RuntimeCall,
} from './runtime-calls';
import { SynthesizedPolicies } from './synthesized-policies';

/** One request to evaluate: who, what, on which ARN, with what context, and why it is made. */
export interface Check {
  principal: string;
  action: string;
  resource: string;
  context: Record<string, string | string[]>;
  because: string;
}

const SERVICE = /\.amazonaws\.com$/;

/** The synthesized app, resolved, with its policies and ARNs: what every check runs against. */
export class SimulatedApp {
  public readonly resolved: ResolvedApp;
  public readonly policies: SynthesizedPolicies;
  public readonly arns: ReturnType<typeof appArns>;
  private readonly keys: EncryptionKeys;

  constructor(public readonly synthesized: SynthesizedApp) {
    const { stacks } = synthesized;
    this.resolved = new ResolvedApp({
      [stacks.data.stackName]: synthesized.data.toJSON(),
      [stacks.api.stackName]: synthesized.api.toJSON(),
      [stacks.inference.stackName]: synthesized.inference.toJSON(),
    });
    this.policies = new SynthesizedPolicies(this.resolved);
    this.arns = appArns(synthesized, this.resolved);
    this.keys = new EncryptionKeys(this.resolved);
  }

  /** The table's rows that apply to this app's configuration. */
  public rows(): RuntimeCall[] {
    return RUNTIME_CALLS.filter((row) => !row.when || row.when(this.synthesized.config));
  }

  /** A row as requests: one per resource, plus the KMS calls AWS makes for it on an encrypted resource. */
  public checks(row: RuntimeCall): Check[] {
    const principal = this.principalArn(row.principal);
    const context = row.context?.(this.arns) ?? {};
    const because = row.sources.join(', ');
    const resources = row.resources(this.arns);
    // A row that applies but names nothing would pass without proving anything.
    if (resources.length === 0)
      throw new Error(`${row.principal} ${row.action} (${because}): no resource in this app`);
    return resources.flatMap((resource) => [
      { principal, action: row.action, resource, context, because },
      ...this.keys.kmsCalls(row.action, resource).map((kms) => ({
        principal,
        action: kms.action,
        resource: kms.keyArn,
        context: { ...kms.context, ...(SERVICE.test(principal) ? pickSource(context) : {}) },
        because: `${row.action} on ${resource} (encrypted with this key)`,
      })),
    ]);
  }

  /** API Gateway invoking the functions, one check per method and for the authorizer. */
  public gatewayChecks(): Check[] {
    return gatewayInvocations(this.resolved, this.synthesized.stacks.api.stackName).map(
      (invocation) => ({
        principal: 'apigateway.amazonaws.com',
        action: 'lambda:InvokeFunction',
        resource: invocation.functionArn,
        context: { 'aws:SourceArn': invocation.sourceArn, 'aws:SourceAccount': ACCOUNT },
        because: invocation.route,
      }),
    );
  }

  /**
   * CloudWatch publishing each alarm's notifications: an alarm action on an SNS topic is a publish
   * by cloudwatch.amazonaws.com with the alarm as source, which the topic policy and, for an
   * encrypted topic, the key policy must allow (AWS Knowledge Center, "Why didn't I receive an SNS
   * notification for my CloudWatch alarm trigger?": "Resource: arn:aws:cloudwatch:...:alarm:... is
   * not authorized to perform: SNS:Publish").
   */
  public alarmChecks(): Check[] {
    return this.resolved.stackNames.flatMap((stackName) =>
      Object.entries(this.resolved.template(stackName).Resources)
        .filter(([, r]) => r.Type === 'AWS::CloudWatch::Alarm')
        .flatMap(([logicalId, r]) => {
          const props = this.resolved.resolve(stackName, r.Properties ?? {}) as Record<
            string,
            unknown
          >;
          const topics = ['AlarmActions', 'OKActions', 'InsufficientDataActions']
            .flatMap((key) => (props[key] as string[] | undefined) ?? [])
            .filter((action) => action.startsWith('arn:aws:sns:'));
          const alarm = this.resolved.attr(stackName, logicalId, 'Arn');
          const context = { 'aws:SourceArn': alarm, 'aws:SourceAccount': ACCOUNT };
          return [...new Set(topics)].flatMap((topic) => [
            {
              principal: 'cloudwatch.amazonaws.com',
              action: 'sns:Publish',
              resource: topic,
              context,
              because: `alarm ${alarm}`,
            },
            ...this.keys.kmsCalls('sns:Publish', topic).map((kms) => ({
              principal: 'cloudwatch.amazonaws.com',
              action: kms.action,
              resource: kms.keyArn,
              context: { ...kms.context, ...context },
              because: `alarm ${alarm} (the topic is encrypted with this key)`,
            })),
          ]);
        }),
    );
  }

  public principalArn(principal: Principal): string {
    return SERVICE.test(principal) ? principal : this.arns.roleArn(principal as RolePrincipal);
  }

  /**
   * Evaluates one request against the synthesized identity policies of the principal (none for an
   * AWS service) and the resource-based policy of the resource, as IAM would for a same-account
   * request over TLS. Returns undefined when allowed, else what denied it.
   */
  public async evaluate(check: Check): Promise<string | undefined> {
    const isService = SERVICE.test(check.principal);
    const identity = isService ? undefined : this.policies.identity(check.principal);
    if (identity && identity.awsManaged.length > 0) {
      return `rests on AWS-managed policies whose documents are not in the template: ${identity.awsManaged.join(', ')}`;
    }
    const response = await runSimulation(
      {
        request: {
          principal: check.principal,
          action: check.action,
          resource: { resource: check.resource, accountId: ACCOUNT },
          contextVariables: { 'aws:SecureTransport': 'true', ...check.context },
        },
        identityPolicies: identity?.policies ?? [],
        serviceControlPolicies: [],
        resourceControlPolicies: [],
        resourcePolicy: this.policies.resourcePolicy(check.resource),
      },
      {},
    );
    if (response.resultType === 'error')
      return `simulation error: ${JSON.stringify(response.errors)}`;
    return response.overallResult === 'Allowed' ? undefined : response.overallResult;
  }
}

/** The source of a service's request travels with the KMS calls it makes (aws:SourceArn in key policies). */
function pickSource(context: Record<string, string | string[]>): Record<string, string | string[]> {
  return Object.fromEntries(
    Object.entries(context).filter(([key]) => key.startsWith('aws:Source')),
  );
}

/** `principal action resource: result (because)`, the line a failure prints. */
export function describeDenial(check: Check, result: string): string {
  return `${check.principal} ${check.action} ${check.resource}: ${result} (needed by ${check.because})`;
}
