import type { Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { HttpError } from '../lambda/openai/errors';

/**
 * Node's HTTP parser refuses some requests before any app code runs: headers over its limit (16 KB
 * by default, `--max-http-header-size`) and bytes no header may hold (a NUL). Node would answer
 * with an empty body; this answers the OpenAI error shape, as every other error of the API.
 */
export function answerMalformedRequestsInOpenAIShape(server: Server): void {
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    if (error.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const tooLarge = error.code === 'HPE_HEADER_OVERFLOW';
    const status = tooLarge ? 431 : 400;
    const body = JSON.stringify(
      new HttpError(
        status,
        'invalid_request_error',
        tooLarge
          ? 'Request headers too large: send at most 16 KB of headers in all.'
          : 'Malformed HTTP request: a header or the request line holds a character HTTP does not allow (such as NUL).',
        { code: tooLarge ? 'request_header_fields_too_large' : 'malformed_request' },
      ).toBody(),
    );
    const reason = tooLarge ? 'Request Header Fields Too Large' : 'Bad Request';
    socket.end(
      `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\n` +
        `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  });
}
