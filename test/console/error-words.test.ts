import { explainError } from '../../console/src/api-client';
import { errorWords, fieldName, isPlainMessage } from '../../console/src/error-words';
import { GATEWAY_MESSAGES } from '../../lambda/openai/gateway-messages';

/** Words a customer could not act on: header names, API paths, HTTP verbs, a field nobody marked. */
const JARGON = /retry-after|x-ratelimit|\/v1\/|\bGET \/|\bPOST \/|highlighted/i;

describe('console error words', () => {
  it.each([
    [401, 'invalid_api_key', null, 'Invalid API Key', 'This API key is not accepted'],
    [429, 'insufficient_quota', null, 'spend', 'Your monthly spend limit is reached'],
    [429, 'rate_limit_exceeded', null, GATEWAY_MESSAGES.throttled, 'Rate limit reached'],
    [429, 'rate_limit_exceeded', null, GATEWAY_MESSAGES.quotaExceeded, 'Rate limit reached'],
    [
      400,
      'context_length_exceeded',
      'messages',
      'x',
      'The conversation is too long for this model',
    ],
    [404, 'model_not_found', 'model', 'The model `ft:x` does not exist', 'Model not found'],
    [403, 'model_not_available_on_tier', 'model', 'tier', 'Not available on your plan'],
    [403, 'batch_not_available_on_tier', null, 'tier', 'Not available on your plan'],
    [400, 'storage_quota_exceeded', null, 'quota', 'Your storage is full'],
    [400, 'invalid_file_purpose', 'input_file_id', 'purpose', 'The file was not accepted'],
    [400, 'too_many_open_batches', null, 'open', 'Too many batches running'],
    [413, 'request_too_large', null, 'Request body too large', 'Request too large for your limits'],
    [
      400,
      'invalid_value',
      'temperature',
      "'temperature' must be at most 2.",
      'The request was not accepted',
    ],
    [503, 'model_unavailable', null, 'scaling', 'The model is starting or busy'],
    [500, 'internal_error', null, 'Quote request id r1', 'The service had a problem'],
  ])(
    'HTTP %i %s: worded without headers, paths or a highlighted field',
    (status, code, param, message, title) => {
      const words = errorWords({ status, code, param, message, type: 'requests' });
      expect(words.title).toBe(title);
      expect(`${words.title} ${words.sentence} ${words.advice}`).not.toMatch(JARGON);
      expect(words.sentence.length).toBeGreaterThan(10);
    },
  );

  it('names the field at fault in words and shows a plain API message, never a jargon one', () => {
    expect(
      errorWords({
        status: 400,
        code: 'invalid_value',
        param: 'top_p',
        message: 'must be at most 1.',
      }),
    ).toEqual({
      title: 'The request was not accepted',
      sentence: 'The value of top P is not accepted. must be at most 1.',
      advice: 'Change top P and try again.',
    });
    const unknown = errorWords({
      status: 400,
      code: 'invalid_value',
      param: 'seed',
      message: "Invalid 'seed': see GET /v1/models",
    });
    expect(unknown.sentence).toBe('Something in the request is not accepted.');
    expect(unknown.advice).toBe('Check what you entered and try again.');
    expect(fieldName('messages[2].content')).toBe('the conversation');
    expect(
      errorWords({
        status: 400,
        code: 'unsupported_parameter',
        param: 'text.format',
        message: "'text.format' is not supported by model `m` on this deployment.",
      }),
    ).toEqual({
      title: 'Not supported by this model',
      sentence: 'This model does not support JSON mode.',
      advice: 'Clear or turn off JSON mode, or pick another model, and try again.',
    });
    expect(isPlainMessage("'temperature' must be at most 2.")).toBe(true);
    expect(
      isPlainMessage("Please retry after the number of seconds in the 'retry-after' header."),
    ).toBe(false);
    expect(isPlainMessage('max_completion_tokens is too large')).toBe(false);
  });

  it('says which limit a 429 hit and when to try again, from retry-after', () => {
    const error = explainError(
      429,
      {
        error: { message: GATEWAY_MESSAGES.throttled, type: 'tokens', code: 'rate_limit_exceeded' },
      },
      new Headers({ 'retry-after': '7' }),
    );
    expect(error.sentence).toBe('You have used all the tokens your plan allows for now.');
    expect(error.advice).toBe("Try again in 7 s. Your plan's limits are on the Plan page.");
    // The API's own message is kept for logs and code, not shown.
    expect(error.message).toBe(GATEWAY_MESSAGES.throttled);
  });

  it('tells the four permission refusals apart, each with what to use instead', () => {
    const words = (message: string) =>
      errorWords({ status: 403, code: 'insufficient_permissions', param: null, message });
    expect(
      words(
        'Admin keys manage the organization and cannot be used for files: use a project API key instead.',
      ).advice,
    ).toBe('Sign in with a project API key (tl_…) to use the playground, files and batches.');
    expect(words('Only an owner of this organization can do this: ask an owner.').title).toBe(
      'Only an owner can do this',
    );
    expect(
      words('This API key has read-only access to files: use a key with write access').sentence,
    ).toBe("This key's permissions do not allow this.");
    expect(
      words('This is a project API key, for inference only: it cannot manage API keys.').advice,
    ).toMatch(/admin key \(tl_admin_…\)/);
  });
});
