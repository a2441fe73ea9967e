import { Hono } from 'hono';
import { parseChatRequest } from '../../inference/chat-request';
import { PromptTokenCounter } from '../../inference/prompt-tokens';
import { completionWithReasoning } from '../../inference/reasoning';
import { completionForClient } from '../../openai/response-shapes';
import { type CompletionRenderer, readJsonBody, serveCompletion } from '../completion-pipeline';
import type { ApiDependencies, AppEnv } from '../types';

export { backendFailureToHttp, ClientChunkShaper } from '../completion-pipeline';
export { MAX_REQUEST_BYTES } from '../request-guards';

/** Chat's answer: the completion (or its chunks) with our id, the model called and Groq's `x_groq`. */
function chatRenderer(includeUsage: boolean): CompletionRenderer {
  return {
    body: (completion, { requestId, model, reasoning }) => ({
      ...completionForClient(completionWithReasoning(completion, reasoning)),
      id: `chatcmpl-${requestId}`,
      model,
      x_groq: { id: requestId },
    }),
    stream: () => ({
      transform: (chunk) => [chunk],
      flush: () => [],
      // The official clients raise a `data:` line holding `error` as an APIError.
      error: (body) => body,
      includeUsage,
    }),
  };
}

/** `POST /chat/completions`, streamed (SSE) or not: metered by the completion pipeline. */
export function chatCompletionRoutes(deps: ApiDependencies): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  const promptTokens = deps.promptTokens ?? new PromptTokenCounter(deps.config);

  routes.post('/chat/completions', async (c) => {
    const request = parseChatRequest(await readJsonBody(c));
    const includeUsage = request.stream_options?.include_usage === true;
    return serveCompletion(c, deps, promptTokens, request, chatRenderer(includeUsage));
  });

  return routes;
}
