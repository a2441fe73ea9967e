import type { ResponseItem, ResponseObject } from '../../lambda/openai/shapes/responses';
import { responseFrame } from '../../lambda/responses/response-objects';
import type { StoredResponse } from '../../lambda/responses/responses-repository';
import { parseResponsesRequest } from '../../lambda/responses/responses-request';

/** A completed response `id` to `text` made at `createdAt`, as the repository stores it. */
export function storedResponse(
  id: string,
  text: string,
  createdAt: Date,
  inputItems: ResponseItem[] = [],
): StoredResponse {
  const frame = responseFrame(parseResponsesRequest({ model: 'qwen3-8b', input: text }), {
    responseId: id,
    model: 'qwen3-8b',
    createdAt: Math.floor(createdAt.getTime() / 1000),
  });
  const response: ResponseObject = {
    ...frame,
    status: 'completed',
    completed_at: frame.created_at,
    error: null,
    incomplete_details: null,
    output: [],
  };
  return { response, inputItems, conversation: [{ role: 'user', content: text }] };
}
