import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { LEDGER_DEAD_LETTERS_ENV } from '../../../lambda/metering/metering-table';

export interface LedgerDeadLettersProps {
  /** Keep the queue (and the unbilled usage in it) when the stack is deleted. */
  readonly retainData: boolean;
}

/**
 * Where a usage record goes when the ledger write still fails after its retries: nothing billable
 * is lost. `tierline usage replay-dead-letters` puts them into the ledger (idempotently) once
 * DynamoDB is back. In the data stack because its messages are billing data.
 */
export class LedgerDeadLetters extends Construct {
  public readonly queue: Queue;

  constructor(scope: Construct, id: string, props: LedgerDeadLettersProps) {
    super(scope, id);
    this.queue = new Queue(this, 'Queue', {
      // SQS keeps messages at most 14 days: the alarm on this queue must be answered within that
      // time.
      retentionPeriod: Duration.days(14),
      encryption: QueueEncryption.KMS_MANAGED,
      enforceSSL: true,
      removalPolicy: props.retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });
    const reason =
      'This queue is itself the last-resort store of usage records that failed to reach the ledger; it has no ' +
      'consumer that could fail, so a dead-letter queue of its own would hold nothing. An alarm watches it.';
    Validations.of(this.queue).acknowledge({ id: 'AwsSolutions::AwsSolutions-SQS3', reason });
    Validations.of(this.queue).acknowledge({
      id: 'Serverless::Serverless-SQSRedrivePolicy',
      reason,
    });
  }

  public grantSend(fn: LambdaFunction): void {
    fn.addEnvironment(LEDGER_DEAD_LETTERS_ENV, this.queue.queueUrl);
    this.queue.grantSendMessages(fn);
  }
}
