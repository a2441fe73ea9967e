import { randomBytes } from 'node:crypto';
import {
  type APIGatewayClient,
  CreateApiKeyCommand,
  CreateUsagePlanCommand,
  CreateUsagePlanKeyCommand,
  DeleteApiKeyCommand,
  DeleteUsagePlanCommand,
  DeleteUsagePlanKeyCommand,
  GetApiKeysCommand,
  GetUsagePlansCommand,
  type QuotaSettings,
  type ThrottleSettings,
  UpdateUsagePlanCommand,
} from '@aws-sdk/client-api-gateway';
import {
  CreateTableCommand,
  type DynamoDBClient,
  ResourceInUseException,
} from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, PutCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import type { DocumentClient } from '../lambda/storage/document-client';

/**
 * Local mode's stand-in for the part of API Gateway that Tierline uses: API keys, usage plans and
 * their association. It answers the same SDK commands the operator CLI sends to AWS (so `tierline
 * --local` runs the same code), with the same error names (NotFoundException, ConflictException),
 * and keeps its state in the local DynamoDB engine so it survives a restart. It is an emulation,
 * not API Gateway.
 */

export interface LocalApiKey {
  id: string;
  name: string;
  value: string;
  enabled: boolean;
}

export interface LocalUsagePlan {
  id: string;
  name: string;
  throttle?: ThrottleSettings;
  quota?: QuotaSettings;
  keyIds: string[];
}

class ApiGatewayError extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}

const TABLE = 'tierline-local-edge';
const newId = () => randomBytes(5).toString('hex');

type Command = { input: Record<string, unknown> };

export class ApiGatewayEmulator {
  constructor(private readonly doc: DocumentClient) {}

  static async createTable(client: DynamoDBClient): Promise<void> {
    try {
      await client.send(
        new CreateTableCommand({
          TableName: TABLE,
          BillingMode: 'PAY_PER_REQUEST',
          AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
          KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        }),
      );
    } catch (error) {
      if (!(error instanceof ResourceInUseException)) throw error;
    }
  }

  /** Usable where the operator expects an `APIGatewayClient`. */
  asClient(): APIGatewayClient {
    return { send: (command: Command) => this.send(command) } as unknown as APIGatewayClient;
  }

  private async get<T>(pk: string): Promise<T | undefined> {
    const { Item } = await this.doc.send(
      new GetCommand({ TableName: TABLE, Key: { pk }, ConsistentRead: true }),
    );
    return Item as T | undefined;
  }

  private async put(pk: string, item: object): Promise<void> {
    await this.doc.send(new PutCommand({ TableName: TABLE, Item: { pk, ...item } }));
  }

  private async all<T>(prefix: string): Promise<T[]> {
    const items: T[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.doc.send(
        new ScanCommand({ TableName: TABLE, ExclusiveStartKey: start }),
      );
      for (const item of page.Items ?? [])
        if (String(item.pk).startsWith(prefix)) items.push(item as T);
      start = page.LastEvaluatedKey;
    } while (start);
    return items;
  }

  /** Takes a key value for a key id, unless another key holds it: answers whether it did. */
  private async claimValue(value: string, keyId: string): Promise<boolean> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: TABLE,
          Item: { pk: `VALUE#${value}`, keyId },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof Error && error.name === 'ConditionalCheckFailedException') return false;
      throw error;
    }
  }

  private async plan(id: string): Promise<LocalUsagePlan> {
    const plan = await this.get<LocalUsagePlan>(`PLAN#${id}`);
    if (!plan)
      throw new ApiGatewayError('NotFoundException', `Invalid Usage Plan ID specified: ${id}`);
    return plan;
  }

  /** The usage plan of every enabled key, by key value, from one scan: for the throttle emulation. */
  async plansByKeyValue(): Promise<Map<string, LocalUsagePlan>> {
    const items = await this.all<LocalApiKey | LocalUsagePlan>('');
    const plans = items.filter((item): item is LocalUsagePlan => 'keyIds' in item);
    const byValue = new Map<string, LocalUsagePlan>();
    for (const key of items.filter(
      (item): item is LocalApiKey => 'value' in item && item.enabled,
    )) {
      const plan = plans.find((p) => p.keyIds.includes(key.id));
      if (plan) byValue.set(key.value, plan);
    }
    return byValue;
  }

  /**
   * Makes sure a key with a fixed id and value exists on a plan (local mode's "deploy" of a pooled
   * tier's keys, as CloudFormation makes them in AWS).
   */
  async upsertPlanKey(planId: string, keyId: string, value: string): Promise<void> {
    await this.put(`VALUE#${value}`, { keyId });
    await this.put(`KEY#${keyId}`, { id: keyId, name: value, value, enabled: true });
    const plan = await this.plan(planId);
    if (!plan.keyIds.includes(keyId))
      await this.put(`PLAN#${planId}`, { ...plan, keyIds: [...plan.keyIds, keyId] });
  }

  /** Creates or updates a tier plan with a fixed id (local mode's "deploy" of the usage plans). */
  async upsertPlan(
    id: string,
    name: string,
    throttle: ThrottleSettings,
    quota?: QuotaSettings,
  ): Promise<void> {
    const existing = await this.get<LocalUsagePlan>(`PLAN#${id}`);
    await this.put(`PLAN#${id}`, { id, name, throttle, quota, keyIds: existing?.keyIds ?? [] });
  }

  private async createApiKey(input: Record<string, unknown>): Promise<LocalApiKey> {
    const key: LocalApiKey = {
      id: newId(),
      name: String(input.name),
      value: String(input.value ?? randomBytes(20).toString('hex')),
      enabled: input.enabled !== false,
    };
    // API Gateway keeps key values unique in a region (names need not be): a second key with a
    // value answers 409 ConflictException "API Key already exists". The value's item is claimed
    // in one conditional write, so two concurrent creates cannot both pass.
    if (!(await this.claimValue(key.value, key.id)))
      throw new ApiGatewayError('ConflictException', 'API Key already exists');
    await this.put(`KEY#${key.id}`, key);
    return { ...key };
  }

  private async deleteApiKey(input: Record<string, unknown>): Promise<object> {
    const id = String(input.apiKey);
    const deleted = await this.get<LocalApiKey>(`KEY#${id}`);
    if (!deleted)
      throw new ApiGatewayError('NotFoundException', `Invalid API Key identifier specified`);
    await this.doc.send(new DeleteCommand({ TableName: TABLE, Key: { pk: `KEY#${id}` } }));
    await this.doc.send(
      new DeleteCommand({ TableName: TABLE, Key: { pk: `VALUE#${deleted.value}` } }),
    );
    for (const plan of await this.all<LocalUsagePlan>('PLAN#')) {
      if (plan.keyIds.includes(id))
        await this.put(`PLAN#${plan.id}`, {
          ...plan,
          keyIds: plan.keyIds.filter((k) => k !== id),
        });
    }
    return {};
  }

  private async getApiKeys(input: Record<string, unknown>): Promise<object> {
    const query = input.nameQuery ? String(input.nameQuery) : '';
    const items = (await this.all<LocalApiKey>('KEY#')).filter((k) => k.name.startsWith(query));
    // Values only when asked for (`includeValues`), as API Gateway answers.
    return {
      items: items.map(({ id, name, enabled, value }) => ({
        id,
        name,
        enabled,
        ...(input.includeValues === true ? { value } : {}),
      })),
    };
  }

  async send(command: Command): Promise<unknown> {
    const input = command.input;
    if (command instanceof CreateApiKeyCommand) return this.createApiKey(input);
    if (command instanceof DeleteApiKeyCommand) return this.deleteApiKey(input);
    if (command instanceof GetApiKeysCommand) return this.getApiKeys(input);
    if (command instanceof CreateUsagePlanKeyCommand) {
      const plan = await this.plan(String(input.usagePlanId));
      const keyId = String(input.keyId);
      if (!(await this.get(`KEY#${keyId}`)))
        throw new ApiGatewayError('NotFoundException', 'Invalid API Key identifier specified');
      if (plan.keyIds.includes(keyId))
        throw new ApiGatewayError('ConflictException', 'Usage Plan Key already exists');
      const others = (await this.all<LocalUsagePlan>('PLAN#')).filter(
        (p) => p.id !== plan.id && p.keyIds.includes(keyId),
      );
      if (others.length > 0) {
        // Like API Gateway: a key may be on one usage plan per stage.
        throw new ApiGatewayError(
          'ConflictException',
          `API Key ${keyId} cannot reference multiple Usage Plans with the same API Stage`,
        );
      }
      await this.put(`PLAN#${plan.id}`, { ...plan, keyIds: [...plan.keyIds, keyId] });
      return { id: keyId, type: 'API_KEY' };
    }
    if (command instanceof DeleteUsagePlanKeyCommand) {
      const plan = await this.plan(String(input.usagePlanId));
      const keyId = String(input.keyId);
      if (!plan.keyIds.includes(keyId))
        throw new ApiGatewayError('NotFoundException', 'Invalid Usage Plan Key');
      await this.put(`PLAN#${plan.id}`, {
        ...plan,
        keyIds: plan.keyIds.filter((k) => k !== keyId),
      });
      return {};
    }
    if (command instanceof CreateUsagePlanCommand) {
      const plan: LocalUsagePlan = {
        id: newId(),
        name: String(input.name),
        throttle: input.throttle as ThrottleSettings | undefined,
        quota: input.quota as QuotaSettings | undefined,
        keyIds: [],
      };
      await this.put(`PLAN#${plan.id}`, plan);
      return { id: plan.id, name: plan.name, throttle: plan.throttle, quota: plan.quota };
    }
    if (command instanceof UpdateUsagePlanCommand) {
      const plan = await this.plan(String(input.usagePlanId));
      for (const op of (input.patchOperations ?? []) as {
        op: string;
        path: string;
        value?: string;
      }[]) {
        if (op.path === '/throttle/rateLimit')
          plan.throttle = { ...plan.throttle, rateLimit: Number(op.value) };
        else if (op.path === '/throttle/burstLimit')
          plan.throttle = { ...plan.throttle, burstLimit: Number(op.value) };
        else if (op.path === '/quota/limit')
          plan.quota = { ...plan.quota, limit: Number(op.value) };
        else if (op.path === '/quota/period')
          plan.quota = { ...plan.quota, period: op.value as QuotaSettings['period'] };
        else if (op.path === '/quota' && op.op === 'remove') plan.quota = undefined;
        // '/apiStages': local mode has one stage; nothing to do.
      }
      await this.put(`PLAN#${plan.id}`, plan);
      return { id: plan.id, name: plan.name, throttle: plan.throttle, quota: plan.quota };
    }
    if (command instanceof DeleteUsagePlanCommand) {
      const plan = await this.plan(String(input.usagePlanId));
      await this.doc.send(new DeleteCommand({ TableName: TABLE, Key: { pk: `PLAN#${plan.id}` } }));
      return {};
    }
    if (command instanceof GetUsagePlansCommand) {
      const keyId = input.keyId ? String(input.keyId) : undefined;
      const plans = (await this.all<LocalUsagePlan>('PLAN#')).filter(
        (plan) => !keyId || plan.keyIds.includes(keyId),
      );
      return {
        items: plans.map(({ id, name, throttle, quota }) => ({ id, name, throttle, quota })),
      };
    }
    throw new Error(
      `The local API Gateway emulation does not implement ${command.constructor.name}`,
    );
  }
}
