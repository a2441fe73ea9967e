import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import {
  AccessLogFormat,
  ApiKeySourceType,
  AuthorizationType,
  Cors,
  type CorsOptions,
  EndpointType,
  IdentitySource,
  LambdaIntegration,
  LogGroupLogDestination,
  type Method,
  MethodLoggingLevel,
  RequestAuthorizer,
  type RequestValidator,
  ResponseTransferMode,
  RestApi,
} from 'aws-cdk-lib/aws-apigateway';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import {
  endpointName,
  speechComponentNames,
} from '../../../lambda/inference/backends/sagemaker-names';
import { MAX_REQUEST_MS } from '../../../lambda/metering/reservations';
import { BINARY_MEDIA_TYPES } from '../../../lambda/openai/request-size';
import type { TierlineConfig } from '../../config/schema';
import type { CustomersTable } from '../customers-table';
import { TierlineFunction } from '../tierline-function';
import { ChatCapacity } from './chat-capacity';
import { addDocumentRoutes } from './document-routes';
import { addOpenAIGatewayResponses } from './gateway-responses';
import { RequestSizeGuard } from './request-size-guard';

export interface TierlineApiProps {
  readonly config: TierlineConfig;
  readonly customers: CustomersTable;
}

/** JSON access log line per request (structured, so Logs Insights can query customers and statuses). */
const ACCESS_LOG_FIELDS = {
  requestId: '$context.requestId',
  requestTime: '$context.requestTimeEpoch',
  ip: '$context.identity.sourceIp',
  httpMethod: '$context.httpMethod',
  path: '$context.path',
  resourcePath: '$context.resourcePath',
  status: '$context.status',
  responseLength: '$context.responseLength',
  responseLatency: '$context.responseLatency',
  integrationLatency: '$context.integrationLatency',
  customerId: '$context.authorizer.customerId',
  tier: '$context.authorizer.tier',
  error: '$context.error.message',
  authorizerError: '$context.authorizer.error',
};

function corsPreflight(origins: readonly string[]): CorsOptions | undefined {
  if (origins.length === 0) return undefined;
  return {
    allowOrigins: origins.includes('*') ? Cors.ALL_ORIGINS : [...origins],
    allowMethods: ['GET', 'POST', 'PUT', 'DELETE', 'OPTIONS'],
    // `*` covers the openai SDK's x-stainless-* headers; Authorization is never covered by `*`
    // (Fetch spec).
    allowHeaders: ['Authorization', 'Content-Type', '*'],
    maxAge: Duration.minutes(10),
  };
}

/**
 * `Access-Control-Allow-Origin` of the errors API Gateway answers itself (401, 429...), so a
 * browser app can read them: `*`, the one allowed origin, or (several origins) the caller's own;
 * error bodies hold no data.
 */
function gatewayAllowOrigin(origins: readonly string[]): string | undefined {
  if (origins.length === 0) return undefined;
  if (origins.includes('*')) return "'*'";
  return origins.length === 1 ? `'${origins[0]}'` : 'method.request.header.origin';
}

/**
 * The public REST API: a Lambda REQUEST authorizer on the `Authorization: Bearer tl_...` header
 * that also names the customer's usage-plan key (`apiKeySource: AUTHORIZER`), the API function
 * behind every route, served under both `/v1` (openai) and `/openai/v1` (groq-sdk), and
 * OpenAI-shaped gateway errors.
 */
export class TierlineApi extends Construct {
  public readonly restApi: RestApi;
  public readonly authorizer: RequestAuthorizer;
  public readonly authorizerFunction: TierlineFunction;
  public readonly apiFunction: TierlineFunction;
  /** Chat completions, with Lambda response streaming. */
  public readonly chatFunction: TierlineFunction;
  /** Where the chat function runs when `environment.chatCompute` is `managed-instances`. */
  public readonly chatCapacity?: ChatCapacity;
  /** Base URL for the openai client (`.../v1`). */
  public readonly openAIBaseUrl: string;
  /** Base URL for the groq-sdk client (it appends `/openai/v1`). */
  public readonly groqBaseUrl: string;

  private readonly validator: RequestValidator;
  private readonly integration: LambdaIntegration;
  private readonly chatIntegration: LambdaIntegration;

  constructor(scope: Construct, id: string, props: TierlineApiProps) {
    super(scope, id);
    const { config } = props;
    const env = config.environment;
    const removalPolicy = env.retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;
    const common = { config, logRetention: env.logRetentionDays, removalPolicy };

    this.authorizerFunction = new TierlineFunction(this, 'Authorizer', {
      ...common,
      handlerFile: 'authorizer.ts',
      description: 'Tierline: resolves a Bearer API key to its customer, tier and usage-plan key',
      memorySize: 256,
      timeout: Duration.seconds(5),
      reservedConcurrentExecutions: env.reservedConcurrency.authorizer,
    });
    props.customers.bindForKeyUseRecording(this.authorizerFunction.function);

    this.apiFunction = new TierlineFunction(this, 'Handler', {
      ...common,
      handlerFile: 'api.ts',
      description: 'Tierline: the OpenAI-compatible API',
      timeout: Duration.seconds(29),
      reservedConcurrentExecutions: env.reservedConcurrency.api,
    });
    props.customers.bindForItemReads(this.apiFunction.function);
    this.grantSpeechInvoke(config, this.apiFunction);

    this.chatFunction = new TierlineFunction(this, 'ChatHandler', {
      ...common,
      handlerFile: 'chat.ts',
      description: 'Tierline: chat completions, streamed',
      // On Managed Instances an execution environment holds many streams at once: 2 GB is the
      // smallest size (1 vCPU at 2 GiB per vCPU); per-invocation Lambda gives one stream 1 GB.
      memorySize: env.chatCompute.kind === 'managed-instances' ? 2048 : 1024,
      // A long completion streams for minutes; API Gateway streams for at most 15 minutes. The
      // reconciler of crashed requests counts on this bound (MAX_REQUEST_MS).
      timeout: Duration.millis(MAX_REQUEST_MS),
      // On Managed Instances the capacity provider's instances bound the streams, not account
      // concurrency.
      reservedConcurrentExecutions:
        env.chatCompute.kind === 'lambda' ? env.reservedConcurrency.chat : undefined,
    });
    props.customers.bindForItemReads(this.chatFunction.function);
    this.grantModelInvoke(config, this.chatFunction);
    if (env.chatCompute.kind === 'managed-instances') {
      this.chatCapacity = new ChatCapacity(this, 'ChatCapacity', {
        settings: env.chatCompute,
        logRetention: env.logRetentionDays,
        removalPolicy,
      });
      this.chatCapacity.addFunction(this.chatFunction.function);
    }

    this.restApi = this.regionalRestApi(env, removalPolicy);
    for (const fn of [this.authorizerFunction, this.apiFunction, this.chatFunction]) {
      Validations.of(fn.function).acknowledge({
        id: 'Serverless::Serverless-LambdaDLQ',
        reason:
          'Invoked synchronously by API Gateway: a failure is answered to the caller, nothing is queued.',
      });
    }

    this.authorizer = new RequestAuthorizer(this, 'KeyAuthorizer', {
      handler: this.authorizerFunction.function,
      identitySources: [IdentitySource.header('Authorization')],
      resultsCacheTtl: Duration.seconds(env.authorizerCacheTtlSeconds),
    });

    this.validator = this.restApi.addRequestValidator('Validator', {
      validateRequestBody: true,
      validateRequestParameters: true,
    });
    // One resource-based permission per function for the whole API
    // (`arn:...:execute-api:<region>:<account>: <api-id>/*/*/*`), not one per method: a function's
    // policy may hold at most 20 KB ("Function resource-based policy: 20 KB", Lambda quotas), and
    // one statement per method (and per test-invoke) passed it at about 50 methods; there are 70.
    // Every method of this API may invoke the function; nothing else may.
    this.integration = new LambdaIntegration(this.apiFunction.function, {
      scopePermissionToMethod: false,
    });
    this.chatIntegration = new LambdaIntegration(this.chatFunction.function, {
      scopePermissionToMethod: false,
      responseTransferMode: ResponseTransferMode.STREAM,
      // Streamed integrations may run up to 15 minutes; buffered ones stop at 29 seconds.
      timeout: Duration.minutes(15),
    });

    addDocumentRoutes(this.restApi.root, {
      config,
      buffered: this.integration,
      streaming: this.chatIntegration,
      validator: this.validator,
      // Browser apps and the console: preflights are answered by API Gateway itself, before any key
      // is asked for; the app sets the allow/expose headers of real answers
      // (`lambda/http/request-guards.ts`).
      preflight: corsPreflight(env.corsAllowedOrigins),
      authorized: {
        authorizer: this.authorizer,
        authorizationType: AuthorizationType.CUSTOM,
        // Required so the key the authorizer names is metered and throttled by its usage plan.
        apiKeyRequired: true,
        requestValidator: this.validator,
      },
    });

    for (const method of this.restApi.methods.filter((m) => m.httpMethod === 'OPTIONS')) {
      const reason =
        'CORS preflight (OPTIONS) carries no key by the CORS standard; it is a mock that only answers headers.';
      Validations.of(method).acknowledge({ id: 'AwsSolutions::AwsSolutions-APIG4', reason });
      Validations.of(method).acknowledge({ id: 'AwsSolutions::AwsSolutions-COG4', reason });
    }

    this.groqBaseUrl = this.restApi.url;
    this.openAIBaseUrl = this.restApi.urlForPath('/v1');
  }

  /** The REST API and its stage: access logs, stage throttle, OpenAI-shaped gateway errors. */
  private regionalRestApi(
    env: TierlineApiProps['config']['environment'],
    removalPolicy: RemovalPolicy,
  ): RestApi {
    const accessLogs = new LogGroup(this, 'AccessLogs', {
      retention: env.logRetentionDays,
      removalPolicy,
    });

    const restApi = new RestApi(this, 'RestApi', {
      restApiName: `tierline-${env.name}`,
      description: 'Tierline OpenAI-compatible LLM API',
      endpointConfiguration: { types: [EndpointType.REGIONAL] },
      apiKeySourceType: ApiKeySourceType.AUTHORIZER,
      // File uploads: API Gateway passes these bodies base64-encoded, so their bytes reach the
      // function unchanged.
      binaryMediaTypes: [...BINARY_MEDIA_TYPES],
      // The CloudWatch Logs role of API Gateway is one setting per account and region: an app stack
      // that owned it would, when destroyed, leave every other stage of the account logging through
      // a deleted role. It comes from `ApiGatewayAccountStack` (once per account and region) or is
      // already set in the account.
      cloudWatchRole: false,
      deployOptions: {
        stageName: env.name,
        tracingEnabled: true,
        metricsEnabled: true,
        loggingLevel: MethodLoggingLevel.ERROR,
        dataTraceEnabled: false, // request bodies hold customer prompts: never log them
        throttlingRateLimit: env.stageThrottle.rateLimit,
        throttlingBurstLimit: env.stageThrottle.burstLimit,
        accessLogDestination: new LogGroupLogDestination(accessLogs),
        accessLogFormat: AccessLogFormat.custom(JSON.stringify(ACCESS_LOG_FIELDS)),
      },
    });
    const allowOrigin = gatewayAllowOrigin(env.corsAllowedOrigins);
    addOpenAIGatewayResponses(restApi, allowOrigin);
    if (env.requestSizeGuard) {
      new RequestSizeGuard(this, 'RequestSizeGuard', {
        stage: restApi.deploymentStage,
        namePrefix: `tierline-${env.name}`,
        // A WAF header is a literal: one origin or `*`, never the request's own Origin.
        allowOrigin: allowOrigin?.startsWith("'") ? allowOrigin.slice(1, -1) : undefined,
      });
    } else {
      Validations.of(restApi.deploymentStage).acknowledge({
        id: 'AwsSolutions::AwsSolutions-APIG3',
        reason:
          'No WAF unless environment.requestSizeGuard (it costs per request): each key is throttled by its ' +
          'usage plan, the stage has a throttle, and limits are enforced per customer in DynamoDB.',
      });
    }
    return restApi;
  }

  /**
   * A `POST` route outside the OpenAI API for a caller that signs its body (Stripe's webhook): no
   * authorizer and no API key (the caller has neither; its function checks the signature), its own
   * function, not in `/openapi.json` (no client of the API calls it).
   */
  addSignedWebhook(path: string, fn: IFunction): Method {
    const method = this.restApi.root
      .resourceForPath(path)
      .addMethod('POST', new LambdaIntegration(fn, { scopePermissionToMethod: false }), {
        authorizationType: AuthorizationType.NONE,
        requestValidator: this.validator,
      });
    const reason =
      `POST ${path} is called by Stripe, which has no API key: the function verifies the ` +
      "Stripe-Signature header (HMAC-SHA256 of the body with the endpoint's signing secret) and " +
      'refuses anything else with a 400.';
    Validations.of(method).acknowledge({ id: 'AwsSolutions::AwsSolutions-APIG4', reason });
    Validations.of(method).acknowledge({ id: 'AwsSolutions::AwsSolutions-COG4', reason });
    return method;
  }

  /**
   * Lets the API function invoke the endpoints of the configured models, and nothing else in
   * SageMaker. The endpoints live in the inference stack, but their names are deterministic
   * (`sagemaker-names.ts`): the API needs no cross-stack reference, so the inference stack can be
   * destroyed on its own.
   */
  /**
   * Lets the buffered API function (it serves `/v1/audio/*`) invoke the speech models' endpoints
   * (one InvokeEndpoint per transcription or translation: lambda/audio/sagemaker-transcriber.ts),
   * named as the chat models' are. The endpoint is the action's required resource; its components
   * (transcription, and translation for a model that translates) are listed too, as the request
   * names one (`InferenceComponentName`).
   */
  public grantSpeechInvoke(config: TierlineConfig, handler: TierlineFunction): void {
    const speechModels = Object.entries(config.speechModels);
    if (speechModels.length === 0) return;
    const env = config.environment.name;
    // SageMaker lowercases names in ARNs.
    const arn = (resource: string, name: string) =>
      Stack.of(this).formatArn({
        service: 'sagemaker',
        resource,
        resourceName: name.toLowerCase(),
      });
    handler.function.addToRolePolicy(
      new PolicyStatement({
        actions: ['sagemaker:InvokeEndpoint'],
        resources: speechModels.flatMap(([modelId, model]) => [
          arn('endpoint', endpointName(env, modelId)),
          ...speechComponentNames(env, modelId, model.translates).map((name) =>
            arn('inference-component', name),
          ),
        ]),
      }),
    );
  }

  public grantModelInvoke(config: TierlineConfig, handler: TierlineFunction): void {
    const env = config.environment.name;
    const fn = handler.function;
    fn.addToRolePolicy(
      new PolicyStatement({
        actions: ['sagemaker:InvokeEndpoint', 'sagemaker:InvokeEndpointWithResponseStream'],
        // SageMaker lowercases endpoint names in ARNs.
        resources: Object.keys(config.models).map((modelId) =>
          Stack.of(this).formatArn({
            service: 'sagemaker',
            resource: 'endpoint',
            resourceName: endpointName(env, modelId).toLowerCase(),
          }),
        ),
      }),
    );
  }
}
