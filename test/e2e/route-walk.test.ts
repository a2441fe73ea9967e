import { isAdministrativePath } from '../../lambda/accounts/authorization';
import { MembershipsRepository } from '../../lambda/accounts/memberships';
import { defaultProjectId } from '../../lambda/customers/key-permissions';
import { TestModelBackend } from '../../lambda/inference/backends/test-model-backend';
import { loadConfig } from '../../lib/config/load';
import { LOCAL_CUSTOMERS_TABLE, type LocalMode, startLocalMode } from '../../local/local-mode';
import { adapterFiles, entriesOf, zipOf } from '../support/adapters';
import { wavFile } from '../support/audio-files';
import { localModeDocumentClient } from '../support/dynalite';
import { signedInUser } from '../support/local-sign-in';
import { apiSpecs, expectSpecCompliance, specCheckedFetch } from '../support/spec-check';

/**
 * Walks every operation of Tierline's `/openapi.json` with a valid request and with invalid ones,
 * under both prefixes, and validates each answer (spec check). Valid request bodies are also
 * validated against the request schemas of both documents, so what Tierline accepts is what
 * OpenAI's spec allows. A route added to the app but not to the document (or the other way round)
 * fails here.
 */

const MODEL = 'qwen3-8b';
const architectureOf = (model: string) => {
  const architecture = loadConfig({ env: 'dev' }).models[model]?.architecture;
  if (!architecture) throw new Error(`${model} takes no adapters`);
  return architecture;
};
const chat = {
  model: MODEL,
  messages: [{ role: 'user', content: 'Walk' }],
  max_completion_tokens: 5,
};

const JSONL = `${JSON.stringify({ custom_id: 'a', method: 'POST', url: '/v1/chat/completions', body: chat })}\n`;
const fileForm = () => {
  const form = new FormData();
  form.set('purpose', 'batch');
  form.set('file', new Blob([JSONL]), 'walk.jsonl');
  return form;
};
/** Two seconds of speech-to-text input, made in code (audio-files.ts). */
const audioForm = (model: string) => {
  const form = new FormData();
  form.set('model', model);
  form.set('file', new Blob([new Uint8Array(wavFile({ seconds: 2 }))]), 'walk.wav');
  return form;
};
/** A PEFT adapter (zip) for `/v1/fine_tunings`, made once before the walk. */
let adapterZip: Buffer;
const adapterForm = () => {
  const form = new FormData();
  form.set('purpose', 'fine-tune');
  form.set('file', new Blob([new Uint8Array(adapterZip)]), 'adapter.zip');
  return form;
};
const register = (name: string) => ({
  input_file_id: '{adapter}',
  name,
  type: 'lora',
  base_model: MODEL,
});
const partForm = () => {
  const form = new FormData();
  form.set('data', new Blob([JSONL]), 'part');
  return form;
};

interface Walk {
  /** `{file}`, `{file2}`, `{upload}`, `{upload2}`, `{upload3}` and `{part}` are objects made before the walk. */
  path: string;
  query?: string;
  body?: unknown;
  form?: () => FormData;
  /** Requests that must be refused with this 4xx status. */
  invalid: {
    body?: unknown;
    raw?: string;
    query?: string;
    path?: string;
    noKey?: boolean;
    status: number;
  }[];
  public?: boolean;
  /** Not repeatable on the same object (delete, cancel): walked under `/v1` only. */
  once?: boolean;
  /** Served under `/v1` only (`x-v1-only` in the document; Groq does not serve it). */
  v1Only?: boolean;
  /** Made again right before each valid request (a batch still running when it is cancelled). */
  fresh?: 'batch2';
  /** Runs right before the valid request (the subscription a downgrade ends). */
  prepare?: (local: LocalMode) => Promise<void>;
  /** The 2xx a valid request gets. @default 200 */
  status?: number;
}

/** One entry per operation of the document (`METHOD path`); the test below fails when one is missing. */
/** A spend alert's body, as OpenAI's `CreateSpendAlertBody` has it. */
const WALK_ALERT = {
  threshold_amount: 1_000,
  currency: 'USD',
  interval: 'month',
  notification_channel: { type: 'email', recipients: ['walk@route-walk.test'] },
};

const WALKS: Record<string, Walk> = {
  'GET /v1/plans': { path: '/v1/plans', public: true, invalid: [] },
  'GET /v1/me': { path: '/v1/me', invalid: [{ noKey: true, status: 401 }] },
  // A console session's (keyFor): the walk's user signs up its Free organization.
  'POST /v1/account/organizations': {
    path: '/v1/account/organizations',
    body: { name: 'Walk organization' },
    invalid: [
      { noKey: true, status: 401 },
      { body: { name: '' }, status: 400 },
      { body: { name: 'x', plan: 'enterprise' }, status: 400 },
      { raw: 'not json', status: 400 },
    ],
  },
  'GET /v1/account/organizations': {
    path: '/v1/account/organizations',
    invalid: [{ noKey: true, status: 401 }],
  },
  'GET /v1/models': { path: '/v1/models', invalid: [{ noKey: true, status: 401 }] },
  'GET /v1/models/{model}': {
    path: `/v1/models/${MODEL}`,
    invalid: [
      { path: '/v1/models/gpt-9', status: 404 },
      { path: '/v1/models/constructor', status: 404 },
    ],
  },
  'DELETE /v1/models/{model}': {
    path: '/v1/models/{ftmodel}',
    once: true,
    invalid: [
      { path: '/v1/models/ft:qwen3-8b:nobody:x:nope', status: 404 },
      { path: `/v1/models/${MODEL}`, status: 400 },
    ],
  },
  'GET /v1/fine_tunings': { path: '/v1/fine_tunings', invalid: [{ noKey: true, status: 401 }] },
  'POST /v1/fine_tunings': {
    path: '/v1/fine_tunings',
    body: register('walk'),
    invalid: [
      { body: { ...register('walk'), base_model: 'gpt-9' }, status: 404 },
      { body: { ...register('walk'), type: 'full' }, status: 400 },
      { body: { ...register('walk'), input_file_id: '{file}' }, status: 400 },
      { raw: '{"input_file_id":', status: 400 },
    ],
  },
  'GET /v1/fine_tunings/{fine_tuning_id}': {
    path: '/v1/fine_tunings/{ftune}',
    invalid: [
      { path: '/v1/fine_tunings/ftune_nope', status: 404 },
      { path: '/v1/fine_tunings/constructor', status: 404 },
    ],
  },
  'DELETE /v1/fine_tunings/{fine_tuning_id}': {
    path: '/v1/fine_tunings/{ftune2}',
    once: true,
    invalid: [{ path: '/v1/fine_tunings/ftune_nope', status: 404 }],
  },
  'POST /v1/chat/completions': {
    path: '/v1/chat/completions',
    body: chat,
    invalid: [
      { body: { ...chat, temperature: 'hot' }, status: 400 },
      { body: { ...chat, messages: [] }, status: 400 },
      { body: { model: MODEL }, status: 400 },
      { raw: '{"model":', status: 400 },
      { body: chat, noKey: true, status: 401 },
      { body: { ...chat, model: 'gpt-9' }, status: 404 },
    ],
  },
  'POST /v1/responses': {
    path: '/v1/responses',
    body: { model: MODEL, input: 'Walk?' },
    invalid: [
      { body: { model: MODEL, input: [] }, status: 400 },
      { body: { model: MODEL, input: 'Walk?', temperature: 'hot' }, status: 400 },
      { body: { model: MODEL, input: 'Walk?', background: true }, status: 400 },
      { body: { model: MODEL, input: 'Walk?', previous_response_id: 'resp_nope' }, status: 404 },
      { body: { model: 'gpt-9', input: 'Walk?' }, status: 404 },
      { raw: '{"model":', status: 400 },
      { body: { model: MODEL, input: 'Walk?' }, noKey: true, status: 401 },
    ],
  },
  'POST /v1/responses/input_tokens': {
    path: '/v1/responses/input_tokens',
    v1Only: true,
    body: { model: MODEL, input: 'Walk?' },
    invalid: [
      { body: { model: MODEL }, status: 400 },
      { body: { model: MODEL, input: 'Walk?', max_output_tokens: 5 }, status: 400 },
      { body: { model: 'gpt-9', input: 'Walk?' }, status: 404 },
    ],
  },
  'GET /v1/responses/{response_id}': {
    path: '/v1/responses/{response}',
    v1Only: true,
    invalid: [
      { path: '/v1/responses/resp_nope', status: 404 },
      { path: '/v1/responses/constructor', status: 404 },
      // Longer than DynamoDB's 1 KB sort key: refused without a read.
      { path: `/v1/responses/resp_${'a'.repeat(2_000)}`, status: 404 },
    ],
  },
  'GET /v1/responses/{response_id}/input_items': {
    path: '/v1/responses/{response}/input_items',
    v1Only: true,
    query: 'order=asc&limit=1',
    invalid: [
      { path: '/v1/responses/resp_nope/input_items', status: 404 },
      { query: 'limit=0', status: 400 },
      { query: 'order=sideways', status: 400 },
      { query: 'after=msg_nope', status: 400 },
    ],
  },
  'DELETE /v1/responses/{response_id}': {
    path: '/v1/responses/{response2}',
    once: true,
    invalid: [{ path: '/v1/responses/resp_nope', status: 404 }],
  },
  'POST /v1/audio/transcriptions': {
    path: '/v1/audio/transcriptions',
    form: () => audioForm('whisper-large-v3-turbo'),
    invalid: [
      { body: { model: 'whisper-large-v3-turbo' }, status: 400 },
      { body: {}, noKey: true, status: 401 },
    ],
  },
  'POST /v1/audio/translations': {
    path: '/v1/audio/translations',
    form: () => audioForm('whisper-large-v3'),
    invalid: [
      { body: { model: 'whisper-large-v3' }, status: 400 },
      { body: {}, noKey: true, status: 401 },
    ],
  },
  'GET /v1/usage': {
    path: '/v1/usage',
    query: 'group_by=model',
    invalid: [{ query: 'group_by=year', status: 400 }],
  },
  'GET /v1/spend_limit': { path: '/v1/spend_limit', invalid: [{ noKey: true, status: 401 }] },
  'PUT /v1/spend_limit': {
    path: '/v1/spend_limit',
    body: { monthly_limit_usd: 25 },
    invalid: [
      { body: { monthly_limit_usd: 'lots' }, status: 400 },
      { body: { monthly_limit_usd: -1 }, status: 400 },
      { body: {}, status: 400 },
      { raw: 'null', status: 400 },
    ],
  },
  'GET /v1/billing': { path: '/v1/billing', invalid: [{ noKey: true, status: 401 }] },
  'POST /v1/billing/checkout': {
    path: '/v1/billing/checkout',
    body: { success_url: 'http://console.test/#/billing', cancel_url: 'http://console.test/' },
    invalid: [
      { body: { success_url: 'javascript:alert(1)', cancel_url: 'http://c.test/' }, status: 400 },
      { body: { success_url: 'http://c.test/' }, status: 400 },
      { body: { success_url: 'http://c.test/', cancel_url: 'http://c.test/', x: 1 }, status: 400 },
      { raw: '[]', status: 400 },
    ],
  },
  'POST /v1/billing/cancel': {
    path: '/v1/billing/cancel',
    once: true,
    // The downgrade ends a subscription: the demo developer saves a payment method first, through
    // the embedded provider's checkout page.
    prepare: async (local) => {
      const developer = local.demoCustomers.find((d) => d.tier === 'developer');
      const session = await local.billing.service.startUpgrade(
        { customerId: developer?.customerId ?? '', tier: 'developer' },
        { successUrl: 'http://console.test/', cancelUrl: 'http://console.test/' },
      );
      await fetch(session.url, { method: 'POST', redirect: 'manual' });
    },
    // Nothing to end: a second downgrade.
    invalid: [{ status: 400 }],
  },
  'GET /openapi.json': { path: '/openapi.json', public: true, invalid: [] },
  'GET /v1/files': { path: '/v1/files', invalid: [{ query: 'order=sideways', status: 400 }] },
  'POST /v1/files': {
    path: '/v1/files',
    form: fileForm,
    invalid: [{ body: { purpose: 'batch' }, status: 400 }],
  },
  'GET /v1/files/{file_id}': {
    path: '/v1/files/{file}',
    invalid: [{ path: '/v1/files/file-nope', status: 404 }],
  },
  'GET /v1/files/{file_id}/content': {
    path: '/v1/files/{file}/content',
    invalid: [{ path: '/v1/files/file-nope/content', status: 404 }],
  },
  'DELETE /v1/files/{file_id}': {
    path: '/v1/files/{file2}',
    once: true,
    invalid: [{ path: '/v1/files/file-nope', status: 404 }],
  },
  'POST /v1/uploads': {
    path: '/v1/uploads',
    body: {
      filename: 'u.jsonl',
      purpose: 'batch',
      bytes: JSONL.length,
      mime_type: 'application/jsonl',
    },
    invalid: [
      {
        body: { filename: 'u.jsonl', purpose: 'nonsense', bytes: 1, mime_type: 'text/plain' },
        status: 400,
      },
    ],
  },
  'POST /v1/uploads/{upload_id}/parts': {
    path: '/v1/uploads/{upload}/parts',
    form: partForm,
    invalid: [{ path: '/v1/uploads/upload_nope/parts', status: 400 }],
  },
  'POST /v1/uploads/{upload_id}/complete': {
    path: '/v1/uploads/{upload2}/complete',
    body: { part_ids: ['{part}'] },
    invalid: [{ path: '/v1/uploads/upload_nope/complete', body: { part_ids: [] }, status: 404 }],
  },
  'GET /v1/batches': { path: '/v1/batches', invalid: [{ query: 'limit=0', status: 400 }] },
  'POST /v1/batches': {
    path: '/v1/batches',
    body: { input_file_id: '{file}', endpoint: '/v1/chat/completions', completion_window: '24h' },
    invalid: [
      {
        body: { input_file_id: '{file}', endpoint: '/v1/embeddings', completion_window: '24h' },
        status: 400,
      },
      {
        body: {
          input_file_id: 'file-nope',
          endpoint: '/v1/chat/completions',
          completion_window: '24h',
        },
        status: 404,
      },
    ],
  },
  'GET /v1/batches/{batch_id}': {
    path: '/v1/batches/{batch}',
    invalid: [{ path: '/v1/batches/batch_nope', status: 404 }],
  },
  'POST /v1/batches/{batch_id}/cancel': {
    path: '/v1/batches/{batch2}/cancel',
    fresh: 'batch2',
    invalid: [{ path: '/v1/batches/batch_nope/cancel', status: 404 }],
  },
  'GET /v1/fine_tuning/jobs': {
    path: '/v1/fine_tuning/jobs',
    invalid: [{ query: 'limit=0', status: 400 }],
  },
  'POST /v1/fine_tuning/jobs': {
    path: '/v1/fine_tuning/jobs',
    body: { model: MODEL, training_file: '{ftfile}', suffix: 'walk' },
    invalid: [
      { body: { model: 'gpt-9', training_file: '{ftfile}' }, status: 400 },
      { body: { model: MODEL, training_file: '{file}' }, status: 400 }, // purpose batch
      { body: { model: MODEL, training_file: 'file-nope' }, status: 404 },
      { raw: 'not json', status: 400 },
    ],
  },
  'GET /v1/fine_tuning/jobs/{fine_tuning_job_id}': {
    path: '/v1/fine_tuning/jobs/{ftjob}',
    invalid: [{ path: '/v1/fine_tuning/jobs/ftjob-nope', status: 404 }],
  },
  'GET /v1/fine_tuning/jobs/{fine_tuning_job_id}/events': {
    path: '/v1/fine_tuning/jobs/{ftjob}/events',
    invalid: [
      { path: '/v1/fine_tuning/jobs/ftjob-nope/events', status: 404 },
      { query: 'limit=101', status: 400 },
    ],
  },
  'GET /v1/fine_tuning/jobs/{fine_tuning_job_id}/checkpoints': {
    path: '/v1/fine_tuning/jobs/{ftjob}/checkpoints',
    invalid: [{ path: '/v1/fine_tuning/jobs/ftjob-nope/checkpoints', status: 404 }],
  },
  'POST /v1/fine_tuning/jobs/{fine_tuning_job_id}/cancel': {
    path: '/v1/fine_tuning/jobs/{ftjob2}/cancel',
    once: true,
    invalid: [
      { path: '/v1/fine_tuning/jobs/ftjob-nope/cancel', status: 404 },
      { path: '/v1/fine_tuning/jobs/{ftjob3}/cancel', status: 400 }, // already failed
    ],
  },
  'GET /v1/keys': { path: '/v1/keys', invalid: [{ noKey: true, status: 401 }] },
  'POST /v1/keys': {
    path: '/v1/keys',
    body: { name: 'walk' },
    invalid: [
      { body: { name: 42 }, status: 400 },
      { raw: 'not json', status: 400 },
    ],
  },
  'DELETE /v1/keys/{key_id}': {
    path: '/v1/keys/{key}',
    once: true,
    invalid: [{ path: '/v1/keys/key_nope', status: 404 }],
  },
  'GET /v1/limits': { path: '/v1/limits', invalid: [{ noKey: true, status: 401 }] },
  // The administration API, walked with the customer's admin key (`keyFor`).
  'GET /v1/organization/projects': {
    path: '/v1/organization/projects',
    query: 'limit=5&include_archived=true',
    invalid: [{ query: 'limit=0', status: 400 }],
  },
  'POST /v1/organization/projects': {
    path: '/v1/organization/projects',
    body: { name: 'walk' },
    invalid: [
      { body: { name: '' }, status: 400 },
      { raw: 'not json', status: 400 },
    ],
  },
  'GET /v1/organization/projects/{project_id}': {
    path: '/v1/organization/projects/{project}',
    invalid: [{ path: '/v1/organization/projects/proj_nope', status: 404 }],
  },
  'POST /v1/organization/projects/{project_id}': {
    path: '/v1/organization/projects/{project}',
    body: { name: 'walk renamed' },
    invalid: [
      { path: '/v1/organization/projects/proj_nope', body: { name: 'x' }, status: 404 },
      { body: { name: 5 }, status: 400 },
    ],
  },
  'POST /v1/organization/projects/{project_id}/archive': {
    path: '/v1/organization/projects/{project2}/archive',
    invalid: [{ path: '/v1/organization/projects/{defaultproject}/archive', status: 400 }],
  },
  'GET /v1/organization/projects/{project_id}/api_keys': {
    path: '/v1/organization/projects/{defaultproject}/api_keys',
    invalid: [{ path: '/v1/organization/projects/proj_nope/api_keys', status: 404 }],
  },
  'GET /v1/organization/projects/{project_id}/api_keys/{api_key_id}': {
    path: '/v1/organization/projects/{defaultproject}/api_keys/{pkey}',
    invalid: [
      { path: '/v1/organization/projects/{defaultproject}/api_keys/key_nope', status: 404 },
    ],
  },
  'DELETE /v1/organization/projects/{project_id}/api_keys/{api_key_id}': {
    path: '/v1/organization/projects/{defaultproject}/api_keys/{pkey2}',
    once: true,
    invalid: [
      { path: '/v1/organization/projects/{defaultproject}/api_keys/key_nope', status: 404 },
    ],
  },
  'GET /v1/organization/projects/{project_id}/rate_limits': {
    path: '/v1/organization/projects/{project}/rate_limits',
    invalid: [{ path: '/v1/organization/projects/proj_nope/rate_limits', status: 404 }],
  },
  'POST /v1/organization/projects/{project_id}/rate_limits/{rate_limit_id}': {
    path: '/v1/organization/projects/{project}/rate_limits/rl-qwen3-8b',
    body: { max_requests_per_1_day: 10_000 },
    invalid: [
      { body: { max_requests_per_1_day: 1e12 }, status: 400 },
      { body: { max_tokens_per_1_minute: 'many' }, status: 400 },
      { path: '/v1/organization/projects/{project}/rate_limits/rl-nope', body: {}, status: 404 },
    ],
  },
  'POST /v1/organization/projects/{project_id}/spend_limit': {
    path: '/v1/organization/projects/{project}/spend_limit',
    body: { threshold_amount: 500, currency: 'USD', interval: 'month' },
    invalid: [
      { body: { threshold_amount: 0, currency: 'USD', interval: 'month' }, status: 400 },
      { body: { threshold_amount: 5, currency: 'EUR', interval: 'month' }, status: 400 },
      {
        path: '/v1/organization/projects/proj_nope/spend_limit',
        body: { threshold_amount: 500, currency: 'USD', interval: 'month' },
        status: 404,
      },
    ],
  },
  'GET /v1/organization/projects/{project_id}/spend_limit': {
    path: '/v1/organization/projects/{project}/spend_limit',
    invalid: [{ path: '/v1/organization/projects/proj_nope/spend_limit', status: 404 }],
  },
  'DELETE /v1/organization/projects/{project_id}/spend_limit': {
    path: '/v1/organization/projects/{project2}/spend_limit',
    invalid: [{ path: '/v1/organization/projects/proj_nope/spend_limit', status: 404 }],
  },
  'POST /v1/organization/spend_limit': {
    path: '/v1/organization/spend_limit',
    body: { threshold_amount: 100_000, currency: 'USD', interval: 'month' },
    invalid: [
      { body: { threshold_amount: 0, currency: 'USD', interval: 'month' }, status: 400 },
      { body: { threshold_amount: 5, currency: 'USD', interval: 'week' }, status: 400 },
      { body: { threshold_amount: 1e12, currency: 'USD', interval: 'month' }, status: 400 },
      {
        body: { threshold_amount: 5, currency: 'USD', interval: 'month' },
        noKey: true,
        status: 401,
      },
    ],
  },
  'GET /v1/organization/spend_limit': {
    path: '/v1/organization/spend_limit',
    invalid: [{ noKey: true, status: 401 }],
  },
  'DELETE /v1/organization/spend_limit': {
    path: '/v1/organization/spend_limit',
    invalid: [{ noKey: true, status: 401 }],
  },
  'GET /v1/organization/spend_alerts': {
    path: '/v1/organization/spend_alerts',
    query: 'limit=2&order=desc',
    invalid: [
      { query: 'limit=101', status: 400 },
      { query: 'order=sideways', status: 400 },
    ],
  },
  'POST /v1/organization/spend_alerts': {
    path: '/v1/organization/spend_alerts',
    body: WALK_ALERT,
    invalid: [
      { body: { ...WALK_ALERT, threshold_amount: -1 }, status: 400 },
      {
        body: { ...WALK_ALERT, notification_channel: { type: 'email', recipients: ['x'] } },
        status: 400,
      },
      { body: { ...WALK_ALERT, extra: true }, status: 400 },
    ],
  },
  'GET /v1/organization/spend_alerts/{alert_id}': {
    path: '/v1/organization/spend_alerts/{alert}',
    invalid: [{ path: '/v1/organization/spend_alerts/spend_alert_nope', status: 404 }],
  },
  'POST /v1/organization/spend_alerts/{alert_id}': {
    path: '/v1/organization/spend_alerts/{alert}',
    body: { ...WALK_ALERT, threshold_amount: 2_000 },
    invalid: [
      { path: '/v1/organization/spend_alerts/spend_alert_nope', body: WALK_ALERT, status: 404 },
      { body: { ...WALK_ALERT, currency: 'EUR' }, status: 400 },
    ],
  },
  'DELETE /v1/organization/spend_alerts/{alert_id}': {
    path: '/v1/organization/spend_alerts/{alert2}',
    once: true,
    invalid: [{ path: '/v1/organization/spend_alerts/spend_alert_nope', status: 404 }],
  },
  'GET /v1/organization/projects/{project_id}/spend_alerts': {
    path: '/v1/organization/projects/{project}/spend_alerts',
    invalid: [{ path: '/v1/organization/projects/proj_nope/spend_alerts', status: 404 }],
  },
  'POST /v1/organization/projects/{project_id}/spend_alerts': {
    path: '/v1/organization/projects/{project}/spend_alerts',
    body: WALK_ALERT,
    invalid: [
      { path: '/v1/organization/projects/proj_nope/spend_alerts', body: WALK_ALERT, status: 404 },
      { body: { ...WALK_ALERT, interval: 'day' }, status: 400 },
    ],
  },
  'GET /v1/organization/projects/{project_id}/spend_alerts/{alert_id}': {
    path: '/v1/organization/projects/{project}/spend_alerts/{palert}',
    invalid: [
      { path: '/v1/organization/projects/{project}/spend_alerts/{alert}', status: 404 },
      { path: '/v1/organization/projects/proj_nope/spend_alerts/{palert}', status: 404 },
    ],
  },
  'POST /v1/organization/projects/{project_id}/spend_alerts/{alert_id}': {
    path: '/v1/organization/projects/{project}/spend_alerts/{palert}',
    body: { ...WALK_ALERT, threshold_amount: 3_000 },
    invalid: [{ body: { ...WALK_ALERT, threshold_amount: 1.5 }, status: 400 }],
  },
  'DELETE /v1/organization/projects/{project_id}/spend_alerts/{alert_id}': {
    path: '/v1/organization/projects/{project}/spend_alerts/{palert2}',
    once: true,
    invalid: [
      { path: '/v1/organization/projects/{project}/spend_alerts/spend_alert_nope', status: 404 },
    ],
  },
  'GET /v1/organization/admin_api_keys': {
    path: '/v1/organization/admin_api_keys',
    invalid: [{ query: 'limit=101', status: 400 }],
  },
  // Only an owner's console session may create an admin key: an admin key is refused.
  'POST /v1/organization/admin_api_keys': {
    path: '/v1/organization/admin_api_keys',
    body: { name: 'walk' },
    status: 403,
    invalid: [{ noKey: true, status: 401 }],
  },
  'GET /v1/organization/admin_api_keys/{key_id}': {
    path: '/v1/organization/admin_api_keys/{adminkey}',
    invalid: [{ path: '/v1/organization/admin_api_keys/key_nope', status: 404 }],
  },
  'DELETE /v1/organization/admin_api_keys/{key_id}': {
    path: '/v1/organization/admin_api_keys/{adminkey2}',
    once: true,
    invalid: [{ path: '/v1/organization/admin_api_keys/key_nope', status: 404 }],
  },
  'GET /v1/organization/audit_logs': {
    path: '/v1/organization/audit_logs',
    query: 'limit=2',
    invalid: [{ query: 'after=nope', status: 400 }],
  },
  'GET /v1/organization/users': {
    path: '/v1/organization/users',
    query: 'limit=2',
    invalid: [
      { query: 'limit=101', status: 400 },
      { noKey: true, status: 401 },
    ],
  },
  'GET /v1/organization/users/{user_id}': {
    path: '/v1/organization/users/{member}',
    invalid: [{ path: '/v1/organization/users/user_nope', status: 404 }],
  },
  'POST /v1/organization/users/{user_id}': {
    path: '/v1/organization/users/{member}',
    body: { role: 'reader' },
    invalid: [
      { body: { role: 'admin' }, status: 400 },
      { body: {}, status: 400 },
      { path: '/v1/organization/users/user_nope', body: { role: 'owner' }, status: 404 },
    ],
  },
  'DELETE /v1/organization/users/{user_id}': {
    path: '/v1/organization/users/{member2}',
    once: true,
    invalid: [{ path: '/v1/organization/users/user_nope', status: 404 }],
  },
  'GET /v1/organization/invites': {
    path: '/v1/organization/invites',
    invalid: [{ query: 'limit=0', status: 400 }],
  },
  // Sent again under /openai/v1: the same invite, a new link.
  'POST /v1/organization/invites': {
    path: '/v1/organization/invites',
    body: { email: 'walk@invites.test', role: 'reader' },
    invalid: [
      { body: { email: 'not-an-address', role: 'reader' }, status: 400 },
      { body: { email: 'walk@invites.test', role: 'admin' }, status: 400 },
      { body: { role: 'owner' }, status: 400 },
    ],
  },
  'GET /v1/organization/invites/{invite_id}': {
    path: '/v1/organization/invites/{invite}',
    invalid: [{ path: '/v1/organization/invites/invite-nope', status: 404 }],
  },
  'DELETE /v1/organization/invites/{invite_id}': {
    path: '/v1/organization/invites/{invite2}',
    once: true,
    invalid: [{ path: '/v1/organization/invites/invite-nope', status: 404 }],
  },
  // A signed-in session accepts (test/e2e/organization-members.test.ts); a key is refused.
  'POST /v1/organization/invites/accept': {
    path: '/v1/organization/invites/accept',
    body: { token: 'walk' },
    status: 403,
    invalid: [{ noKey: true, status: 401 }],
  },
  'GET /v1/organization/usage/completions': {
    path: '/v1/organization/usage/completions',
    query: 'start_time=1700000000&bucket_width=1h&group_by[]=project_id&group_by[]=model',
    invalid: [
      { query: 'bucket_width=1d', status: 400 },
      { query: 'start_time=1700000000&limit=32', status: 400 },
    ],
  },
  'GET /v1/organization/usage/audio_transcriptions': {
    path: '/v1/organization/usage/audio_transcriptions',
    query: 'start_time=1700000000&group_by=api_key_id',
    invalid: [{ query: 'start_time=1700000000&group_by=batch', status: 400 }],
  },
  'GET /v1/organization/costs': {
    path: '/v1/organization/costs',
    query: 'start_time=1700000000&group_by=line_item&limit=180',
    invalid: [{ query: 'start_time=1700000000&bucket_width=1m', status: 400 }],
  },
  'POST /v1/uploads/{upload_id}/cancel': {
    path: '/v1/uploads/{upload3}/cancel',
    once: true,
    invalid: [{ path: '/v1/uploads/upload_nope/cancel', status: 404 }],
  },
};

const operations = () =>
  Object.entries(apiSpecs().tierline.document.paths).flatMap(([path, methods]) =>
    Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`),
  );

describe('the route walk: every documented operation, valid and invalid', () => {
  const spec = specCheckedFetch();
  afterEach(() => expectSpecCompliance(spec));
  let local: LocalMode;
  let key: string;
  /** The same customer's admin key: administrative routes refuse an inference key. */
  let adminKey: string;
  let sessionToken: string;
  const keyFor = (path: string) =>
    path.includes('/account/organizations')
      ? sessionToken
      : isAdministrativePath(path.split('?')[0] ?? path)
        ? adminKey
        : key;
  const ids: Record<string, string> = {};
  let makeBatch: () => Promise<string>;
  const fill = (text: string) =>
    text.replace(
      /\{(file2?|ftfile|ftjob[23]?|upload[23]?|part|batch2?|key|adapter|ftune2?|ftmodel|project2?|defaultproject|pkey2?|adminkey2?|response2?|member2?|invite2?|alert2?|palert2?)\}/g,
      (_m, name: string) => ids[name] ?? name,
    );

  beforeAll(async () => {
    local = await startLocalMode({
      // Hundreds of requests on one customer's keys, which share its edge bucket: the walk is not
      // about the usage plan's throttle (official-clients.test.ts is).
      config: loadConfig({
        env: 'dev',
        overrides: { tiers: { developer: { edge: { rateLimit: 10_000, burstLimit: 10_000 } } } },
      }),
      port: 0,
      signIn: {},
      // Slow enough that a one-line batch is still running when the walk cancels it.
      backend: new TestModelBackend({ replyTokens: 3, timeToFirstTokenMs: 1_000 }),
      // Stands in for Step Functions so that jobs stay active for the walk to cancel (a job that
      // was accepted and never runs); the real launcher's requests are asserted in
      // test/lambda/fine-tuning/jobs-api.test.ts, and local mode's own no-trainer failure in
      // test/e2e/fine-tuning-local.test.ts.
      fineTuningLauncher: {
        start: async (job) =>
          job.suffix === 'fails'
            ? { started: false, code: 'trainer_not_configured', message: 'no trainer in this walk' }
            : { started: true },
        stop: async () => undefined,
      },
    });
    const developer = local.demoCustomers.find((d) => d.tier === 'developer');
    key = developer?.apiKey ?? '';
    adminKey = (await local.operator.createAdminKey(developer?.customerId ?? '', 'walk')).key;
    sessionToken = (await signedInUser(local, 'walker@route-walk.test')).token;
    // The objects the walks of `/files/{id}` and `/uploads/{id}` act on.
    const made = async (path: string, init: { body?: unknown; form?: FormData }) => {
      const response = await send('POST', path, init);
      return ((await response.json()) as { id: string }).id;
    };
    const upload = () =>
      made('/v1/uploads', {
        body: {
          filename: 'u.jsonl',
          purpose: 'batch',
          bytes: JSONL.length,
          mime_type: 'application/jsonl',
        },
      });
    ids.file = await made('/v1/files', { form: fileForm() });
    ids.file2 = await made('/v1/files', { form: fileForm() });
    ids.upload = await upload();
    ids.upload2 = await upload();
    ids.upload3 = await upload();
    ids.part = await made(`/v1/uploads/${ids.upload2}/parts`, { form: partForm() });
    const batch = {
      input_file_id: ids.file,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    };
    ids.batch = await made('/v1/batches', { body: batch });
    makeBatch = () => made('/v1/batches', { body: batch });
    ids.key = await made('/v1/keys', { body: { name: 'walk-revoked' } });
    ids.pkey = await made('/v1/keys', { body: { name: 'walk-project-key' } });
    ids.pkey2 = await made('/v1/keys', { body: { name: 'walk-project-key-deleted' } });
    ids.project = await made('/v1/organization/projects', { body: { name: 'walk' } });
    ids.project2 = await made('/v1/organization/projects', { body: { name: 'walk-archived' } });
    ids.alert = await made('/v1/organization/spend_alerts', { body: WALK_ALERT });
    ids.alert2 = await made('/v1/organization/spend_alerts', { body: WALK_ALERT });
    const projectAlerts = `/v1/organization/projects/${ids.project}/spend_alerts`;
    ids.palert = await made(projectAlerts, { body: WALK_ALERT });
    ids.palert2 = await made(projectAlerts, { body: WALK_ALERT });
    ids.defaultproject = defaultProjectId(developer?.customerId ?? '');
    const memberships = new MembershipsRepository(
      localModeDocumentClient(local.dynamoEndpoint),
      LOCAL_CUSTOMERS_TABLE,
    );
    for (const [userId, role] of [
      ['walk-owner', 'owner'],
      ['walk-member', 'member'],
      ['walk-member2', 'member'],
    ] as const) {
      const customerId = developer?.customerId ?? '';
      const createdAt = new Date().toISOString();
      await memberships.put({ userId, customerId, role, email: `${userId}@walk.test`, createdAt });
    }
    ids.member = 'walk-member';
    ids.member2 = 'walk-member2';
    const invite = (email: string) =>
      made('/v1/organization/invites', { body: { email, role: 'reader' } });
    ids.invite = await invite('walk-invite@walk.test');
    ids.invite2 = await invite('walk-invite2@walk.test');
    for (const name of ['adminkey', 'adminkey2']) {
      ids[name] = (await local.operator.createAdminKey(developer?.customerId ?? '', name)).id;
    }
    ids.response = await made('/v1/responses', { body: { model: MODEL, input: 'Walk?' } });
    ids.response2 = await made('/v1/responses', { body: { model: MODEL, input: 'Walk?' } });
    const conversation = JSON.stringify({
      messages: [
        { role: 'user', content: 'Walk?' },
        { role: 'assistant', content: 'Walk.' },
      ],
    });
    const ftForm = new FormData();
    ftForm.set('purpose', 'fine-tune');
    ftForm.set('file', new Blob([`${Array(10).fill(conversation).join('\n')}\n`]), 'train.jsonl');
    ids.ftfile = await made('/v1/files', { form: ftForm });
    const job = (suffix: string) =>
      made('/v1/fine_tuning/jobs', { body: { model: MODEL, training_file: ids.ftfile, suffix } });
    ids.ftjob = await job('walk');
    ids.ftjob2 = await job('walk');
    ids.ftjob3 = await job('fails');
    adapterZip = await zipOf(
      entriesOf(adapterFiles({ architecture: architectureOf(MODEL), baseModel: MODEL })),
    );
    ids.adapter = await made('/v1/files', { form: adapterForm() });
    const fineTuning = async (name: string) => {
      const response = await send('POST', '/v1/fine_tunings', { body: register(name) });
      return (await response.json()) as { id: string; data: { fine_tuned_model: string } };
    };
    ids.ftune = (await fineTuning('walk')).id;
    ids.ftune2 = (await fineTuning('walk-deleted')).id;
    ids.ftmodel = (await fineTuning('walk-model-deleted')).data.fine_tuned_model;
  });
  afterAll(() => local.stop());

  const send = (
    method: string,
    path: string,
    options: { body?: unknown; raw?: string; form?: FormData; noKey?: boolean } = {},
  ) => {
    const text =
      options.raw ?? (options.body === undefined ? undefined : fill(JSON.stringify(options.body)));
    return spec.fetch(`${local.url}${fill(path)}`, {
      method,
      headers: {
        ...(options.noKey ? {} : { authorization: `Bearer ${keyFor(fill(path))}` }),
        ...(text === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: options.form ?? text,
    });
  };

  it('has a walk for every operation of the document, and the document has every walk', () => {
    expect(Object.keys(WALKS).sort()).toEqual(operations().sort());
  });

  it.each(Object.entries(WALKS))(
    '%s answers a valid request with 2xx under /v1 and /openai/v1',
    async (op, walk) => {
      const method = op.split(' ')[0] as string;
      const prefixes =
        walk.path.startsWith('/v1/') && !walk.once && !walk.v1Only ? ['', '/openai'] : [''];
      for (const prefix of prefixes) {
        const path = `${prefix}${walk.path}${walk.query ? `?${walk.query}` : ''}`;
        if (walk.fresh) ids[walk.fresh] = await makeBatch();
        await walk.prepare?.(local);
        const response = await send(method, path, {
          body: walk.body,
          form: walk.form?.(),
          noKey: walk.public,
        });
        const text = await response.text();
        const expected = walk.status ?? 200;
        expect({ status: response.status, path }).toEqual({
          status: expected,
          path,
          ...(response.status !== expected ? { text } : {}),
        });
      }
    },
  );

  it.each(Object.entries(WALKS).filter(([, w]) => w.body !== undefined))(
    '%s: the valid body matches the request schemas of both documents',
    (op, walk) => {
      const [method, path] = op.split(' ') as [string, string];
      for (const document of [apiSpecs().openai, apiSpecs().tierline]) {
        const operation = document.operation(method, path);
        const pointer = operation && document.requestPointer(operation);
        if (!pointer) continue;
        expect(document.validate(pointer, walk.body)).toEqual([]);
      }
    },
  );

  it.each(
    Object.entries(WALKS).flatMap(([op, walk]) => walk.invalid.map((bad) => [op, bad] as const)),
  )('%s refuses %j with its 4xx in the OpenAI shape', async (op, bad) => {
    const method = op.split(' ')[0] as string;
    const base = bad.path ?? WALKS[op]?.path ?? '';
    const path = bad.query ? `${base}?${bad.query}` : base;
    const response = await send(method, path, { body: bad.body, raw: bad.raw, noKey: bad.noKey });
    const body = (await response.json()) as { error?: { message?: string } };

    expect(response.status).toBe(bad.status);
    expect(body.error?.message).toBeTruthy();
  });

  it('refuses a wrong method on a known path with 404 unknown_url, with or without a key', async () => {
    for (const noKey of [false, true]) {
      const response = await send('DELETE', '/v1/models', { noKey });
      expect(response.status).toBe(404);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe(
        'unknown_url',
      );
    }
  });
});
