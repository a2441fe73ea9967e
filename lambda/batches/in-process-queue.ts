import type { BatchMessage, BatchQueue } from './batch-queue';

/**
 * Local mode's stand-in for SQS: messages run in this process, at most `concurrency` at a time, and a message
 * whose handler throws comes back after `retryDelayMs` (SQS's visibility timeout), up to `maxAttempts`.
 */
export class InProcessBatchQueue implements BatchQueue {
  private readonly waiting: { message: BatchMessage; attempt: number }[] = [];
  private running = 0;
  private readonly idleWaiters: (() => void)[] = [];
  private timers = 0;
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
    for (const message of messages) this.waiting.push({ message, attempt: 1 });
    this.pump();
  }

  /** Resolves when nothing is queued, running or waiting for a retry (tests, benchmarks, shutdown). */
  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Takes no more work and drops what waits (local mode stopping); resolves when running messages end. */
  stop(): Promise<void> {
    this.handler = undefined;
    this.waiting.length = 0;
    return this.idle();
  }

  private isIdle(): boolean {
    return this.waiting.length === 0 && this.running === 0 && this.timers === 0;
  }

  private pump(): void {
    const handler = this.handler;
    if (!handler) return;
    while (this.running < this.options.concurrency && this.waiting.length > 0) {
      const next = this.waiting.shift() as { message: BatchMessage; attempt: number };
      this.running += 1;
      void handler(next.message)
        .catch((error) => {
          this.options.onError?.(error, next.message);
          if (this.handler && next.attempt < (this.options.maxAttempts ?? 5)) {
            this.timers += 1;
            setTimeout(() => {
              this.timers -= 1;
              if (this.handler) this.waiting.push({ message: next.message, attempt: next.attempt + 1 });
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
