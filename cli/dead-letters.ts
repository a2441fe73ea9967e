import { appendFile, readFile, rename, unlink } from 'node:fs/promises';
import { DeleteMessageCommand, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { type LedgerRecord, parseLedgerRecord } from '../lambda/metering/ledger';

/** Where usage records that failed to reach the ledger wait: SQS in AWS, a file in local mode. */
export interface DeadLetterSource {
  /** Hands every waiting record to `replay`; a record leaves the source only when `replay` returned true. */
  drain(replay: (record: LedgerRecord) => Promise<boolean>): Promise<void>;
}

/** The ledger's dead-letter queue: receive, replay, delete on success; what fails stays for the next run. */
export class SqsDeadLetterSource implements DeadLetterSource {
  constructor(
    private readonly sqs: Pick<SQSClient, 'send'>,
    private readonly queueUrl: string,
  ) {}

  async drain(replay: (record: LedgerRecord) => Promise<boolean>): Promise<void> {
    while (true) {
      const { Messages = [] } = await this.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: this.queueUrl,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: 1,
          // Long enough to replay a batch; a message not deleted comes back after it, for the next run.
          VisibilityTimeout: 300,
        }),
      );
      if (Messages.length === 0) return;
      for (const message of Messages) {
        if (!message.Body || !message.ReceiptHandle) continue;
        if (await replay(parseLedgerRecord(message.Body))) {
          await this.sqs.send(
            new DeleteMessageCommand({ QueueUrl: this.queueUrl, ReceiptHandle: message.ReceiptHandle }),
          );
        }
      }
    }
  }
}

/**
 * Local mode's dead-letter file. The file is renamed before it is read, so records appended meanwhile land
 * in a new file and are not lost; records that fail again are appended back.
 */
export class FileDeadLetterSource implements DeadLetterSource {
  constructor(private readonly path: string) {}

  async drain(replay: (record: LedgerRecord) => Promise<boolean>): Promise<void> {
    const taken = `${this.path}.replaying-${process.pid}-${Date.now()}`;
    try {
      await rename(this.path, taken);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    const lines = (await readFile(taken, 'utf8')).split('\n').filter((line) => line.trim() !== '');
    for (const line of lines) {
      if (!(await replay(parseLedgerRecord(line)))) await appendFile(this.path, `${line}\n`);
    }
    await unlink(taken);
  }
}
