import { loadConfig } from '../../../lib/config/load';
import { MAIL_WITH_CONFIGURATION_SET, MANAGED_INSTANCES } from '../../support/config-variants';
import { synthesize } from '../../support/synth';
import type { RolePrincipal } from './runtime-calls';
import { type Check, describeDenial, SimulatedApp } from './simulate';

/**
 * Every AWS call of the runtime table (`runtime-calls.ts`), and every invocation of a function by
 * API Gateway, evaluated with @cloud-copilot/iam-simulate against the policies synthesized for it:
 * the principal's identity policies and the resource's bucket, key, queue, topic or function
 * policy, resolved to concrete ARNs. A denial, implicit or explicit, fails the test of that
 * principal and names the action and the resource.
 */
async function denials(app: SimulatedApp, checks: Check[]): Promise<string[]> {
  const found: string[] = [];
  for (const check of checks) {
    const result = await app.evaluate(check);
    if (result) found.push(describeDenial(check, result));
  }
  return found;
}

const ROLE_PRINCIPALS: RolePrincipal[] = [
  'authorizer',
  'api',
  'chat',
  'batchWorker',
  'aggregator',
  'reconciler',
  'billingSender',
  'billingWebhook',
  'fineTuningTasks',
  'fineTuningEvents',
  'stateMachine',
  'training',
  'inference',
  'vpcFlowLogs',
];

/**
 * Weights kept in S3 and an instance type whose volumes take a customer key (the first model, also
 * trained), and e-mail sent through SES with a configuration set, so the S3-weights, volume-key
 * and SES rows are proved too: no environment's defaults use them.
 */
function weightsInS3(): unknown {
  const [first] = Object.keys(loadConfig({ env: 'dev' }).models);
  return {
    mail: MAIL_WITH_CONFIGURATION_SET,
    models: {
      // Two 16 GB V100s a copy, 16 sequences: what fits an 8B model with its LoRA slots (the
      // synth-time GPU check).
      [first as string]: {
        weights: 's3://tierline-weights/base-model/',
        instanceType: 'ml.p3.8xlarge',
        acceleratorsPerCopy: 2,
        serving: { sequencesPerCopy: 16 },
      },
    },
  };
}

describe.each([
  ['dev', undefined],
  ['prod', undefined],
  ['prod (chat on Managed Instances)', MANAGED_INSTANCES],
  ['dev (weights in S3, volumes under a customer key, mail through SES)', weightsInS3()],
])('IAM simulation of the %s app', (label, overrides) => {
  // One synthesis per environment for the whole file (bundling skipped).
  const app = new SimulatedApp(synthesize({ env: label.split(' ')[0] ?? label, overrides }));
  const rows = app.rows();
  // The flow logs' role exists only where the chat function runs in a VPC (Managed Instances).
  const principals = ROLE_PRINCIPALS.filter(
    (p) => p !== 'vpcFlowLogs' || app.synthesized.stacks.api.api.chatCapacity,
  );
  const services = [
    ...new Set(rows.map((r) => r.principal).filter((p) => p.endsWith('.amazonaws.com'))),
  ];

  it.each(principals)('%s: every runtime call it makes is allowed', async (principal) => {
    const checks = rows.filter((r) => r.principal === principal).flatMap((r) => app.checks(r));
    expect(checks.length).toBeGreaterThan(0);
    expect(await denials(app, checks)).toEqual([]);
  });

  it.each(services)(
    '%s: every call it makes on our resource policies is allowed',
    async (service) => {
      const checks = rows.filter((r) => r.principal === service).flatMap((r) => app.checks(r));
      expect(await denials(app, checks)).toEqual([]);
    },
  );

  it('API Gateway may invoke each function of each method and the authorizer', async () => {
    const checks = app.gatewayChecks();
    // Every Lambda method of both base paths (/v1 and /openai/v1), and the authorizer.
    expect(checks.filter((c) => c.because === 'authorizer')).toHaveLength(1);
    expect(checks.some((c) => c.because.startsWith('POST /v1/chat/completions'))).toBe(true);
    expect(checks.some((c) => c.because.startsWith('POST /openai/v1/chat/completions'))).toBe(true);
    expect(await denials(app, checks)).toEqual([]);
  });

  it('CloudWatch may publish every alarm with a topic action to that topic', async () => {
    const checks = app.alarmChecks();
    expect(checks.length).toBeGreaterThan(0);
    expect(await denials(app, checks)).toEqual([]);
  });

  // The other side: a resolver or simulator that allowed everything would pass every test above.
  it('denies calls no policy grants', async () => {
    const a = app.arns;
    const check = (principal: string, action: string, resource: string, context = {}): Check => ({
      principal,
      action,
      resource,
      context,
      because: 'a call the app must refuse',
    });
    const refused: Check[] = [
      check(app.principalArn('chat'), 'dynamodb:DeleteItem', a.table('customers')),
      check(app.principalArn('authorizer'), 'dynamodb:UpdateItem', a.table('customers'), {
        'dynamodb:LeadingKeys': ['CUSTOMER#cus_1'],
        'dynamodb:Attributes': ['pk', 'sk', 'tier'],
      }),
      check(
        app.principalArn('training'),
        's3:PutObject',
        a.object('fineTuning', 'adapters/cus_1/adapter.tar.gz'),
      ),
      check(app.principalArn('training'), 's3:ListBucket', a.bucket('assets'), {
        's3:prefix': 'other-asset.zip',
      }),
      check(
        app.principalArn('inference'),
        's3:GetObject',
        a.object('fineTuning', 'jobs/ftjob-1/input/training.jsonl'),
      ),
      check(
        app.principalArn('stateMachine'),
        'sagemaker:CreateTrainingJob',
        a.trainingJob('tierline-other-ft-1'),
        {
          'sagemaker:NetworkIsolation': 'true',
        },
      ),
      check('apigateway.amazonaws.com', 'lambda:InvokeFunction', a.function('reconciler'), {
        'aws:SourceArn': 'arn:aws:execute-api:us-east-1:123456789012:abcdefghij/prod/GET/v1/models',
      }),
      check('events.amazonaws.com', 'lambda:InvokeFunction', a.function('api'), {
        'aws:SourceArn': a.rule('reconcileSchedule'),
      }),
      // Only the configured identity: never another one of the account.
      check(
        app.principalArn('api'),
        'ses:SendEmail',
        'arn:aws:ses:us-east-1:123456789012:identity/other.example',
      ),
      check(
        app.principalArn('fineTuningTasks'),
        'ses:SendEmail',
        `arn:aws:ses:us-east-1:123456789012:identity/${MAIL_WITH_CONFIGURATION_SET.identity}`,
      ),
    ];
    for (const request of refused)
      expect([request.action, await app.evaluate(request)]).toEqual([
        request.action,
        expect.stringMatching(/Denied/),
      ]);
  });

  it('has rows for every role the app gives a function, the state machine and SageMaker', () => {
    const tableRoles = new Set(rows.map((r) => r.principal));
    const runtimeRoles = principals
      .filter((p) => tableRoles.has(p))
      .map((p) => app.principalArn(p));
    // Left out: CDK's bucket deployment, bucket auto-delete and default-security-group custom
    // resources (deploy and destroy time only), and two roles that hold only the AWS-managed policy
    // AWS documents for them, which the template cannot show: API Gateway's logging role
    // (AmazonAPIGatewayPushToCloudWatchLogs) and a capacity provider's operator role
    // (AWSLambdaManagedEC2ResourceOperator).
    const notSimulated =
      /CustomCDKBucketDeployment|CustomVpcRestrictDefaultSG|CustomS3AutoDeleteObjects|CloudWatchRole|OperatorRole/;
    const { api, inference } = app.synthesized.stacks;
    const withoutRows = [api.stackName, inference.stackName].flatMap((stack) =>
      Object.entries(app.resolved.template(stack).Resources)
        .filter(([id, r]) => r.Type === 'AWS::IAM::Role' && !notSimulated.test(id))
        .map(([id]) => app.resolved.attr(stack, id, 'Arn'))
        .filter((arn) => !runtimeRoles.includes(arn)),
    );
    expect(withoutRows).toEqual([]);
  });
});
