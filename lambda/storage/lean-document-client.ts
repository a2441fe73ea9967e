import {
  ConditionalCheckFailedException,
  type DynamoDBClient,
  DynamoDBServiceException,
  InternalServerError,
  ItemCollectionSizeLimitExceededException,
  ProvisionedThroughputExceededException,
  RequestLimitExceeded,
  ResourceNotFoundException,
} from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { marshall, type marshallOptions, unmarshall } from '@aws-sdk/util-dynamodb';
import { SignatureV4 } from '@smithy/signature-v4';
import type { HttpRequest, HttpResponse } from '@smithy/types';
import { DOCUMENT_MARSHALLING, type DocumentClient } from './document-client';

/**
 * A DynamoDB document client whose five item operations (GetItem, PutItem, UpdateItem, DeleteItem,
 * Query) skip the SDK's per-call middleware stack: each is one JSON request, marshalled with the
 * SDK's own marshaller, signed with the SDK's own SigV4 signer and the client's credentials
 * (refreshed by its provider), sent through the client's own HTTP handler (its kept-alive
 * connections) to the endpoint the SDK resolves. Every other command, any call with options, and
 * any with a legacy member (`Expected`, ...) goes through an SDK document client on the same
 * `DynamoDBClient`, as usual.
 *
 * It is a type of its own, not an SDK client with a patched `send`: it has no `middlewareStack`,
 * so nobody can add middleware to it believing every call passes it. Middleware added to the
 * `DynamoDBClient` it wraps sees only the calls that go through the SDK; where middleware must see
 * every call, the composition root picks the SDK's document client instead ({@link
 * createDocumentClient}; local mode's `instrumentDynamo` does).
 *
 * Why: these calls are the metering on the path of every chat request (2-3 before the model, 3-4
 * after). Measured on dynalite (1,500 UpdateItem calls, 8 at a time, `npx tsx
 * bench/dynamodb-call-cost.ts`): the document client spends about 980 us of CPU per call, the
 * low-level client 860 us (660 us with `cacheMiddleware`, which the document client refuses), a
 * signed request through the SDK's handler 390 us. The API and chat functions use it; tests and
 * tools that count or fault calls through the client's middleware use the plain document client.
 *
 * Errors are the SDK's exception classes (`ConditionalCheckFailedException` with its `Item`, ...)
 * or a `DynamoDBServiceException` named by the service's `__type`; throttling, 5xx and network
 * failures are retried like the SDK's standard mode (the client's `maxAttempts`, exponential
 * backoff with full jitter). Left out: the SDK's retry quota and clock-skew correction (Lambda's
 * clock is synchronised), endpoint discovery (DynamoDB does not require it) and account-id
 * endpoints (the regional endpoint serves every account).
 *
 * Tested (test/lambda/storage/lean-document-client.test.ts, against dynalite and a faulting proxy)
 * with the SDK version package.json pins (@aws-sdk/client-dynamodb and lib-dynamodb 3.1142.0), the
 * version every function bundles: TierlineFunction leaves nothing external, so Lambda runs the
 * bundled copy, never the runtime's own SDK (test/infra/bundling.test.ts holds both).
 */
export class LeanDocumentClient implements DocumentClient {
  /** The SDK's document client on the same `DynamoDBClient`: every call not sent directly. */
  private readonly sdk: DynamoDBDocumentClient;
  private readonly direct: DirectItemCalls;

  constructor(client: DynamoDBClient, options: { marshallOptions?: marshallOptions } = {}) {
    const marshalling = options.marshallOptions ?? DOCUMENT_MARSHALLING;
    this.sdk = DynamoDBDocumentClient.from(client, { marshallOptions: { ...marshalling } });
    // A copy: the document client sets `convertTopLevelContainer` on the object it is given, and
    // these members are marshalled as maps of attributes, not as one attribute.
    this.direct = new DirectItemCalls(client, { ...marshalling, convertTopLevelContainer: false });
  }

  /** The five item operations directly; any other command (or a call with options) through the SDK. */
  readonly send = ((command: unknown, ...rest: unknown[]) => {
    const operation = rest.length === 0 ? operationOf(command) : undefined;
    return operation
      ? this.direct.send(operation, (command as { input: Record<string, unknown> }).input)
      : (this.sdk.send as (command: unknown, ...rest: unknown[]) => Promise<unknown>)(
          command,
          ...rest,
        );
  }) as DynamoDBDocumentClient['send'];
}

/** The lean client on `client` (see {@link LeanDocumentClient}). */
export function createLeanDocumentClient(
  client: DynamoDBClient,
  options: { marshallOptions?: marshallOptions } = {},
): LeanDocumentClient {
  return new LeanDocumentClient(client, options);
}

type Operation = 'GetItem' | 'PutItem' | 'UpdateItem' | 'DeleteItem' | 'Query';

/**
 * Legacy members whose values the document client marshals deep inside (`AttributeValueList`,
 * `Value`): a call that has one goes through the SDK rather than be sent here unmarshalled.
 */
const LEGACY_INPUT = ['Expected', 'AttributeUpdates', 'KeyConditions', 'QueryFilter'] as const;

function operationOf(command: unknown): Operation | undefined {
  const input = (command as { input?: Record<string, unknown> }).input;
  if (input && LEGACY_INPUT.some((member) => input[member] !== undefined)) return undefined;
  if (command instanceof UpdateCommand) return 'UpdateItem';
  if (command instanceof GetCommand) return 'GetItem';
  if (command instanceof PutCommand) return 'PutItem';
  if (command instanceof DeleteCommand) return 'DeleteItem';
  if (command instanceof QueryCommand) return 'Query';
  return undefined;
}

/** Input members that hold items or values (marshalled) and output members that do (unmarshalled). */
const MARSHALLED_INPUT = ['Key', 'Item', 'ExpressionAttributeValues', 'ExclusiveStartKey'] as const;
const MARSHALLED_OUTPUT = ['Item', 'Attributes', 'LastEvaluatedKey'] as const;

/** Errors the SDK retries in its standard mode (besides 5xx and network failures). */
const THROTTLING = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
  'RequestThrottledException',
  'TooManyRequestsException',
  'LimitExceededException',
]);
const NETWORK = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'TimeoutError',
  'RequestTimeout',
]);

type ExceptionClass = new (
  options: { message: string; $metadata: object } & Record<string, unknown>,
) => Error;
const EXCEPTIONS: Record<string, ExceptionClass> = {
  ConditionalCheckFailedException: ConditionalCheckFailedException as unknown as ExceptionClass,
  ProvisionedThroughputExceededException:
    ProvisionedThroughputExceededException as unknown as ExceptionClass,
  ResourceNotFoundException: ResourceNotFoundException as unknown as ExceptionClass,
  RequestLimitExceeded: RequestLimitExceeded as unknown as ExceptionClass,
  InternalServerError: InternalServerError as unknown as ExceptionClass,
  ItemCollectionSizeLimitExceededException:
    ItemCollectionSizeLimitExceededException as unknown as ExceptionClass,
};

interface Target {
  protocol: string;
  hostname: string;
  port?: number;
  path: string;
  signer: SignatureV4;
}

class DirectItemCalls {
  private target?: Promise<Target>;

  constructor(
    private readonly client: DynamoDBClient,
    private readonly marshalling: marshallOptions,
  ) {}

  /** The endpoint and signer, resolved once per client, as the SDK resolves them. */
  private resolve(): Promise<Target> {
    this.target ??= (async () => {
      const config = this.client.config;
      const region = await config.region();
      const custom = config.endpoint ? await config.endpoint() : undefined;
      const url = custom
        ? new URL(
            `${custom.protocol}//${custom.hostname}${custom.port ? `:${custom.port}` : ''}${custom.path}`,
          )
        : config.endpointProvider({
            Region: region,
            UseFIPS: await config.useFipsEndpoint(),
            UseDualStack: await config.useDualstackEndpoint(),
          }).url;
      const signer = new SignatureV4({
        service: 'dynamodb',
        region,
        credentials: config.credentials,
        sha256: config.sha256,
      });
      return {
        protocol: url.protocol,
        hostname: url.hostname,
        port: url.port ? Number(url.port) : undefined,
        path: url.pathname || '/',
        signer,
      };
    })();
    // A failed resolution (no region, no credentials provider) is not kept: the next call tries
    // again.
    this.target.catch(() => {
      this.target = undefined;
    });
    return this.target;
  }

  async send(
    operation: Operation,
    input: Record<string, unknown>,
  ): Promise<Record<string, unknown>> {
    const body = JSON.stringify(this.marshalInput(input), binaryAsBase64);
    const maxAttempts = await this.client.config.maxAttempts();
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.call(operation, body, attempt);
      } catch (error) {
        const delayMs = retryDelayMs(error, attempt, maxAttempts);
        if (delayMs === undefined) throw error;
        await new Promise((resolve) => setTimeout(resolve, delayMs));
      }
    }
  }

  private marshalInput(input: Record<string, unknown>): Record<string, unknown> {
    const wire: Record<string, unknown> = { ...input };
    for (const member of MARSHALLED_INPUT) {
      const value = input[member];
      if (value !== undefined)
        wire[member] = marshall(value as Record<string, unknown>, this.marshalling);
    }
    return wire;
  }

  private async call(
    operation: Operation,
    body: string,
    attempt: number,
  ): Promise<Record<string, unknown>> {
    const target = await this.resolve();
    const host = target.port ? `${target.hostname}:${target.port}` : target.hostname;
    const request = {
      method: 'POST',
      protocol: target.protocol,
      hostname: target.hostname,
      port: target.port,
      path: target.path,
      query: {},
      headers: {
        'content-type': 'application/x-amz-json-1.0',
        'x-amz-target': `DynamoDB_20120810.${operation}`,
        'content-length': String(Buffer.byteLength(body)),
        host,
      },
      body,
    } as HttpRequest;
    const signed = (await target.signer.sign(request)) as HttpRequest;
    const { response } = (await this.client.config.requestHandler.handle(signed)) as {
      response: HttpResponse;
    };
    const text = await textOf(response.body);
    const status = response.statusCode;
    const $metadata = {
      httpStatusCode: status,
      requestId: response.headers['x-amzn-requestid'],
      attempts: attempt,
    };
    const ok = status >= 200 && status < 300;
    let parsed: Record<string, unknown> = {};
    try {
      if (text) parsed = JSON.parse(text) as Record<string, unknown>;
    } catch (error) {
      // A body that is not DynamoDB's JSON: a proxy's or load balancer's own page (an HTML 502), or
      // a cut answer. As the SDK does: an error answer is a service error by its status (a 5xx is
      // retried); a 2xx one fails with its status attached.
      if (ok) throw Object.assign(error as Error, { $metadata });
    }
    if (ok) return { ...this.unmarshalOutput(parsed), $metadata };
    throw this.serviceError(parsed, status, $metadata);
  }

  private unmarshalOutput(output: Record<string, unknown>): Record<string, unknown> {
    for (const member of MARSHALLED_OUTPUT) {
      const value = output[member];
      if (value) output[member] = unmarshallWire(value);
    }
    if (Array.isArray(output.Items)) output.Items = output.Items.map(unmarshallWire);
    return output;
  }

  private serviceError(body: Record<string, unknown>, status: number, $metadata: object): Error {
    const type = typeof body.__type === 'string' ? body.__type : '';
    const name =
      type.slice(type.lastIndexOf('#') + 1) ||
      (status >= 500 ? 'InternalServerError' : 'UnknownError');
    const message = String(body.message ?? body.Message ?? name);
    const { __type: _type, message: _m, Message: _M, ...fields } = body;
    if (fields.Item) fields.Item = unmarshallWire(fields.Item);
    const Exception = EXCEPTIONS[name];
    if (Exception)
      return Object.assign(new Exception({ message, $metadata, ...fields }), {
        $fault: faultOf(status),
      });
    return Object.assign(
      new DynamoDBServiceException({ name, message, $fault: faultOf(status), $metadata }),
      fields,
    );
  }
}

/**
 * JSON.stringify's replacer: binary (B, BS) goes on the wire as base64, as the SDK's serializer
 * sends it (plain JSON would write a Uint8Array as an object of its bytes, and a Buffer as its
 * toJSON; the holder has the original).
 */
function binaryAsBase64(this: Record<string, unknown>, key: string, value: unknown): unknown {
  const original = this[key];
  return original instanceof Uint8Array
    ? Buffer.from(original.buffer, original.byteOffset, original.byteLength).toString('base64')
    : value;
}

/** An item as the wire has it, unmarshalled: its base64 binary decoded to Uint8Array first, as the SDK does. */
function unmarshallWire(item: unknown): Record<string, unknown> {
  const decoded: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(item as Record<string, unknown>))
    decoded[name] = binaryOf(value);
  return unmarshall(decoded as Parameters<typeof unmarshall>[0]);
}

function binaryOf(value: unknown): unknown {
  const av = value as { B?: unknown; BS?: unknown[]; M?: Record<string, unknown>; L?: unknown[] };
  if (typeof av.B === 'string') return { B: bytesOf(av.B) };
  if (Array.isArray(av.BS)) return { BS: av.BS.map((b) => bytesOf(String(b))) };
  if (av.M)
    return { M: Object.fromEntries(Object.entries(av.M).map(([k, v]) => [k, binaryOf(v)])) };
  if (Array.isArray(av.L)) return { L: av.L.map(binaryOf) };
  return value;
}

function bytesOf(base64: string): Uint8Array {
  const buffer = Buffer.from(base64, 'base64');
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

const faultOf = (status: number) => (status >= 500 ? 'server' : 'client') as 'server' | 'client';

/** The wait before the next attempt, or undefined when the error is final (not retryable, or attempts spent). */
function retryDelayMs(error: unknown, attempt: number, maxAttempts: number): number | undefined {
  // Duck-typed: errors of Node's sockets may come from another realm (a test runner's sandbox).
  if (attempt >= maxAttempts || typeof error !== 'object' || error === null) return undefined;
  const { name, code, $metadata } = error as {
    name?: string;
    code?: string;
    $metadata?: { httpStatusCode?: number };
  };
  const status = $metadata?.httpStatusCode;
  const throttled = THROTTLING.has(name ?? '');
  const transient =
    (status !== undefined && status >= 500) || NETWORK.has(name ?? '') || NETWORK.has(code ?? '');
  if (!throttled && !transient) return undefined;
  // The SDK's standard mode: full jitter over 100 ms x 2^attempt (500 ms base when throttled), at
  // most 20 s.
  const base = throttled ? 500 : 100;
  return Math.random() * Math.min(20_000, base * 2 ** (attempt - 1));
}

async function textOf(body: unknown): Promise<string> {
  if (!body) return '';
  // Bytes first: a multi-byte character may straddle two chunks.
  const parts: Buffer[] = [];
  for await (const part of body as AsyncIterable<Buffer | string>) parts.push(Buffer.from(part));
  return Buffer.concat(parts).toString('utf8');
}
