/**
 * bench/unseen-input-cpu: the CPU a stored response's input bounds and counting cost before the
 * model runs: the bytes of the input the model never sees (reasoning items: 150,000 in a 5.1 MB
 * body, the worst a Lambda body holds; an ordinary input with nothing to count), and the
 * structured-output schema's bounds (a strict schema at OpenAI's limits; a small one). CPU time of
 * this process, best of 5.
 *
 *   npm run bench:unseen-input
 */
import { refuseOversizedSchema } from '../lambda/inference/json-schema-bounds';
import { unseenItemsBytes } from '../lambda/responses/response-objects';
import { parseResponsesRequest } from '../lambda/responses/responses-request';

const RESPONSE_ID = 'resp_0123456789abcdef0123456789abcdef';
const NOTHING_DROPPED = { from: 0, to: 0 };

function cpuMs(run: () => unknown): string {
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 5; i++) {
    const before = process.cpuUsage();
    run();
    const used = process.cpuUsage(before);
    best = Math.min(best, (used.user + used.system) / 1000);
  }
  return best.toFixed(2);
}

const reasoningBody = {
  model: 'qwen3-8b',
  input: [
    ...Array.from({ length: 150_000 }, () => ({ type: 'reasoning', summary: [] })),
    { role: 'user', content: 'Hi' },
  ],
};
const reasoning = parseResponsesRequest(reasoningBody);
const ordinary = parseResponsesRequest({
  model: 'qwen3-8b',
  input: Array.from({ length: 1_000 }, (_, i) => ({ role: 'user', content: `Turn ${i}` })),
});
const properties = Object.fromEntries(
  Array.from({ length: 5_000 }, (_, i) => [String(i).padStart(24, 'p'), { type: 'string' }]),
);
const atLimits = {
  type: 'object',
  properties,
  required: Object.keys(properties),
  additionalProperties: false,
};
const small = {
  type: 'object',
  properties: { answer: { type: 'string' }, score: { type: 'integer', enum: [1, 2, 3] } },
  required: ['answer', 'score'],
  additionalProperties: false,
};

const rows = [
  [
    `150,000 reasoning items (${Buffer.byteLength(JSON.stringify(reasoningBody))} B body)`,
    `${unseenItemsBytes(reasoning, RESPONSE_ID, NOTHING_DROPPED)} B counted`,
    cpuMs(() => unseenItemsBytes(reasoning, RESPONSE_ID, NOTHING_DROPPED)),
  ],
  [
    '1,000 messages, nothing dropped, no reasoning item',
    `${unseenItemsBytes(ordinary, RESPONSE_ID, NOTHING_DROPPED)} B counted`,
    cpuMs(() => unseenItemsBytes(ordinary, RESPONSE_ID, NOTHING_DROPPED)),
  ],
  [
    `strict schema at OpenAI's limits (${Buffer.byteLength(JSON.stringify(atLimits))} B)`,
    'accepted',
    cpuMs(() => refuseOversizedSchema(atLimits, 'text.format.schema')),
  ],
  ['small schema', 'accepted', cpuMs(() => refuseOversizedSchema(small, 'text.format.schema'))],
];
console.log('input | result | CPU ms (best of 5)');
for (const row of rows) console.log(row.join(' | '));
