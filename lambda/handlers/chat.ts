import { streamHandle } from 'hono/aws-lambda';
import { createLambdaApp } from '../adapters/lambda-app';

// Chat completions with Lambda response streaming (API Gateway `responseTransferMode: STREAM`): SSE chunks
// reach the client as the model produces them. `streamHandle` touches the `awslambda` global, which only
// exists in Lambda, so it is called here and nowhere else.
export const handler = streamHandle(createLambdaApp('chat'));
