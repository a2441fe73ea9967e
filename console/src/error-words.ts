/**
 * An API error in a customer's words: a title, a sentence that says what happened, and what to do.
 * The API's own message is written for programs (it names headers such as `retry-after`, paths
 * such as `GET /v1/me`, parameters such as `top_p`), so the console words each error code itself
 * and shows the API's message only when it holds none of those. Pure (no DOM), unit-tested in
 * test/console/.
 */

export interface ErrorFacts {
  status: number;
  code: string | null;
  /** OpenAI's `type`: on a 429, which limit (`requests`, `tokens`, `audio_seconds`). */
  type?: string | null;
  param: string | null;
  message: string;
  /** `retry-after` already in words (`7 s`), when the API sent one. */
  wait?: string;
  requestId?: string;
}

export interface ErrorWords {
  title: string;
  sentence: string;
  advice: string;
}

/** The console's names for the request fields an error can name (OpenAI's `param`). */
const FIELD_NAMES: Record<string, string> = {
  model: 'the model',
  messages: 'the conversation',
  input: 'the conversation',
  instructions: 'the system prompt',
  temperature: 'the temperature',
  top_p: 'top P',
  stop: 'the stop sequences',
  max_tokens: 'max tokens',
  max_completion_tokens: 'max tokens',
  max_output_tokens: 'max tokens',
  response_format: 'JSON mode',
  text: 'JSON mode',
  monthly_limit_usd: 'the monthly limit',
  name: 'the name',
  file: 'the file',
  purpose: 'the purpose',
  input_file_id: 'the input file',
  endpoint: 'the endpoint',
  completion_window: 'the completion window',
};

/** The field an error names, in words; `messages[2].content` is the conversation. */
export function fieldName(param: string | null): string | undefined {
  if (!param) return undefined;
  const root = param.split(/[.[]/)[0] ?? param;
  return FIELD_NAMES[param] ?? FIELD_NAMES[root];
}

/** Whether the API's message can be shown as it is: no header, path, HTTP verb or parameter jargon. */
export function isPlainMessage(message: string): boolean {
  return !/\/v1\b|\bv1\/|\b(GET|POST|PUT|DELETE)\s+\/|header|x-[a-z]+-|retry-after|\b[a-z]+_[a-z_]+\b|`/i.test(
    message,
  );
}

type Wording = (facts: ErrorFacts) => ErrorWords;

const notOnPlan =
  (feature: string): Wording =>
  () => ({
    title: 'Not available on your plan',
    sentence: `${feature} is not part of your plan.`,
    advice: 'The Plan page shows what each plan includes and how to upgrade.',
  });

const fileRefused =
  (sentence: string): Wording =>
  () => ({
    title: 'The file was not accepted',
    sentence,
    advice: 'Fix the file and upload it again.',
  });

/**
 * `insufficient_permissions` has one code for four refusals, told apart only by the API's message
 * (lambda/accounts/authorization.ts): an admin key at a model or file route, a member at an owner's
 * action, a key restricted to read or nothing, a project key at an account route.
 */
function permissionWords({ message }: ErrorFacts): ErrorWords {
  const title = 'This key cannot do this';
  if (message.startsWith('Admin keys manage')) {
    return {
      title,
      sentence:
        'You are signed in with an admin key: it manages the account, but cannot run models or use files and batches.',
      advice: 'Sign in with a project API key (tl_…) to use the playground, files and batches.',
    };
  }
  if (message.startsWith('Only an owner')) {
    return {
      title: 'Only an owner can do this',
      sentence: 'Only an owner of this organization can do this.',
      advice: 'Ask an owner to do it, or to make you one.',
    };
  }
  if (/read-only|no access/.test(message)) {
    return {
      title,
      sentence: "This key's permissions do not allow this.",
      advice: "Use a key with write access here, or ask an owner to change this key's permissions.",
    };
  }
  return {
    title,
    sentence: 'The key you signed in with runs models; it cannot manage the account.',
    advice:
      'API keys run models; keys and the spend limit are managed with an admin key (tl_admin_…), which an owner or your operator creates. Sign in with the key meant for this.',
  };
}

/** Codes whose meaning does not depend on the request: one wording each. */
const BY_CODE: Record<string, Wording> = {
  insufficient_quota: () => ({
    title: 'Your monthly spend limit is reached',
    sentence:
      'Requests that would cost more than the limit allows are refused until the next month starts (UTC).',
    advice: 'Raise or remove the limit on the Spend limit page, or wait for the next month.',
  }),
  insufficient_permissions: permissionWords,
  model_not_available_on_tier: notOnPlan('This model'),
  batch_not_available_on_tier: notOnPlan('The Batch API'),
  fine_tuning_not_available_on_tier: notOnPlan('Fine-tuning'),
  lora_not_available_on_tier: notOnPlan('Serving your own fine-tuned models'),
  spend_limit_not_available: notOnPlan('A spend limit'),
  model_not_found: () => ({
    title: 'Model not found',
    sentence: 'No model of your account has this name.',
    advice: 'Pick a model from the list; the Plan page lists the models of your plan.',
  }),
  context_length_exceeded: () => ({
    title: 'The conversation is too long for this model',
    sentence: 'The messages and the reply together are longer than the model can read at once.',
    advice: 'Start a new conversation, shorten the messages or lower max tokens.',
  }),
  request_too_large: () => ({
    title: 'Request too large for your limits',
    sentence: 'This request is larger than your plan lets one request be.',
    advice: 'Shorten the prompt or lower max tokens.',
  }),
  storage_quota_exceeded: () => ({
    title: 'Your storage is full',
    sentence: 'Your files and stored responses already take all the storage your plan includes.',
    advice: 'Delete files or stored responses you no longer need, then try again.',
  }),
  too_many_open_batches: () => ({
    title: 'Too many batches running',
    sentence: 'You have as many batches running as your plan allows.',
    advice: 'Wait for one to finish, or cancel one, then create this one.',
  }),
  too_many_keys: () => ({
    title: 'Too many keys',
    sentence: 'Your account has as many keys as it may have.',
    advice: 'Revoke a key you no longer use, then create the new one.',
  }),
  primary_key_not_revocable: () => ({
    title: 'This key cannot be revoked',
    sentence: 'It is the first key of your account, which the console and your operator rely on.',
    advice: 'Revoke other keys instead, or ask your operator to replace this one.',
  }),
  file_not_found: () => ({
    title: 'File not found',
    sentence: 'No file of your account has this id: it may have been deleted.',
    advice: 'Pick a file from the Files page.',
  }),
  invalid_file_purpose: fileRefused(
    'This file was uploaded for another use: a batch needs a file uploaded for batches.',
  ),
  too_many_lines: fileRefused('The file has more requests than one batch may hold.'),
  duplicate_custom_id: fileRefused('Two requests in the file have the same custom id.'),
  invalid_file: fileRefused('The file is not a list of requests, one JSON object a line.'),
};

/** 400s about one field: the field named in words, the API's message where it reads plainly. */
function fieldWords(facts: ErrorFacts): ErrorWords {
  const field = fieldName(facts.param);
  if (field && facts.code === 'unsupported_parameter') {
    return {
      title: 'Not supported by this model',
      sentence: `This model does not support ${field}.`,
      advice: `Clear or turn off ${field}, or pick another model, and try again.`,
    };
  }
  const detail = isPlainMessage(facts.message) ? ` ${facts.message}` : '';
  return {
    title: 'The request was not accepted',
    sentence: field
      ? `The value of ${field} is not accepted.${detail}`
      : `Something in the request is not accepted.${detail}`,
    advice: field ? `Change ${field} and try again.` : 'Check what you entered and try again.',
  };
}

function rateLimitWords({ type, wait }: ErrorFacts): ErrorWords {
  const what =
    type === 'tokens' ? 'tokens' : type === 'audio_seconds' ? 'seconds of audio' : 'requests';
  return {
    title: 'Rate limit reached',
    sentence: `You have used all the ${what} your plan allows for now.`,
    advice: wait
      ? `Try again in ${wait}. Your plan's limits are on the Plan page.`
      : "Wait a moment and try again. Your plan's limits are on the Plan page.",
  };
}

/** Words for a failed request: by its code where the code says it all, else by its status. */
export function errorWords(facts: ErrorFacts): ErrorWords {
  const { status, code, wait, requestId } = facts;
  if (status === 401) {
    return {
      title: 'This API key is not accepted',
      sentence: 'The key is not one this service knows.',
      advice:
        'It may be mistyped, revoked or replaced. Check the key, sign in with another one, or ask your operator for a new key.',
    };
  }
  const byCode = code ? BY_CODE[code] : undefined;
  if (byCode) return byCode(facts);
  if (status === 429) return rateLimitWords(facts);
  if (status === 413) return BY_CODE.request_too_large?.(facts) as ErrorWords;
  if (status === 403) return notOnPlan('This')(facts);
  if (status === 404) {
    return {
      title: 'Not found',
      sentence: 'It does not exist, or it belongs to another account.',
      advice: 'It may have been removed. Reload the page.',
    };
  }
  if (status >= 400 && status < 500) return fieldWords(facts);
  if (status === 503) {
    return {
      title: 'The model is starting or busy',
      sentence: 'The model cannot answer right now.',
      advice: wait
        ? `Try again in ${wait}.`
        : 'Try again in a few minutes: a model that was idle takes minutes to start.',
    };
  }
  return {
    title: 'The service had a problem',
    sentence: 'The request failed on our side, not because of what you sent.',
    advice: `Try again in a moment. If it keeps happening, tell your operator the request id${requestId ? ` ${requestId}` : ''}.`,
  };
}
