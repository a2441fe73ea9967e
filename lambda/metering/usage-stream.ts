import { Logger } from '@aws-lambda-powertools/logger';
import type {
  AttributeValue,
  DynamoDBBatchResponse,
  DynamoDBRecord,
  DynamoDBStreamEvent,
} from 'aws-lambda';
import type { AggregatedRecord, AggregateUpdater } from './aggregate-updates';
import { METERING_TABLE } from './metering-table';

const { partitionKey: PK } = METERING_TABLE;

/** The ledger record of a stream INSERT, from its new image; undefined for any other item or event. */
export function ledgerRecordOfStream(record: DynamoDBRecord): AggregatedRecord | undefined {
  const image = record.dynamodb?.NewImage;
  if (record.eventName !== 'INSERT' || !image || !image[PK]?.S?.startsWith('REQ#'))
    return undefined;
  const text = (value: AttributeValue | undefined) => value?.S;
  const count = (value: AttributeValue | undefined) =>
    value?.N === undefined ? Number.NaN : Number(value.N);
  const parsed = {
    requestId: text(image.requestId),
    customerId: text(image.customerId),
    model: text(image.model),
    startedAt: text(image.startedAt),
    inputTokens: count(image.inputTokens),
    outputTokens: count(image.outputTokens),
    costMicroUsd: count(image.costMicroUsd),
  };
  const valid =
    [parsed.requestId, parsed.customerId, parsed.model, parsed.startedAt].every(
      (v) => typeof v === 'string',
    ) && [parsed.inputTokens, parsed.outputTokens, parsed.costMicroUsd].every(Number.isSafeInteger);
  if (!valid) throw new Error(`ledger record ${image[PK]?.S} in the stream lacks usage fields`);
  return parsed as AggregatedRecord;
}

/**
 * DynamoDB Streams consumer of the metering table: adds each new ledger record to its usage
 * aggregate, exactly once (see aggregate-updates.ts), so a redelivered batch counts nothing twice
 * and the work per record does not grow with the customer's traffic. Other items are skipped; the
 * event source also filters them out (pk prefix `REQ#`, INSERT). The records of a batch are applied
 * in parallel; the first one (in stream order) that failed or that another applier holds is
 * reported as the batch item failure, so Lambda retries from it and the records after it, and the
 * ones already applied answer 'already_applied'.
 */
export function createUsageAggregatorHandler(
  updater: Pick<AggregateUpdater, 'apply'>,
  logger = new Logger({ serviceName: 'usage-aggregator' }),
) {
  return async (event: DynamoDBStreamEvent): Promise<DynamoDBBatchResponse> => {
    // One application per request id in a batch: applying the same record twice at once would find
    // it busy.
    const applying = new Map<string, Promise<void>>();
    const applyOnce = (record: AggregatedRecord) => {
      const pending =
        applying.get(record.requestId) ??
        updater.apply(record).then((result) => {
          if (result === 'busy')
            throw new Error(`ledger record ${record.requestId} is being applied elsewhere`);
        });
      applying.set(record.requestId, pending);
      return pending;
    };
    const outcomes = await Promise.all(
      event.Records.map(async (streamRecord) => {
        try {
          const record = ledgerRecordOfStream(streamRecord);
          if (record) await applyOnce(record);
          return undefined;
        } catch (error) {
          return error;
        }
      }),
    );
    const failed = outcomes.findIndex((outcome) => outcome !== undefined);
    if (failed < 0) return { batchItemFailures: [] };
    const first = event.Records[failed] as DynamoDBRecord;
    const sequenceNumber = first.dynamodb?.SequenceNumber;
    logger.error('usage aggregation failed', { sequenceNumber, error: outcomes[failed] });
    // Without a sequence number nothing can be reported: fail the whole batch.
    if (!sequenceNumber) throw outcomes[failed];
    return { batchItemFailures: [{ itemIdentifier: sequenceNumber }] };
  };
}
