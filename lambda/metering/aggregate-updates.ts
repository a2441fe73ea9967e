import { randomUUID } from 'node:crypto';
import { GetCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { isConditionFailure } from '../storage/conditional-writes';
import type { DocumentClient } from '../storage/document-client';
import { and, compare, exists, notExists, or, update } from '../storage/expressions';
import { type LedgerRecord, ledgerKeys, usagePartition, utcDay } from './ledger';
import { METERING_TABLE } from './metering-table';

const { partitionKey: PK, sortKey: SK, byCustomerDayIndex: BY_DAY } = METERING_TABLE;

/**
 * Usage aggregates kept in step with the ledger incrementally, exactly once per ledger record, in
 * O(1) per record whatever the customer's traffic: `AGG#<customerId>` / `<day>#<model>` holds
 * `requests`, `inputTokens`, `outputTokens`, `costMicroUsd` and a version `v` (one per increment).
 *
 * Without transactions (dynalite has none) an increment and the record's "applied" flag cannot be
 * written together, so each record goes through four single-item writes, each idempotent by its
 * condition:
 * 1. claim the ledger record (`aggClaim`, unless it is `aggregated` or claimed in the last {@link
 *    CLAIM_MS});
 * 2. add it to the aggregate together with a marker attribute `applying#<requestId>`, only if the
 *    marker is absent: a second attempt after a crash between 2 and 3 finds the marker and does not
 *    add again;
 * 3. flag the ledger record `aggregated` (the permanent "applied" mark) and drop the claim;
 * 4. remove the marker (the aggregate keeps only the markers of records in progress). The claim
 *    keeps two appliers (a stream redelivery, a repair) from racing between 3 and 4, where the
 *    marker is gone but a reader of an older claim-less state would add again. A claim outlives any
 *    applier: it is taken over only after {@link CLAIM_MS}, longer than a Lambda function can run.
 *
 * `recomputeDay` is the repair: it rebuilds a customer-day from the ledger (counting the records
 * applied or being applied), safely beside live increments (a version check), and applies what a
 * crash left unapplied.
 */

/** Longer than Lambda's 15-minute maximum run time: a claim this old belongs to an applier that is gone. */
export const CLAIM_MS = 16 * 60_000;

export type ApplyResult = 'applied' | 'already_applied' | 'busy';

/** The fields of a ledger record an aggregate needs. */
export type AggregatedRecord = Pick<
  LedgerRecord,
  | 'requestId'
  | 'customerId'
  | 'model'
  | 'startedAt'
  | 'inputTokens'
  | 'outputTokens'
  | 'costMicroUsd'
>;

export interface AggregateTotals {
  requests: number;
  inputTokens: number;
  outputTokens: number;
  costMicroUsd: number;
}

const markerOf = (requestId: string) => `applying#${requestId}`;
const aggregateKey = (customerId: string, day: string, model: string) => ({
  [PK]: `AGG#${customerId}`,
  [SK]: `${day}#${model}`,
});
const ledgerKey = (record: AggregatedRecord) => {
  const keys = ledgerKeys(record);
  return { [PK]: keys[PK], [SK]: keys[SK] };
};

export class AggregateUpdater {
  constructor(
    private readonly doc: DocumentClient,
    private readonly tableName: string,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Adds one ledger record to its customer-day-model aggregate, exactly once however often it is
   * called: 'applied' the first time, 'already_applied' after, 'busy' while another applier holds
   * it (try later).
   */
  async apply(record: AggregatedRecord): Promise<ApplyResult> {
    const claim = randomUUID();
    if (!(await this.claim(record, claim))) {
      const { Item } = await this.doc.send(
        new GetCommand({ TableName: this.tableName, Key: ledgerKey(record), ConsistentRead: true }),
      );
      if (Item?.aggregated !== true) return 'busy';
      await this.removeMarker(record); // a crash between steps 3 and 4 left it
      return 'already_applied';
    }
    await this.increment(record);
    await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: ledgerKey(record),
        ...update(
          { set: { aggregated: true }, remove: ['aggClaim', 'aggClaimedAt'] },
          compare('aggClaim', '=', claim),
        ),
      }),
    );
    await this.removeMarker(record);
    return 'applied';
  }

  /**
   * Rebuilds the aggregates of a customer-day from its ledger (the repair): first applies the
   * records no live applier holds, then sets each model's totals to the sum of the records applied
   * or being applied, if no increment happened meanwhile (the version), else reads again. Returns
   * the totals written per model.
   */
  async recomputeDay(customerId: string, day: string): Promise<Record<string, AggregateTotals>> {
    for (const record of await this.ledgerOfDay(customerId, day)) {
      if (record.aggregated !== true) await this.apply(record);
    }
    for (let attempt = 1; ; attempt++) {
      const current = await this.aggregatesOfDay(customerId, day);
      const totals: Record<string, AggregateTotals> = {};
      for (const record of await this.ledgerOfDay(customerId, day)) {
        const counted =
          record.aggregated === true || current.get(record.model)?.markers.has(record.requestId);
        if (!counted) continue; // its applier adds it
        const sum = totals[record.model] ?? {
          requests: 0,
          inputTokens: 0,
          outputTokens: 0,
          costMicroUsd: 0,
        };
        totals[record.model] = sum;
        sum.requests += 1;
        sum.inputTokens += record.inputTokens;
        sum.outputTokens += record.outputTokens;
        sum.costMicroUsd += record.costMicroUsd;
      }
      const models = new Set([...Object.keys(totals), ...current.keys()]);
      try {
        for (const model of models) {
          const sum = totals[model] ?? {
            requests: 0,
            inputTokens: 0,
            outputTokens: 0,
            costMicroUsd: 0,
          };
          const seen = current.get(model)?.version;
          await this.doc.send(
            new UpdateCommand({
              TableName: this.tableName,
              Key: aggregateKey(customerId, day, model),
              ...update(
                {
                  set: {
                    customerId,
                    day,
                    model,
                    requests: sum.requests,
                    inputTokens: sum.inputTokens,
                    outputTokens: sum.outputTokens,
                    costMicroUsd: sum.costMicroUsd,
                    v: (seen ?? 0) + 1,
                  },
                },
                seen === undefined ? notExists('v') : compare('v', '=', seen),
              ),
            }),
          );
        }
        return totals;
      } catch (error) {
        if (!isConditionFailure(error) || attempt >= 5) throw error;
      }
    }
  }

  private async claim(record: AggregatedRecord, claim: string): Promise<boolean> {
    const nowMs = this.now();
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: ledgerKey(record),
          ...update(
            { set: { aggClaim: claim, aggClaimedAt: nowMs } },
            and(
              exists(PK),
              notExists('aggregated'),
              or(notExists('aggClaimedAt'), compare('aggClaimedAt', '<', nowMs - CLAIM_MS)),
            ),
          ),
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  private async increment(record: AggregatedRecord): Promise<void> {
    const day = utcDay(record.startedAt);
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: aggregateKey(record.customerId, day, record.model),
          ...update(
            {
              set: {
                customerId: record.customerId,
                day,
                model: record.model,
                [markerOf(record.requestId)]: true,
              },
              add: {
                requests: 1,
                inputTokens: record.inputTokens,
                outputTokens: record.outputTokens,
                costMicroUsd: record.costMicroUsd,
                v: 1,
              },
            },
            notExists(markerOf(record.requestId)),
          ),
        }),
      );
    } catch (error) {
      // The marker is there: an earlier attempt added this record and did not get to flag it.
      if (!isConditionFailure(error)) throw error;
    }
  }

  private async removeMarker(record: AggregatedRecord): Promise<void> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: aggregateKey(record.customerId, utcDay(record.startedAt), record.model),
          ...update({ remove: [markerOf(record.requestId)] }, exists(PK)),
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
  }

  private async ledgerOfDay(
    customerId: string,
    day: string,
  ): Promise<(AggregatedRecord & { aggregated?: boolean })[]> {
    const records: (AggregatedRecord & { aggregated?: boolean })[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: BY_DAY.name,
          KeyConditionExpression: '#gpk = :gpk',
          ExpressionAttributeNames: { '#gpk': BY_DAY.partitionKey },
          ExpressionAttributeValues: { ':gpk': usagePartition(customerId, day) },
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of page.Items ?? [])
        records.push(item as AggregatedRecord & { aggregated?: boolean });
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return records;
  }

  private async aggregatesOfDay(
    customerId: string,
    day: string,
  ): Promise<Map<string, { version: number; markers: Set<string> }>> {
    const result = new Map<string, { version: number; markers: Set<string> }>();
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :day)',
          ExpressionAttributeNames: { '#pk': PK, '#sk': SK },
          ExpressionAttributeValues: { ':pk': `AGG#${customerId}`, ':day': `${day}#` },
          ConsistentRead: true,
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of page.Items ?? []) {
        const markers = new Set(
          Object.keys(item)
            .filter((name) => name.startsWith('applying#'))
            .map((name) => name.slice('applying#'.length)),
        );
        result.set(item.model as string, { version: (item.v as number | undefined) ?? 0, markers });
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return result;
  }
}
