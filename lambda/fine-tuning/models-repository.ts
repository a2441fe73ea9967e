import {
  DeleteCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { isInScope, type ObjectScope, projectCondition } from '../customers/project-ownership';
import { applied, isConditionFailure } from '../storage/conditional-writes';
import type { DocumentClient } from '../storage/document-client';
import { and, compare, conditionOnly, filtered, isIn, update } from '../storage/expressions';
import { FINE_TUNING_TABLE } from './fine-tuning-table';

const { partitionKey: PK, sortKey: SK, byOwnerIndex: BY_OWNER } = FINE_TUNING_TABLE;
const MODEL_SK = 'MODEL';

export const MODEL_STATUSES = ['deploying', 'ready', 'failed', 'deleting'] as const;
export type ModelStatus = (typeof MODEL_STATUSES)[number];

/** Where a fine-tuned model came from: a training job, or an adapter the customer uploaded (Groq's way). */
export type ModelSource = { kind: 'job'; jobId: string } | { kind: 'file'; fileId: string };

/**
 * A servable LoRA adapter: one per `ft:` model id, owned by one customer and one of its projects,
 * never moved to another.
 */
export interface FineTunedModel {
  /** `ft:<base>:<customer>:<suffix or name>:<key>`. */
  modelId: string;
  /** The short id of the model: part of its SageMaker names and of its S3 key. */
  modelKey: string;
  customerId: string;
  /**
   * The project whose job trained it (or whose key registered it): only that project's keys see,
   * use or delete it. Absent on models recorded before models carried a project, and on those of
   * jobs made before jobs did: the default project's (`projectOf`).
   */
  projectId?: string;
  /** Catalog id of the base model: its limits apply, its component serves the adapter. */
  baseModel: string;
  /** The adapter inference component (SageMaker) and the adapter's name upstream (vLLM `--lora-modules`). */
  componentName: string;
  /** The one adapter.tar.gz the component serves. */
  artifactUrl: string;
  source: ModelSource;
  /** Groq's `name` of an uploaded adapter, or the job's suffix. */
  name: string;
  status: ModelStatus;
  /** Unix seconds. */
  createdAt: number;
  rank?: number;
  failureReason?: string;
}

const modelPk = (modelId: string) => `MODEL#${modelId}`;

/**
 * The shape of an `ft:` id this service mints: `ft:<base>:<customer>:<suffix or name>:<key>`, each
 * part without `:` or spaces, at most 400 characters in all. Anything else names no model, and is
 * answered as unknown without asking DynamoDB (which refuses keys over 2,048 bytes with a
 * ValidationException, a 500).
 */
const FINE_TUNED_MODEL_ID = /^ft:[^:\s]{1,128}:[^:\s]{1,128}:[^:\s]{0,64}:[^:\s]{1,64}$/u;
const MAX_MODEL_ID_LENGTH = 400;
export const isFineTunedModelId = (modelId: string): boolean =>
  modelId.length <= MAX_MODEL_ID_LENGTH && FINE_TUNED_MODEL_ID.test(modelId);
const ownerModels = (customerId: string) => `OWNER#${customerId}#MODEL`;
const ownerSort = (model: Pick<FineTunedModel, 'createdAt' | 'modelId'>) =>
  `${String(model.createdAt).padStart(12, '0')}#${model.modelId}`;

function strip(item: Record<string, unknown> | undefined): FineTunedModel | undefined {
  if (!item) return undefined;
  const { [PK]: _pk, [SK]: _sk, ownerKey: _ok, ownerSort: _os, ...rest } = item;
  return rest as unknown as FineTunedModel;
}

/**
 * The fine-tuned model registry (`MODEL#<id>` / `MODEL` items of the fine-tuning table, indexed by
 * owner). Every write is conditional: a retried registration or workflow task finds the record it
 * wrote, a status moves only from the states named, and a record is never overwritten by another
 * customer's.
 */
export class ModelsRepository {
  constructor(
    private readonly client: DocumentClient,
    private readonly tableName: string,
  ) {}

  /**
   * Writes the record unless one with its id exists; answers the record as stored (the new one, or
   * the one a retry, a concurrent request or the workflow wrote first).
   */
  async create(model: FineTunedModel): Promise<{ created: boolean; model: FineTunedModel }> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            [PK]: modelPk(model.modelId),
            [SK]: MODEL_SK,
            ownerKey: ownerModels(model.customerId),
            ownerSort: ownerSort(model),
            ...model,
          },
          ConditionExpression: 'attribute_not_exists(#pk)',
          ExpressionAttributeNames: { '#pk': PK },
        }),
      );
      return { created: true, model };
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      const existing = await this.get(model.modelId);
      if (!existing) throw error; // deleted in between: let the caller retry
      return { created: false, model: existing };
    }
  }

  /** One GetItem; strongly consistent so a model is usable the moment its registration answered. */
  async get(modelId: string): Promise<FineTunedModel | undefined> {
    if (!isFineTunedModelId(modelId)) return undefined;
    const { Item } = await this.client.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { [PK]: modelPk(modelId), [SK]: MODEL_SK },
        ConsistentRead: true,
      }),
    );
    return strip(Item);
  }

  /**
   * The model when it is visible in `scope`; another customer's or another project's model is as
   * absent as one that never existed.
   */
  async getOwned(scope: ObjectScope, modelId: string): Promise<FineTunedModel | undefined> {
    const model = await this.get(modelId);
    // Read by its global id, not in the caller's partition: the owner is checked, not assumed.
    return model && model.customerId === scope.customerId && isInScope(model, scope)
      ? model
      : undefined;
  }

  /**
   * The models visible in `scope`, newest first (at most `limit`, 100 by default). The owner index
   * holds the organization's: the filter leaves out another project's.
   */
  async listByOwner(scope: ObjectScope, limit = 100): Promise<FineTunedModel[]> {
    const models: FineTunedModel[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.client.send(
        new QueryCommand(
          filtered(
            {
              TableName: this.tableName,
              IndexName: BY_OWNER.name,
              KeyConditionExpression: '#owner = :owner',
              ExpressionAttributeNames: { '#owner': BY_OWNER.partitionKey },
              ExpressionAttributeValues: { ':owner': ownerModels(scope.customerId) },
              ScanIndexForward: false,
              // DynamoDB applies Limit before the filter: a short page reads on (the loop).
              Limit: limit - models.length,
              ExclusiveStartKey: start,
            },
            projectCondition(scope),
          ),
        ),
      );
      for (const item of page.Items ?? []) models.push(strip(item) as FineTunedModel);
      start = page.LastEvaluatedKey;
    } while (start && models.length < limit);
    return models;
  }

  /** Moves the status only from one of `from`; false when the model is elsewhere or gone. */
  async transition(
    modelId: string,
    from: readonly ModelStatus[],
    to: ModelStatus,
    fields: { failureReason?: string } = {},
  ): Promise<boolean> {
    return applied(
      this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { [PK]: modelPk(modelId), [SK]: MODEL_SK },
          ...update(
            {
              set: {
                status: to,
                ...(fields.failureReason === undefined
                  ? {}
                  : { failureReason: fields.failureReason }),
              },
            },
            isIn('status', from),
          ),
        }),
      ),
    );
  }

  /**
   * Removes the record of a model visible in `scope`; false when there was none there. The
   * condition holds the project too, so a delete never takes another project's model.
   */
  async delete(scope: ObjectScope, modelId: string): Promise<boolean> {
    const owner = compare('customerId', '=', scope.customerId);
    const project = projectCondition(scope);
    return applied(
      this.client.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: { [PK]: modelPk(modelId), [SK]: MODEL_SK },
          ...conditionOnly(project ? and(owner, project) : owner),
        }),
      ),
    );
  }
}
