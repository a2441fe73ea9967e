/**
 * The HTTP timeouts of every AWS SDK client of the runtime, in one place. The SDK sets none by
 * default: a call to a service the network cannot reach (in the Managed-Instances VPC, a service
 * without a VPC endpoint) or one that never answers waits until the function itself times out, up
 * to 15 minutes for a chat stream.
 *
 * - `connectionTimeout`: until the TCP connection is up. AWS endpoints in the region connect in
 *   milliseconds; 3 s lets one lost SYN be sent again.
 * - `requestTimeout`: from sending the request to the response's headers (smithy's NodeHttpHandler
 *   clears it once the response arrives, so a streamed body is not cut). Since
 *   @smithy/node-http-handler 4.4 it only logs a warning unless `throwOnRequestTimeout` is set,
 *   which it is here.
 *
 * A timed-out attempt is a TimeoutError, which the SDK's standard retry strategy retries (3
 * attempts). The shorthand (`requestHandler` as options, not an instance) is the SDK's documented
 * form since v3.521.0 ("Configure maxSockets in Node.js", AWS SDK for JavaScript v3 developer
 * guide).
 */
export const CLIENT_TIMEOUTS = {
  /** JSON APIs answered in milliseconds: DynamoDB, SQS, EventBridge, Step Functions, SageMaker's control plane. */
  api: { connectionTimeout: 3_000, requestTimeout: 5_000 },
  /** S3: a request carries up to one 8 MiB part (file composition) before S3 answers. */
  s3: { connectionTimeout: 3_000, requestTimeout: 30_000 },
  /**
   * SageMaker Runtime: InvokeEndpoint answers within 60 s (the container's limit, "InvokeEndpoint"
   * API reference), then SageMaker itself times out; a stream's headers come as its first part is
   * ready.
   */
  sagemakerRuntime: { connectionTimeout: 3_000, requestTimeout: 90_000 },
} as const;

export type ClientKind = keyof typeof CLIENT_TIMEOUTS;

/** Options every SDK client of the runtime is created with: `new DynamoDBClient(awsClientOptions())`. */
export function awsClientOptions(kind: ClientKind = 'api') {
  return { requestHandler: { ...CLIENT_TIMEOUTS[kind], throwOnRequestTimeout: true } };
}
