import { open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import * as path from 'node:path';
import { DeleteMessageCommand, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { type LedgerRecord, parseLedgerRecord } from '../lambda/metering/ledger';

/** Where a dead letter that is not a ledger record goes instead of blocking the others: a file, named to the operator. */
export interface SetAside {
  readonly file: string;
  /** Appends the raw text and why it was refused, flushed to disk before it resolves. */
  put(raw: string, reason: string): Promise<void>;
}

/** Appends JSON lines `{"set_aside_at","reason","raw"}` to `file`. */
export function setAsideFile(file: string): SetAside & { count(): number } {
  let count = 0;
  return {
    file,
    count: () => count,
    async put(raw, reason) {
      const handle = await open(file, 'a');
      try {
        await handle.appendFile(
          `${JSON.stringify({ set_aside_at: new Date().toISOString(), reason, raw })}\n`,
        );
        await handle.sync();
      } finally {
        await handle.close();
      }
      count += 1;
    },
  };
}

/** Where usage records that failed to reach the ledger wait: SQS in AWS, a file in local mode. */
export interface DeadLetterSource {
  /**
   * Hands every waiting record to `replay`; a record leaves the source only when `replay` returned
   * true. What does not parse as a ledger record is moved to `setAside` (and leaves the source), so
   * it never blocks the rest.
   */
  drain(replay: (record: LedgerRecord) => Promise<boolean>, setAside: SetAside): Promise<void>;
}

/** Parses a dead letter; what is not a ledger record goes to `setAside` (undefined is returned). */
async function parseOrSetAside(raw: string, setAside: SetAside): Promise<LedgerRecord | undefined> {
  try {
    return parseLedgerRecord(raw);
  } catch (error) {
    await setAside.put(raw, error instanceof Error ? error.message : String(error));
    return undefined;
  }
}

/** The ledger's dead-letter queue: receive, replay, delete on success; what fails stays for the next run. */
export class SqsDeadLetterSource implements DeadLetterSource {
  constructor(
    private readonly sqs: Pick<SQSClient, 'send'>,
    private readonly queueUrl: string,
  ) {}

  async drain(
    replay: (record: LedgerRecord) => Promise<boolean>,
    setAside: SetAside,
  ): Promise<void> {
    while (true) {
      const { Messages = [] } = await this.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: this.queueUrl,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: 1,
          // Long enough to replay a batch; a message not deleted comes back after it, for the next
          // run.
          VisibilityTimeout: 300,
        }),
      );
      if (Messages.length === 0) return;
      for (const message of Messages) {
        if (!message.ReceiptHandle) continue;
        const record = await parseOrSetAside(message.Body ?? '', setAside);
        // Set aside (flushed to its file) or in the ledger: either way it may leave the queue.
        if (record === undefined || (await replay(record))) {
          await this.sqs.send(
            new DeleteMessageCommand({
              QueueUrl: this.queueUrl,
              ReceiptHandle: message.ReceiptHandle,
            }),
          );
        }
      }
    }
  }
}

/**
 * Local mode's dead-letter file. The file is renamed before it is read, so records appended
 * meanwhile land in a new file and are not lost; records that fail again are appended back. A
 * renamed file that a run did not finish (it crashed, or the ledger failed) is picked up by the
 * next run: replaying is idempotent.
 */
export class FileDeadLetterSource implements DeadLetterSource {
  constructor(private readonly path: string) {}

  async drain(
    replay: (record: LedgerRecord) => Promise<boolean>,
    setAside: SetAside,
  ): Promise<void> {
    const taken = `${this.path}.replaying-${process.pid}-${Date.now()}`;
    try {
      await rename(this.path, taken);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    for (const file of await this.takenFiles()) {
      const lines = (await readFile(file, 'utf8')).split('\n').filter((line) => line.trim() !== '');
      for (const line of lines) {
        const record = await parseOrSetAside(line, setAside);
        if (record !== undefined && !(await replay(record))) await appendLine(this.path, line);
      }
      await unlink(file);
    }
  }

  /** This run's file and those earlier runs left, oldest first. */
  private async takenFiles(): Promise<string[]> {
    const dir = path.dirname(this.path);
    const prefix = `${path.basename(this.path)}.replaying-`;
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    const stamp = (name: string) => Number(name.slice(name.lastIndexOf('-') + 1));
    return names
      .filter((name) => name.startsWith(prefix))
      .sort((a, b) => stamp(a) - stamp(b))
      .map((name) => path.join(dir, name));
  }
}

async function appendLine(file: string, line: string): Promise<void> {
  const handle = await open(file, 'a');
  try {
    await handle.appendFile(`${line}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
}
