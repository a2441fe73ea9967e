import OpenAI, { toFile } from 'openai';
import type { Batch } from 'openai/resources/batches';
import { SkipStep, type SmokeContext, type SmokeStep } from './step';

const CUSTOM_ID = 'tierline-smoke-1';
const TERMINAL = new Set(['completed', 'failed', 'expired', 'cancelled']);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls the batch until it ends or `deadline` passes; answers its last state. */
async function waitFor(context: SmokeContext, batchId: string, deadline: number): Promise<Batch> {
  for (;;) {
    const batch = await context.openai.batches.retrieve(batchId);
    if (TERMINAL.has(batch.status) || Date.now() >= deadline) return batch;
    await sleep(Math.min(context.pollMs, Math.max(0, deadline - Date.now())));
  }
}

/** A tier without the Batch API answers 403 with this code: the step is skipped, not failed. */
function skipWhenNotOnTier(error: unknown): never {
  if (error instanceof OpenAI.APIError && error.status === 403) {
    throw new SkipStep(
      `not on this key's tier (${error.message}); use a Developer or Enterprise key to test it`,
    );
  }
  throw error;
}

/** The batch output files the batch named, to be deleted with the rest. */
function remember(context: SmokeContext, batch: Batch): void {
  for (const id of [batch.output_file_id, batch.error_file_id]) {
    if (id && !context.created.files.includes(id)) context.created.files.push(id);
  }
}

export const batchSteps: SmokeStep[] = [
  {
    name: 'file-upload',
    run: async (context) => {
      const model = context.model;
      if (!model) throw new Error('no model to put in the batch line (the models step found none)');
      const line = JSON.stringify({
        custom_id: CUSTOM_ID,
        method: 'POST',
        url: '/v1/chat/completions',
        body: {
          model,
          messages: [{ role: 'user', content: 'Smoke test batch line.' }],
          max_completion_tokens: 8,
        },
      });
      const file = await context.openai.files
        .create({
          file: await toFile(Buffer.from(`${line}\n`), 'tierline-smoke.jsonl'),
          purpose: 'batch',
        })
        .catch(skipWhenNotOnTier);
      context.created.files.push(file.id);
      context.inputFileId = file.id;
      const read = await context.openai.files.retrieve(file.id);
      if (read.bytes !== Buffer.byteLength(`${line}\n`))
        throw new Error(`the file reads back ${read.bytes} bytes`);
      return `${file.id}, ${read.bytes} bytes`;
    },
  },
  {
    name: 'batch',
    run: async (context) => {
      const inputFileId = context.inputFileId;
      if (!inputFileId) throw new SkipStep('no input file (see file-upload)');
      const created = await context.openai.batches
        .create({
          input_file_id: inputFileId,
          endpoint: '/v1/chat/completions',
          completion_window: '24h',
          metadata: { purpose: 'tierline smoke test' },
        })
        .catch(skipWhenNotOnTier);
      const started = Date.now();
      let batch = await waitFor(context, created.id, started + context.batchTimeoutMs);
      remember(context, batch);
      if (!TERMINAL.has(batch.status)) {
        // Not done in time: cancel it, so it runs no longer and costs nothing more, then report.
        await context.openai.batches.cancel(created.id);
        batch = await waitFor(context, created.id, Date.now() + 30_000);
        remember(context, batch);
        throw new Error(
          `${created.id} was still ${batch.status === 'cancelled' ? 'running' : batch.status} after ` +
            `${Math.round(context.batchTimeoutMs / 1000)} s: cancelled (now ${batch.status})`,
        );
      }
      if (batch.status !== 'completed') {
        throw new Error(
          `${created.id} ended ${batch.status}: ${JSON.stringify(batch.errors ?? null)}`,
        );
      }
      if (batch.request_counts?.completed !== 1 || !batch.output_file_id) {
        throw new Error(
          `${created.id} completed with counts ${JSON.stringify(batch.request_counts)}`,
        );
      }
      const output = (await (await context.openai.files.content(batch.output_file_id)).text())
        .trim()
        .split('\n');
      const result = JSON.parse(output[0] ?? '{}') as {
        custom_id?: string;
        response?: { status_code?: number };
      };
      if (
        output.length !== 1 ||
        result.custom_id !== CUSTOM_ID ||
        result.response?.status_code !== 200
      ) {
        throw new Error(
          `the output file is not one answered line: ${output.join('\n').slice(0, 300)}`,
        );
      }
      return `${created.id} completed in ${((Date.now() - started) / 1000).toFixed(1)} s; output line ${CUSTOM_ID}: 200`;
    },
  },
];

/** Deletes every file the run created or that its batch wrote; a file already gone counts as deleted. */
export const cleanupStep: SmokeStep = {
  name: 'cleanup',
  run: async (context) => {
    const failures: string[] = [];
    for (const id of context.created.files) {
      try {
        const deleted = await context.openai.files.delete(id);
        if (!deleted.deleted) failures.push(`${id}: not deleted`);
      } catch (error) {
        if (!(error instanceof OpenAI.NotFoundError)) failures.push(`${id}: ${String(error)}`);
      }
    }
    if (failures.length > 0) throw new Error(`left behind: ${failures.join('; ')}`);
    return context.created.files.length > 0
      ? `deleted ${context.created.files.length} file(s): ${context.created.files.join(', ')}`
      : 'nothing was created';
  },
};
