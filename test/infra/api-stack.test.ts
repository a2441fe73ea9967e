import { Match } from 'aws-cdk-lib/assertions';
import type { CfnMethod } from 'aws-cdk-lib/aws-apigateway';
import { NOT_DEPLOYED, tierlineOpenApiDocument } from '../../lambda/http/openapi/document';
import { TIER_NAMES } from '../../lib/config/schema';
import { ADMINISTRATION_PREFIX } from '../../lib/constructs/api/document-routes';
import { OPENAI_GATEWAY_RESPONSES } from '../../lib/constructs/api/gateway-responses';
import { BILLING_WEBHOOK_PATH } from '../../lib/constructs/billing/usage-billing';
import { TierlineFunction } from '../../lib/constructs/tierline-function';
import { operatorParameterName } from '../../lib/operator-settings';
import { synthesize } from '../support/synth';

describe('API stack', () => {
  const { api, config, stacks } = synthesize();

  it('has exactly one usage plan per tier, with the throttle and quota of the config', () => {
    // One per tier, and the console sessions' plan (test/infra/console-users.test.ts).
    api.resourceCountIs('AWS::ApiGateway::UsagePlan', TIER_NAMES.length + 1);
    for (const tier of TIER_NAMES) {
      const { edge } = config.tiers[tier];
      api.hasResourceProperties('AWS::ApiGateway::UsagePlan', {
        UsagePlanName: `tierline-dev-${tier}`,
        Throttle: { RateLimit: edge.rateLimit, BurstLimit: edge.burstLimit },
        Quota: edge.quota ? { Limit: edge.quota.limit, Period: edge.quota.period } : Match.absent(),
        ApiStages: [Match.objectLike({ Stage: Match.anyValue(), ApiId: Match.anyValue() })],
      });
    }
  });

  it('takes the usage-plan key from the authorizer, a REQUEST authorizer on Authorization with the configured TTL', () => {
    api.hasResourceProperties('AWS::ApiGateway::RestApi', {
      ApiKeySourceType: 'AUTHORIZER',
      EndpointConfiguration: { Types: ['REGIONAL'] },
    });
    api.resourceCountIs('AWS::ApiGateway::Authorizer', 1);
    api.hasResourceProperties('AWS::ApiGateway::Authorizer', {
      Type: 'REQUEST',
      IdentitySource: 'method.request.header.Authorization',
      AuthorizerResultTtlInSeconds: config.environment.authorizerCacheTtlSeconds,
      AuthorizerUri: Match.anyValue(),
    });
  });

  it('deploys every operation of /openapi.json under /v1, and under /openai/v1 the streaming and public families (unless x-v1-only), public ones without a key', () => {
    // Stripe's webhook is outside the OpenAI API (its own test below).
    const methods = stacks.api.api.restApi.methods.filter(
      (m) => m.httpMethod !== 'OPTIONS' && m.resource.path !== BILLING_WEBHOOK_PATH,
    );
    const deployed = methods.map((m) => {
      const cfn = m.node.defaultChild as CfnMethod;
      return {
        route: `${m.httpMethod} ${m.resource.path}`,
        auth: cfn.authorizationType,
        keyRequired: cfn.apiKeyRequired ?? false,
        validator: cfn.requestValidatorId !== undefined,
      };
    });
    type Operation = {
      security?: unknown[];
      'x-v1-only'?: boolean;
      [NOT_DEPLOYED]?: string;
      responses?: Record<string, { content?: Record<string, unknown> }>;
    };
    const paths = tierlineOpenApiDocument(config).paths as Record<
      string,
      Record<string, Operation>
    >;
    const isPublic = (op: Operation) => Array.isArray(op.security) && op.security.length === 0;
    const streams = (op: Operation) =>
      Object.values(op.responses ?? {}).some((r) => r.content?.['text/event-stream']);
    const family = (path: string) => path.split('/')[2];
    // groq-sdk's prefix: a family with a streaming or public operation resource by resource, the
    // rest through `ANY /openai/v1/{proxy+}`.
    const mirroredFamilies = new Set(
      Object.entries(paths)
        .filter(([, operations]) =>
          Object.values(operations).some((op) => isPublic(op) || streams(op)),
        )
        .map(([path]) => family(path)),
    );
    expect([...mirroredFamilies].sort()).toEqual(['chat', 'plans', 'responses']);
    const documented = Object.entries(paths)
      // The administration API is deployed as one greedy resource (below).
      .filter(([path]) => !path.startsWith(ADMINISTRATION_PREFIX))
      .flatMap(([path, operations]) =>
        Object.entries(operations)
          // Documented, served by local mode, not deployed (none today; the mechanism stays).
          .filter(([, op]) => !op[NOT_DEPLOYED])
          .flatMap(([method, op]) =>
            (path.startsWith('/v1/') && !op['x-v1-only'] && mirroredFamilies.has(family(path))
              ? [path, `/openai${path}`]
              : [path]
            ).map((p) => ({
              route: `${method.toUpperCase()} ${p.replace('{model}', '{model+}')}`,
              public: Array.isArray(op.security) && op.security.length === 0,
            })),
          ),
      );

    const greedy = ['ANY /v1/organization/{proxy+}', 'ANY /openai/v1/{proxy+}'].map((route) => ({
      route,
      auth: 'CUSTOM',
      keyRequired: true,
      validator: true,
    }));
    expect(deployed.map((d) => d.route).sort()).toEqual(
      [...documented.map((d) => d.route), ...greedy.map((g) => g.route)].sort(),
    );
    for (const proxy of greedy) {
      expect(deployed.find((d) => d.route === proxy.route)).toEqual(proxy);
    }
    // Transcriptions and translations reach the buffered function (the speech backend): its own
    // resource under /v1, the greedy /openai/v1/{proxy+} under groq-sdk's prefix.
    expect(deployed.map((d) => d.route)).toContain('POST /v1/audio/transcriptions');
    expect(deployed.map((d) => d.route)).toContain('POST /v1/audio/translations');
    expect(deployed.map((d) => d.route)).not.toContain('POST /openai/v1/audio/translations');
    for (const route of documented) {
      const method = deployed.find((d) => d.route === route.route);
      expect(method).toEqual(
        route.public
          ? { route: route.route, auth: 'NONE', keyRequired: false, validator: true }
          : { route: route.route, auth: 'CUSTOM', keyRequired: true, validator: true },
      );
    }
    // No catch-all under /v1 but the administration API's: an unknown path there is API Gateway's
    // own 404 `unknown_url`, with or without a key.
    const proxies = stacks.api.api.restApi.methods
      .filter((m) => m.resource.path.endsWith('{proxy+}'))
      .map((m) => `${m.httpMethod} ${m.resource.path}`);
    expect(proxies.sort()).toEqual([
      'ANY /openai/v1/{proxy+}',
      'ANY /v1/organization/{proxy+}',
      'OPTIONS /openai/v1/{proxy+}',
      'OPTIONS /v1/organization/{proxy+}',
    ]);
  });

  it('answers CORS preflights from the configured origins on every resource browsers call, without a key', () => {
    const options = stacks.api.api.restApi.methods.filter((m) => m.httpMethod === 'OPTIONS');
    // Stripe's webhook is called server to server: no browser, no preflight.
    const resources = new Set(
      stacks.api.api.restApi.methods
        .map((m) => m.resource.path)
        .filter((path) => path !== BILLING_WEBHOOK_PATH),
    );

    expect(new Set(options.map((m) => m.resource.path))).toEqual(resources);
    api.hasResourceProperties('AWS::ApiGateway::Method', {
      HttpMethod: 'OPTIONS',
      AuthorizationType: 'NONE',
      Integration: Match.objectLike({
        Type: 'MOCK',
        IntegrationResponses: [
          Match.objectLike({
            ResponseParameters: Match.objectLike({
              'method.response.header.Access-Control-Allow-Headers':
                "'Authorization,Content-Type,*'",
              'method.response.header.Access-Control-Allow-Origin': "'*'",
            }),
          }),
        ],
      }),
    });
    api.hasResourceProperties('AWS::ApiGateway::GatewayResponse', {
      ResponseType: 'UNAUTHORIZED',
      ResponseParameters: Match.objectLike({
        'gatewayresponse.header.access-control-allow-origin': "'*'",
      }),
    });
  });

  it('streams chat completions from their own function (15 minutes), and buffers every other route', () => {
    const chatFunction = stacks.api.getLogicalId(
      stacks.api.api.chatFunction.function.node.defaultChild as never,
    );
    const apiFunction = stacks.api.getLogicalId(
      stacks.api.api.apiFunction.function.node.defaultChild as never,
    );
    // OPTIONS are CORS preflight mocks, answered by API Gateway itself.
    // Stripe's webhook has its own function (test/infra/billing.test.ts).
    const methods = Object.values(api.findResources('AWS::ApiGateway::Method')).filter(
      (m) =>
        m.Properties.HttpMethod !== 'OPTIONS' &&
        !JSON.stringify(m.Properties.Integration?.Uri).includes('BillingWebhook'),
    );
    // Chat completions and Responses (`/responses` itself, not its stored-response sub-paths).
    const isChat = (m: (typeof methods)[number]) =>
      /chatcompletions|v1responses[0-9A-F]{8}"/.test(JSON.stringify(m.Properties.ResourceId));
    const chats = methods.filter(isChat);
    const others = methods.filter((m) => !isChat(m));

    // POST /v1/chat/completions, POST /openai/v1/chat/completions and the same of /responses.
    expect(chats.map((m) => m.Properties.HttpMethod)).toEqual(['POST', 'POST', 'POST', 'POST']);
    for (const chat of chats) {
      const integration = chat.Properties.Integration;
      expect(integration.ResponseTransferMode).toBe('STREAM');
      expect(integration.TimeoutInMillis).toBe(900_000);
      expect(JSON.stringify(integration.Uri)).toContain('/2021-11-15/functions/');
      expect(JSON.stringify(integration.Uri)).toContain('/response-streaming-invocations');
      expect(JSON.stringify(integration.Uri)).toContain(chatFunction);
    }
    expect(others.length).toBeGreaterThan(2);
    for (const other of others) {
      expect(other.Properties.Integration.ResponseTransferMode ?? 'BUFFERED').toBe('BUFFERED');
      expect(JSON.stringify(other.Properties.Integration.Uri)).toContain(apiFunction);
    }
    api.hasResourceProperties('AWS::Lambda::Function', {
      Description: 'Tierline: chat completions, streamed',
      Timeout: 900,
    });
  });

  it('rewrites every API Gateway error into the OpenAI error shape', () => {
    const responses = Object.values(api.findResources('AWS::ApiGateway::GatewayResponse'));

    expect(responses).toHaveLength(OPENAI_GATEWAY_RESPONSES.length);
    expect(responses.map((r) => r.Properties.ResponseType).sort()).toEqual(
      [
        'ACCESS_DENIED',
        'AUTHORIZER_CONFIGURATION_ERROR',
        'AUTHORIZER_FAILURE',
        'BAD_REQUEST_BODY',
        'BAD_REQUEST_PARAMETERS',
        'DEFAULT_4XX',
        'DEFAULT_5XX',
        'INTEGRATION_TIMEOUT',
        'INVALID_API_KEY',
        'MISSING_AUTHENTICATION_TOKEN',
        'QUOTA_EXCEEDED',
        'REQUEST_TOO_LARGE',
        'RESOURCE_NOT_FOUND',
        'THROTTLED',
        'UNAUTHORIZED',
        'UNSUPPORTED_MEDIA_TYPE',
      ].sort(),
    );
    for (const { Properties: response } of responses) {
      // API Gateway substitutes `$context.error.messageString` with a quoted JSON string.
      const rendered = response.ResponseTemplates['application/json'].replace(
        '$context.error.messageString',
        '"Invalid request body"',
      );
      const body = JSON.parse(rendered);
      expect(Object.keys(body)).toEqual(['error']);
      expect(Object.keys(body.error)).toEqual(['message', 'type', 'param', 'code']);
      expect(typeof body.error.message).toBe('string');
      expect(response.ResponseParameters['gatewayresponse.header.content-type']).toBe(
        "'application/json'",
      );
    }
  });

  it.each([
    ['UNAUTHORIZED', '401', 'invalid_api_key'],
    ['INVALID_API_KEY', '401', 'invalid_api_key'],
    ['THROTTLED', '429', 'rate_limit_exceeded'],
    ['QUOTA_EXCEEDED', '429', 'rate_limit_exceeded'],
    ['REQUEST_TOO_LARGE', '413', 'request_too_large'],
    ['MISSING_AUTHENTICATION_TOKEN', '404', 'unknown_url'],
    ['AUTHORIZER_FAILURE', '500', 'authentication_unavailable'],
  ])('answers %s with status %s and code %s', (type, status, code) => {
    api.hasResourceProperties('AWS::ApiGateway::GatewayResponse', {
      ResponseType: type,
      StatusCode: status,
      ResponseTemplates: { 'application/json': Match.stringLikeRegexp(`"code":"${code}"`) },
    });
  });

  it('leaves the status of the default 4XX/5XX responses alone, so every unlisted type keeps its own', () => {
    for (const type of ['DEFAULT_4XX', 'DEFAULT_5XX']) {
      api.hasResourceProperties('AWS::ApiGateway::GatewayResponse', {
        ResponseType: type,
        StatusCode: Match.absent(),
      });
    }
  });

  it('tells the clients not to retry a used-up quota', () => {
    api.hasResourceProperties('AWS::ApiGateway::GatewayResponse', {
      ResponseType: 'QUOTA_EXCEEDED',
      ResponseParameters: Match.objectLike({ 'gatewayresponse.header.x-should-retry': "'false'" }),
    });
  });

  it('sends retry-after with an edge throttle', () => {
    api.hasResourceProperties('AWS::ApiGateway::GatewayResponse', {
      ResponseType: 'THROTTLED',
      ResponseParameters: Match.objectLike({ 'gatewayresponse.header.retry-after': "'1'" }),
    });
  });

  it('logs access as JSON, traces with X-Ray, never logs bodies, and throttles the stage', () => {
    api.hasResourceProperties('AWS::ApiGateway::Stage', {
      StageName: 'dev',
      TracingEnabled: true,
      AccessLogSetting: {
        DestinationArn: Match.anyValue(),
        Format: Match.serializedJson(
          Match.objectLike({ customerId: '$context.authorizer.customerId' }),
        ),
      },
      MethodSettings: [
        Match.objectLike({
          DataTraceEnabled: false,
          LoggingLevel: 'ERROR',
          MetricsEnabled: true,
          ThrottlingRateLimit: config.environment.stageThrottle.rateLimit,
          ThrottlingBurstLimit: config.environment.stageThrottle.burstLimit,
        }),
      ],
    });
    api.hasResourceProperties('AWS::ApiGateway::RequestValidator', {
      ValidateRequestBody: true,
      ValidateRequestParameters: true,
    });
  });

  it('runs every function on ARM64, the latest Node.js runtime, with tracing and retained logs', () => {
    // Every function of ours is made by the one factory (so none escapes the settings below).
    // Besides ours, the stack holds CDK's own BucketDeployment function (it copies the console's
    // files at deploy time; CDK chooses its runtime) and its bucket-emptying provider
    // (autoDeleteObjects).
    const made = stacks.api.node.findAll().filter((c) => c instanceof TierlineFunction).length;
    expect(made).toBeGreaterThanOrEqual(4);
    const ours = Object.entries(api.findResources('AWS::Lambda::Function')).filter(
      ([id]) =>
        !id.startsWith('CustomCDKBucketDeployment') && !id.startsWith('CustomS3AutoDeleteObjects'),
    );
    expect(ours).toHaveLength(made);
    for (const [, fn] of ours) {
      expect(fn.Properties).toMatchObject({
        Runtime: 'nodejs24.x',
        Architectures: ['arm64'],
        TracingConfig: { Mode: 'Active' },
        LoggingConfig: { LogGroup: expect.anything() },
      });
    }
    api.allResourcesProperties('AWS::Logs::LogGroup', {
      RetentionInDays: config.environment.logRetentionDays,
    });
  });

  it("lets the authorizer read single customer items and write only a key item's lastUsedAt", () => {
    const authorizerRole = stacks.api.getLogicalId(
      stacks.api.api.authorizerFunction.role.node.defaultChild as never,
    );
    // CDK merges statements of one resource: each is matched on its own.
    const hasStatement = (statement: object) =>
      api.hasResourceProperties('AWS::IAM::Policy', {
        Roles: [{ Ref: authorizerRole }],
        PolicyDocument: { Statement: Match.arrayWith([Match.objectLike(statement)]) },
      });
    hasStatement({ Action: 'dynamodb:GetItem', Effect: 'Allow', Resource: Match.anyValue() });
    hasStatement({ Action: Match.arrayWith(['kms:Decrypt']), Effect: 'Allow' });
    hasStatement({
      Action: 'dynamodb:UpdateItem',
      Effect: 'Allow',
      Condition: {
        'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['KEY#*'] },
        'ForAllValues:StringEquals': { 'dynamodb:Attributes': ['pk', 'sk', 'lastUsedAt'] },
        StringEqualsIfExists: { 'dynamodb:ReturnValues': 'NONE' },
      },
    });
    const statements = Object.values(
      api.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: authorizerRole }] } }),
    )
      .flatMap((p) => p.Properties.PolicyDocument.Statement)
      .flatMap((s: { Action: string | string[] }) =>
        Array.isArray(s.Action) ? s.Action : [s.Action],
      );
    expect(statements.filter((a) => a.startsWith('dynamodb:')).sort()).toEqual([
      'dynamodb:GetItem',
      'dynamodb:UpdateItem',
    ]);
  });

  it('publishes what the operator CLI needs in one SSM parameter and the base URLs as outputs', () => {
    api.hasResourceProperties('AWS::SSM::Parameter', {
      Name: operatorParameterName('dev'),
      Type: 'String',
      Value: Match.anyValue(),
    });
    api.hasOutput('OpenAIBaseUrl', {});
    api.hasOutput('GroqBaseUrl', {});
  });
});

describe('changing a tier in the config', () => {
  it('updates its usage plan in place: same logical id, new limits, customers keep their keys', () => {
    const before = synthesize();
    const after = synthesize({
      overrides: {
        tiers: {
          free: {
            edge: { rateLimit: 4, burstLimit: 20, quota: { limit: 30_000, period: 'WEEK' } },
          },
        },
      },
    });
    const idOf = (s: typeof before) =>
      s.stacks.api.getLogicalId(s.stacks.api.usagePlans.plans.free.node.defaultChild as never);

    expect(idOf(after)).toBe(idOf(before));
    after.api.hasResource('AWS::ApiGateway::UsagePlan', {
      Properties: Match.objectLike({
        UsagePlanName: 'tierline-dev-free',
        Throttle: { RateLimit: 4, BurstLimit: 20 },
        Quota: { Limit: 30_000, Period: 'WEEK' },
      }),
    });
    expect(Object.keys(after.api.findResources('AWS::ApiGateway::UsagePlan')).sort()).toEqual(
      Object.keys(before.api.findResources('AWS::ApiGateway::UsagePlan')).sort(),
    );
  });
});
