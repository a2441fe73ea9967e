import type { Writable } from 'node:stream';
import type { APIGatewayProxyEvent, Context as LambdaContext } from 'aws-lambda';

/**
 * Lambda response streaming for API Gateway REST (`responseTransferMode: STREAM`), in place of
 * Hono's `streamHandle`: that one pipes the body into the response stream but, when the write
 * fails, never cancels the body, so the app's end-of-stream work (billing the tokens generated so
 * far) would never run. Here the body is always cancelled when the copy stops early: after a failed
 * write, and a few seconds before the function times out (API Gateway's own streaming limit is 15
 * minutes, like the function's timeout).
 */

/** The Node.js runtime's streaming globals (only present in Lambda). */
declare const awslambda: {
  streamifyResponse(
    handler: (
      event: APIGatewayProxyEvent,
      stream: Writable,
      context: LambdaContext,
    ) => Promise<void>,
  ): unknown;
  HttpResponseStream: {
    from(
      stream: Writable,
      metadata: { statusCode: number; headers: Record<string, string> },
    ): Writable;
  };
};

/** Time left to bill what was generated before the function is stopped. */
const FINISH_MARGIN_MS = 5_000;

/** The REST (v1) proxy event as a fetch Request. */
export function requestOf(event: APIGatewayProxyEvent): Request {
  const headers = new Headers();
  for (const [name, values] of Object.entries(event.multiValueHeaders ?? {})) {
    for (const value of values ?? []) headers.append(name, value);
  }
  for (const [name, value] of Object.entries(event.headers ?? {})) {
    if (value !== undefined && !headers.has(name)) headers.set(name, value);
  }
  const query = new URLSearchParams();
  for (const [name, values] of Object.entries(event.multiValueQueryStringParameters ?? {})) {
    for (const value of values ?? []) query.append(name, value);
  }
  const search = query.toString();
  const url = `https://${headers.get('host') ?? 'localhost'}${event.path}${search ? `?${search}` : ''}`;
  const hasBody =
    event.body !== null && event.body !== undefined && !['GET', 'HEAD'].includes(event.httpMethod);
  return new Request(url, {
    method: event.httpMethod,
    headers,
    body: hasBody
      ? event.isBase64Encoded
        ? Buffer.from(event.body ?? '', 'base64')
        : event.body
      : undefined,
  });
}

function write(stream: Writable, chunk: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.write(chunk, (error) => (error ? reject(error) : resolve()));
  });
}

/** The streaming Lambda entry for `app`; `c.env.event` is the API Gateway event, as with `hono/aws-lambda`. */
export function streamingHandler(app: {
  fetch: (request: Request, env: never) => Response | Promise<Response>;
}) {
  return awslambda.streamifyResponse(async (event, responseStream, context) => {
    const response = await app.fetch(requestOf(event), { event, lambdaContext: context } as never);
    const headers: Record<string, string> = {};
    response.headers.forEach((value, name) => {
      headers[name] = value;
    });
    const stream = awslambda.HttpResponseStream.from(responseStream, {
      statusCode: response.status,
      headers,
    });
    // A failed write (the client went away) surfaces through `write`'s callback; the 'error' event
    // must not crash the runtime on top of it.
    stream.on('error', () => undefined);
    const reader = response.body?.getReader();
    let done = false;
    let timedOut: Promise<void> | undefined;
    const deadline = setTimeout(
      () => {
        timedOut = reader?.cancel(new Error('function timeout')).catch(() => undefined);
      },
      Math.max(0, context.getRemainingTimeInMillis() - FINISH_MARGIN_MS),
    );
    try {
      while (reader) {
        const chunk = await reader.read();
        if (chunk.done) break;
        await write(stream, chunk.value);
      }
      done = true;
    } catch {
      // Nobody is listening any more; what matters now is the cancel below, which bills what was
      // generated.
    } finally {
      clearTimeout(deadline);
      // Stopped early (write failed, timeout): cancelling runs the body's cancel, which bills what
      // was generated.
      if (timedOut) await timedOut;
      else if (!done) await reader?.cancel().catch(() => undefined);
      stream.end();
    }
  });
}
