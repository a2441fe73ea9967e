import { handle } from 'hono/aws-lambda';
import { createLambdaApp, isBinaryResponse } from '../http/lambda-app';

// Buffered responses for every route but chat completions. `hono/aws-lambda` is used only in the
// entry files and the Lambda adapters: its exports are marked deprecated in favour of
// `@hono/aws-lambda`, not published yet.
export const handler = handle(createLambdaApp('api', { files: true }), {
  isContentTypeBinary: isBinaryResponse,
});
