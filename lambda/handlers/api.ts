import { handle } from 'hono/aws-lambda';
import { createLambdaApp } from '../http/lambda-app';

// Buffered responses for every route but chat completions. `hono/aws-lambda` is used only in the entry files:
// its exports are marked deprecated in favour of `@hono/aws-lambda`, which is not published yet.
export const handler = handle(createLambdaApp('api'));
