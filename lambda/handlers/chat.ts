import { bundledConfig } from '../config';
import { createLambdaApp } from '../http/lambda-app';
import { streamingHandler } from '../http/lambda-streaming';
import { PromptTokenCounter } from '../inference/prompt-tokens';

// Chat completions with Lambda response streaming (API Gateway `responseTransferMode: STREAM`): SSE
// chunks reach the client as the model produces them. `streamingHandler` touches the `awslambda`
// global, which only exists in Lambda, so it is called here and nowhere else.
export const handler = streamingHandler(createLambdaApp('chat'));

// Load the models' tokenizers (about 8 MB of vocabulary each) in the init phase, not in a
// customer's request.
void new PromptTokenCounter(bundledConfig()).warmUp().catch(() => undefined);
