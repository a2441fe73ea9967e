import type { BatchMessage, BatchQueue } from './batch-queue';

type Waiting = { message: BatchMessage; attempt: number };

/** The tenant of a message, as SQS fair queues take it from MessageGroupId: its customer (a sweep is its own). */
const tenantOf = (message: BatchMessage) => ('customerId' in message ? message.customerId : '');

/**
 * Local mode's stand-in for SQS: messages run in this process, at most `concurrency` at a time, and
 * a message whose handler throws comes back after `retryDelayMs` (SQS's visibility timeout), up to
 * `maxAttempts`. Fair between customers, as the deployment's fair queue is (batch-queue.ts): each
 * customer has its own line and the next message comes from the next customer in turn, so one
 * customer's 2,500 run messages (a 50,000-line batch, or its cancel) no longer hold another's batch
 * in `validating` (issue 20 row 5).
 */
export class InProcessBatchQueue implements BatchQueue {
  /** Waiting messages by tenant; a Map keeps the turn order (a tenant goes to the back after each message). */
  private readonly lines = new Map<string, Waiting[]>();
  private running = 0;
  private readonly idleWaiters: (() => void)[] = [];
  private timers = 0;
  private stopped = false;
  handler: ((message: BatchMessage) => Promise<void>) | undefined;

  constructor(
    private readonly options: {
      concurrency: number;
      retryDelayMs?: number;
      maxAttempts?: number;
      onError?: (error: unknown, message: BatchMessage) => void;
    },
  ) {}

  async send(messages: BatchMessage[]): Promise<void> {
    // Stopped: what a message still running sends is dropped; the next start resumes its batch
    // from the table (BatchWorker.resume), as SQS would redeliver it.
    if (this.stopped) return;
    for (const message of messages) this.enqueue({ message, attempt: 1 });
    this.pump();
  }

  private enqueue(waiting: Waiting): void {
    const tenant = tenantOf(waiting.message);
    const line = this.lines.get(tenant);
    if (line) line.push(waiting);
    else this.lines.set(tenant, [waiting]);
  }

  /** The next message in turn: the first tenant's first message; that tenant then goes to the back. */
  private take(): Waiting | undefined {
    for (const [tenant, line] of this.lines) {
      const next = line.shift();
      this.lines.delete(tenant);
      if (line.length > 0) this.lines.set(tenant, line);
      if (next) return next;
    }
    return undefined;
  }

  private waitingCount(): number {
    let count = 0;
    for (const line of this.lines.values()) count += line.length;
    return count;
  }

  /** Resolves when nothing is queued, running or waiting for a retry (tests, benchmarks, shutdown). */
  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Takes no more work and drops what waits (local mode stopping); resolves when running messages end. */
  stop(): Promise<void> {
    this.stopped = true;
    this.handler = undefined;
    this.lines.clear();
    return this.idle();
  }

  private isIdle(): boolean {
    return this.waitingCount() === 0 && this.running === 0 && this.timers === 0;
  }

  private pump(): void {
    const handler = this.handler;
    if (!handler) return;
    while (this.running < this.options.concurrency) {
      const next = this.take();
      if (!next) return;
      this.running += 1;
      void handler(next.message)
        .catch((error) => {
          this.options.onError?.(error, next.message);
          if (this.handler && next.attempt < (this.options.maxAttempts ?? 5)) {
            this.timers += 1;
            setTimeout(() => {
              this.timers -= 1;
              if (this.handler) this.enqueue({ message: next.message, attempt: next.attempt + 1 });
              this.pump();
              if (this.isIdle()) for (const resolve of this.idleWaiters.splice(0)) resolve();
            }, this.options.retryDelayMs ?? 1_000);
          }
        })
        .finally(() => {
          this.running -= 1;
          this.pump();
          if (this.isIdle()) for (const resolve of this.idleWaiters.splice(0)) resolve();
        });
    }
  }
}
