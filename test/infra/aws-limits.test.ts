import { UNRESERVED_CONCURRENCY } from '../../lib/config/schema';
import {
  type CfnTemplate,
  functionPolicies,
  NAME_LIMITS,
  offender,
  realistic,
} from '../support/aws-rules';
import { MANAGED_INSTANCES } from '../support/config-variants';
import { synthesize } from '../support/synth';

// Quotas and their sources: test/support/aws-rules.ts.
/** Lambda: "Function resource-based policy: 20 KB" (Lambda quotas). */
const FUNCTION_POLICY_BYTES = 20 * 1024;
/** Headroom: a policy may use three quarters of Lambda's limit, so a few more permissions still deploy. */
const POLICY_HEADROOM = 0.75;
/**
 * CloudFormation: 500 resources per stack. Held at 400 (the Api stack has 298 in dev, 297 in prod,
 * with Responses, the administration API, billing and audio transcriptions, since `/openai/v1`
 * mirrors only the streaming and public families), so a stack that grows is split or slimmed well before
 * CloudFormation refuses it; a route adds about 3 resources (its resource, method and CORS
 * preflight; 6 when mirrored).
 */
const MAX_RESOURCES = 400;
/** CloudFormation: template body from S3 (CDK uploads it): 1 MB; outputs 200; parameters 200. */
const MAX_TEMPLATE_BYTES = 1024 * 1024;
const MAX_OUTPUTS = 200;
const MAX_PARAMETERS = 200;
/** Lambda's default concurrent executions per account and region. */
const DEFAULT_ACCOUNT_CONCURRENCY = 1_000;

describe.each([
  ['dev', undefined],
  ['prod', undefined],
  ['prod with chat on Managed Instances', MANAGED_INSTANCES],
])("AWS's limits on the %s templates", (label, overrides) => {
  const synthesized = synthesize({ env: label.split(' ')[0], overrides });
  // Every stack's, the nested stacks' too (the Free tier's key pool): they are stacks of their own
  // to CloudFormation, with the same limits (named by construct path, as CloudFormation names them).
  const templates = synthesized.templates.map(({ name, template }) => ({
    name,
    template: template as CfnTemplate,
  }));
  const all = templates.flatMap(({ name, template }) =>
    Object.entries(template.Resources).map(([id, resource]) => ({
      stack: name,
      template,
      id,
      resource,
    })),
  );

  it('keeps every function resource-based policy within three quarters of 20 KB (realistic ARNs and ids)', () => {
    const measured: string[] = [];
    const over: string[] = [];
    for (const { name, template } of templates) {
      for (const [fn, policy] of functionPolicies(template, name)) {
        const bytes = Buffer.byteLength(policy);
        measured.push(fn);
        if (bytes > FUNCTION_POLICY_BYTES * POLICY_HEADROOM) {
          over.push(
            `${name}/${fn} (AWS::Lambda::Function): resource-based policy of ${bytes} bytes; Lambda refuses more ` +
              `than ${FUNCTION_POLICY_BYTES}, and this test allows ${FUNCTION_POLICY_BYTES * POLICY_HEADROOM}`,
          );
        }
      }
    }
    expect(measured.length).toBeGreaterThanOrEqual(3); // the authorizer, API and chat functions at least
    expect(over).toEqual([]);
  });

  it(`keeps each stack under ${MAX_RESOURCES} resources, its body under 1 MB, and outputs and parameters within 200`, () => {
    const problems = templates.flatMap(({ name, template }) => {
      const resources = Object.keys(template.Resources).length;
      // CDK writes templates with one space of indentation: this is the size it uploads.
      const bytes = Buffer.byteLength(JSON.stringify(template, undefined, 1));
      const outputs = Object.keys(template.Outputs ?? {}).length;
      const parameters = Object.keys(template.Parameters ?? {}).length;
      return [
        resources >= MAX_RESOURCES &&
          `${name}: ${resources} resources (CloudFormation: 500; this test: < ${MAX_RESOURCES})`,
        bytes >= MAX_TEMPLATE_BYTES &&
          `${name}: template body ${bytes} bytes (CloudFormation: 1 MB)`,
        outputs > MAX_OUTPUTS && `${name}: ${outputs} outputs (CloudFormation: ${MAX_OUTPUTS})`,
        parameters > MAX_PARAMETERS &&
          `${name}: ${parameters} parameters (CloudFormation: ${MAX_PARAMETERS})`,
      ].filter((p): p is string => typeof p === 'string');
    });
    expect(problems).toEqual([]);
  });

  it('gives every explicit name a length the service accepts, with the longest region and an account id', () => {
    const problems: string[] = [];
    let checked = 0;
    for (const { stack, template, id, resource } of all) {
      for (const { property, max } of NAME_LIMITS[resource.Type] ?? []) {
        const value = resource.Properties?.[property];
        if (value === undefined) continue; // CloudFormation generates a name that fits
        checked += 1;
        const name = String(realistic(template, stack, value));
        if (name.length > max) {
          problems.push(
            offender(
              `${stack}/${id}`,
              resource,
              `${property} "${name}" has ${name.length} characters (at most ${max})`,
            ),
          );
        }
      }
    }
    expect(checked).toBeGreaterThan(5);
    expect(problems).toEqual([]);
  });

  it('empties every bucket that is deleted with its stack (CloudFormation deletes only empty buckets)', () => {
    const emptied = new Set(
      all
        .filter(({ resource }) => resource.Type === 'Custom::S3AutoDeleteObjects')
        .map(
          ({ resource }) => (resource.Properties?.BucketName as { Ref?: string } | undefined)?.Ref,
        ),
    );
    const buckets = all.filter(({ resource }) => resource.Type === 'AWS::S3::Bucket');
    const problems = buckets
      // No DeletionPolicy is CloudFormation's Delete.
      .filter(
        ({ resource, id }) =>
          (resource.DeletionPolicy ?? 'Delete') === 'Delete' && !emptied.has(id),
      )
      .map(({ stack, id, resource }) =>
        offender(
          `${stack}/${id}`,
          resource,
          'deleted with its stack but never emptied: the delete fails (BucketNotEmpty)',
        ),
      );
    expect(buckets.length).toBeGreaterThan(0);
    expect(problems).toEqual([]);
  });

  it('gives every alarm an action', () => {
    const alarms = all.filter(({ resource }) => resource.Type === 'AWS::CloudWatch::Alarm');
    const silent = alarms
      .filter(
        ({ resource }) =>
          !((resource.Properties?.AlarmActions as unknown[] | undefined)?.length ?? 0),
      )
      .map(({ stack, id, resource }) =>
        offender(`${stack}/${id}`, resource, 'an alarm with no action notifies nobody'),
      );
    expect(alarms.length).toBeGreaterThan(10);
    expect(silent).toEqual([]);
  });

  it('reserves concurrency for the authorizer and every function API Gateway calls, within the account', () => {
    const functionIn = (uri: unknown): string | undefined =>
      JSON.stringify(uri ?? '').match(/"Fn::GetAtt":\["([A-Za-z0-9]+)","Arn"\]/)?.[1];
    const called = new Map<string, string>();
    for (const { resource } of all) {
      if (resource.Type === 'AWS::ApiGateway::Authorizer') {
        const fn = functionIn(resource.Properties?.AuthorizerUri);
        if (fn) called.set(fn, 'the authorizer: every route waits on it');
      }
      const integration = resource.Properties?.Integration as { Uri?: unknown } | undefined;
      if (resource.Type === 'AWS::ApiGateway::Method' && integration?.Uri) {
        const fn = functionIn(integration.Uri);
        const streams = JSON.stringify(integration.Uri).includes('response-streaming-invocations');
        if (fn && !called.has(fn))
          called.set(fn, streams ? 'streams for up to 15 minutes' : 'serves API routes');
      }
    }
    const problems = [...called].flatMap(([fn, why]) => {
      const entry = all.find(({ id }) => id === fn);
      const p = entry?.resource.Properties ?? {};
      // On Managed Instances the capacity provider's instances bound the function, not account
      // concurrency.
      const bounded =
        p.ReservedConcurrentExecutions !== undefined || p.CapacityProviderConfig !== undefined;
      return bounded
        ? []
        : [
            `${entry?.stack}/${fn} (AWS::Lambda::Function): ${why}, but has no reserved concurrency`,
          ];
    });
    const reserved = all.reduce(
      (sum, { resource }) => sum + Number(resource.Properties?.ReservedConcurrentExecutions ?? 0),
      0,
    );
    // The authorizer, the API and chat functions, and Stripe's webhook.
    expect(called.size).toBe(4);
    expect(problems).toEqual([]);
    expect(reserved).toBeLessThanOrEqual(DEFAULT_ACCOUNT_CONCURRENCY - UNRESERVED_CONCURRENCY);
  });
});
