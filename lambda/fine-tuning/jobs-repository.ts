import { DeleteCommand, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import {
  isInScope,
  type ObjectScope,
  type ProjectScope,
  projectCondition,
} from '../customers/project-ownership';
import { applied, isConditionFailure } from '../storage/conditional-writes';
import type { DocumentClient } from '../storage/document-client';
import { exists, filtered, isIn, update } from '../storage/expressions';
import { queryAll, queryPage } from '../storage/query-pages';
import { FINE_TUNING_TABLE } from './fine-tuning-table';
import type { JobEvent, JobRecord, JobStatus } from './jobs';

const { partitionKey: PK, sortKey: SK, byOwnerIndex: BY_OWNER } = FINE_TUNING_TABLE;
const JOB_SK = 'JOB';

const jobPk = (jobId: string) => `JOB#${jobId}`;
const IDEMPOTENCY_SK = 'IDEM';
/**
 * A key is its project's: another project's create with the same key is another request (and
 * never answers this project's job). Project ids hold no `#`, so no key can pose as another
 * project's.
 */
const idempotencyPk = ({ customerId, projectId }: ProjectScope, key: string) =>
  `IDEM#${customerId}#${projectId}#${key}`;

/** A create's `Idempotency-Key`, claimed for the job it creates (written before the spend hold). */
export interface IdempotencyClaim {
  jobId: string;
  /** sha256 of the request body: the same key with another body is a client error, not a replay. */
  fingerprint: string;
  /** Unix seconds. */
  claimedAt: number;
}
const ownerJobs = (customerId: string) => `OWNER#${customerId}#JOB`;
/** Zero-padded so events sort by time, then by id. */
const eventSk = (event: Pick<JobEvent, 'createdAt' | 'id'>) =>
  `EVENT#${String(event.createdAt).padStart(12, '0')}#${event.id}`;

function strip<T>(item: Record<string, unknown> | undefined): T | undefined {
  if (!item) return undefined;
  const { [PK]: _pk, [SK]: _sk, ownerKey: _ok, ownerSort: _os, ...rest } = item;
  return rest as T;
}

/**
 * Fine-tuning jobs and their events in DynamoDB. Every write is conditional, so a retried task, a
 * duplicated or late EventBridge delivery, or two writers racing can never move a job backwards or
 * write an event twice.
 */
export class JobsRepository {
  constructor(
    private readonly client: DocumentClient,
    private readonly tableName: string,
  ) {}

  /** False when the job already exists (a retried create). */
  async create(job: JobRecord): Promise<boolean> {
    return applied(
      this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            [PK]: jobPk(job.jobId),
            [SK]: JOB_SK,
            ownerKey: ownerJobs(job.customerId),
            ownerSort: `${String(job.createdAt).padStart(12, '0')}#${job.jobId}`,
            ...job,
          },
          ConditionExpression: 'attribute_not_exists(#pk)',
          ExpressionAttributeNames: { '#pk': PK },
        }),
      ),
    );
  }

  /**
   * Claims `key` of the project for `claim.jobId`, once: false when the key is claimed already (by
   * a first attempt of the same request, finished or still in flight). `replacing` takes over a
   * claim that expired or whose attempt died, only if it still has that `claimedAt` (two takers:
   * one wins).
   */
  async claimIdempotencyKey(
    owner: ProjectScope,
    key: string,
    claim: IdempotencyClaim,
    replacing?: number,
  ): Promise<boolean> {
    return applied(
      this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            [PK]: idempotencyPk(owner, key),
            [SK]: IDEMPOTENCY_SK,
            customerId: owner.customerId,
            projectId: owner.projectId,
            ...claim,
          },
          ConditionExpression:
            replacing === undefined
              ? 'attribute_not_exists(#pk)'
              : 'attribute_not_exists(#pk) OR claimedAt = :replacing',
          ExpressionAttributeNames: { '#pk': PK },
          ...(replacing === undefined
            ? {}
            : { ExpressionAttributeValues: { ':replacing': replacing } }),
        }),
      ),
    );
  }

  async getIdempotencyClaim(
    owner: ProjectScope,
    key: string,
  ): Promise<IdempotencyClaim | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { [PK]: idempotencyPk(owner, key), [SK]: IDEMPOTENCY_SK },
        ConsistentRead: true,
      }),
    );
    if (!Item) return undefined;
    return {
      jobId: Item.jobId as string,
      fingerprint: Item.fingerprint as string,
      claimedAt: Item.claimedAt as number,
    };
  }

  /** Gives up the claim `jobId` holds (its create failed before a job held anything): a retry starts afresh. */
  async releaseIdempotencyKey(owner: ProjectScope, key: string, jobId: string): Promise<void> {
    try {
      await this.client.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: { [PK]: idempotencyPk(owner, key), [SK]: IDEMPOTENCY_SK },
          ConditionExpression: 'jobId = :jobId',
          ExpressionAttributeValues: { ':jobId': jobId },
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
  }

  async get(jobId: string): Promise<JobRecord | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { [PK]: jobPk(jobId), [SK]: JOB_SK },
        ConsistentRead: true,
      }),
    );
    return strip<JobRecord>(Item);
  }

  /**
   * The job when it is visible in `scope`; another organization's or project's job is as absent
   * as a job that never existed.
   */
  async getOwned(scope: ObjectScope, jobId: string): Promise<JobRecord | undefined> {
    const job = await this.get(jobId);
    // Read by its global id, not in the caller's partition: the owner is checked, not assumed.
    return job && job.customerId === scope.customerId && isInScope(job, scope) ? job : undefined;
  }

  /**
   * The jobs visible in `scope`, newest first, after the job `after` (OpenAI's cursor). The owner
   * index holds the organization's: the filter leaves out another project's.
   */
  async list(
    scope: ObjectScope,
    limit: number,
    after?: JobRecord,
  ): Promise<{ jobs: JobRecord[]; hasMore: boolean }> {
    const { customerId } = scope;
    const { items: jobs, hasMore } = await queryPage(
      this.client,
      filtered(
        {
          TableName: this.tableName,
          IndexName: BY_OWNER.name,
          KeyConditionExpression: after ? '#owner = :owner AND #sort < :after' : '#owner = :owner',
          // DynamoDB refuses a name the expression does not use: `#sort` only with a cursor.
          ExpressionAttributeNames: {
            '#owner': BY_OWNER.partitionKey,
            ...(after ? { '#sort': BY_OWNER.sortKey } : {}),
          },
          ExpressionAttributeValues: {
            ':owner': ownerJobs(customerId),
            ...(after
              ? { ':after': `${String(after.createdAt).padStart(12, '0')}#${after.jobId}` }
              : {}),
          },
          ScanIndexForward: false,
        },
        projectCondition(scope),
      ),
      limit,
      (item) => strip<JobRecord>(item) as JobRecord,
    );
    return { jobs, hasMore };
  }

  /**
   * Moves a job to `to` only from one of `from`, setting `fields` with it. False when the job is
   * elsewhere (already terminal, cancelled meanwhile, or absent).
   */
  async transition(
    jobId: string,
    from: readonly JobStatus[],
    to: JobStatus,
    fields: Partial<JobRecord> = {},
  ) {
    const set = Object.entries({ ...fields, status: to }).filter(([, v]) => v !== undefined);
    return applied(
      this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { [PK]: jobPk(jobId), [SK]: JOB_SK },
          ...update({ set: Object.fromEntries(set) }, isIn('status', from)),
        }),
      ),
    );
  }

  /** Sets fields of an existing job without touching its status. */
  async update(
    jobId: string,
    fields: Partial<Omit<JobRecord, 'status' | 'jobId' | 'customerId'>>,
  ): Promise<void> {
    const entries = Object.entries(fields).filter(([, v]) => v !== undefined);
    if (entries.length === 0) return;
    const set = Object.fromEntries(entries);
    await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { [PK]: jobPk(jobId), [SK]: JOB_SK },
        ...update({ set }, exists(PK)),
      }),
    );
  }

  /**
   * Records SageMaker's training status only when it is later than the one recorded (by rank): an
   * event that arrives after a later one changes nothing. True when it was applied.
   */
  async recordTrainingStatus(
    jobId: string,
    trainingStatus: string,
    rank: number,
  ): Promise<boolean> {
    return applied(
      this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { [PK]: jobPk(jobId), [SK]: JOB_SK },
          UpdateExpression: 'SET trainingStatus = :status, trainingStatusRank = :rank',
          ConditionExpression:
            'attribute_exists(#pk) AND (attribute_not_exists(trainingStatusRank) OR trainingStatusRank < :rank)',
          ExpressionAttributeNames: { '#pk': PK },
          ExpressionAttributeValues: { ':status': trainingStatus, ':rank': rank },
        }),
      ),
    );
  }

  /**
   * Marks the job's spend reservation as settled (billed or released), once: true for the one
   * caller that marked it, which then settles; false for every retry or concurrent settler after
   * it.
   */
  async markSpendSettled(jobId: string, at: number): Promise<boolean> {
    return applied(
      this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { [PK]: jobPk(jobId), [SK]: JOB_SK },
          UpdateExpression: 'SET spendSettledAt = :at',
          ConditionExpression: 'attribute_exists(#pk) AND attribute_not_exists(spendSettledAt)',
          ExpressionAttributeNames: { '#pk': PK },
          ExpressionAttributeValues: { ':at': at },
        }),
      ),
    );
  }

  /** Writes an event once; false when an event with its id and time exists. */
  async addEvent(jobId: string, event: JobEvent): Promise<boolean> {
    return applied(
      this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { [PK]: jobPk(jobId), [SK]: eventSk(event), ...event },
          ConditionExpression: 'attribute_not_exists(#pk)',
          ExpressionAttributeNames: { '#pk': PK },
        }),
      ),
    );
  }

  /** Events newest first, after the event with id `after`. */
  async events(
    jobId: string,
    limit: number,
    after?: string,
  ): Promise<{ events: JobEvent[]; hasMore: boolean }> {
    // Every page: a long training writes thousands of metric events, past one 1 MB query page.
    let events: JobEvent[] = [];
    const query = {
      TableName: this.tableName,
      KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :events)',
      ExpressionAttributeNames: { '#pk': PK, '#sk': SK },
      ExpressionAttributeValues: { ':pk': jobPk(jobId), ':events': 'EVENT#' },
      ScanIndexForward: false,
    };
    for await (const event of queryAll(
      this.client,
      query,
      (item) => strip<JobEvent>(item) as JobEvent,
    )) {
      events.push(event);
    }
    if (after) {
      const index = events.findIndex((e) => e.id === after);
      events = index >= 0 ? events.slice(index + 1) : events;
    }
    return { events: events.slice(0, limit), hasMore: events.length > limit };
  }
}
