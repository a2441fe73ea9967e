import { createS3Client } from '../../lambda/files/file-storage';
import { startLocalS3 } from '../../local/local-s3';
import { ensureFilesTable } from '../../local/local-tables';
import { type LocalDynamo, startDynalite } from './dynalite';

/** What files and batches are stored in: dynalite with the `files` table, s3rver with the `files` bucket. */
export interface FileStores {
  dynamo: LocalDynamo;
  s3: ReturnType<typeof createS3Client>;
  stop(): Promise<void>;
}

export async function startFileStores(): Promise<FileStores> {
  const dynamo = await startDynalite();
  const s3Server = await startLocalS3({ bucket: 'files' });
  const s3 = createS3Client({ endpoint: s3Server.endpoint });
  await ensureFilesTable(dynamo.client, 'files');
  return {
    dynamo,
    s3,
    stop: async () => {
      s3.destroy();
      await s3Server.stop();
      await dynamo.stop();
    },
  };
}

/** A batch input line: a chat completion asking `model` to say `customId`. */
export const chatBatchLine = (customId: string, model: string, maxCompletionTokens: number) =>
  JSON.stringify({
    custom_id: customId,
    method: 'POST',
    url: '/v1/chat/completions',
    body: {
      model,
      messages: [{ role: 'user', content: `say ${customId}` }],
      max_completion_tokens: maxCompletionTokens,
    },
  });
