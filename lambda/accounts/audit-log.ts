import { PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { randomBase62 } from '../customers/api-keys';
import type { Principal } from '../customers/authenticate';
import { CUSTOMERS_TABLE } from '../customers/customers-table';
import type { DocumentClient } from '../storage/document-client';

/**
 * Administrative actions, as OpenAI's audit log names them (`AuditLogEventType`): who (a user's
 * session or a key), what, when, from where. Only the types Tierline records are listed.
 */
export type AuditEventType =
  | 'api_key.created'
  | 'api_key.deleted'
  | 'project.created'
  | 'project.updated'
  | 'project.archived'
  | 'organization.updated'
  | 'rate_limit.updated'
  | 'invite.sent'
  | 'invite.accepted'
  | 'invite.deleted'
  | 'user.added'
  | 'user.updated'
  | 'user.deleted';

export interface AuditEntry {
  id: string;
  customerId: string;
  type: AuditEventType;
  /** ISO time. */
  effectiveAt: string;
  actor: {
    kind: 'session' | 'api_key';
    /** A user id (sessions) or a key id (`key_...`). */
    id: string;
    /** Sessions: the user's address, when known. */
    email?: string;
    ip?: string;
    userAgent?: string;
  };
  projectId?: string;
  /** The event's details, in the shape OpenAI gives its type (`{ id, data }`, `{ id, changes_requested }`). */
  details: Record<string, unknown>;
}

const PK = CUSTOMERS_TABLE.partitionKey;
const SK = CUSTOMERS_TABLE.sortKey;
const auditPartition = (customerId: string) => `AUDIT#${customerId}`;
const MAX_USER_AGENT = 512;

/**
 * `audit_log-` + milliseconds in base36 (9 characters) + 12 random base62: ids sort by time, so
 * the id is the sort key and `after` is the place to start, as OpenAI pages its log.
 */
export const newAuditId = (now: Date) =>
  `audit_log-${now.getTime().toString(36).padStart(9, '0')}${randomBase62(12)}`;

/**
 * The audit log in the customers table: `AUDIT#<customerId>` / `<audit id>`, one partition per
 * organization, read newest first with one Query a page.
 */
export class AuditLogRepository {
  constructor(
    private readonly doc: DocumentClient,
    private readonly tableName: string,
  ) {}

  async put(entry: AuditEntry): Promise<void> {
    await this.doc.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { [PK]: auditPartition(entry.customerId), [SK]: entry.id, ...entry },
      }),
    );
  }

  /** Up to `limit` entries, newest first, older than `after` when given; `hasMore` when more are left. */
  async page(
    customerId: string,
    options: { limit: number; after?: string },
  ): Promise<{ entries: AuditEntry[]; hasMore: boolean }> {
    const entries: AuditEntry[] = [];
    let start: Record<string, unknown> | undefined = options.after
      ? { [PK]: auditPartition(customerId), [SK]: options.after }
      : undefined;
    // One more than asked says whether there are more; 1 MB pages may cut a Query short.
    do {
      const page = await this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: '#pk = :pk',
          ExpressionAttributeNames: { '#pk': PK },
          ExpressionAttributeValues: { ':pk': auditPartition(customerId) },
          ScanIndexForward: false,
          Limit: options.limit + 1 - entries.length,
          ExclusiveStartKey: start,
        }),
      );
      for (const item of page.Items ?? []) {
        const { [PK]: _pk, [SK]: _sk, ...entry } = item;
        entries.push(entry as AuditEntry);
      }
      start = page.LastEvaluatedKey;
    } while (start && entries.length <= options.limit);
    return { entries: entries.slice(0, options.limit), hasMore: entries.length > options.limit };
  }
}

/** Where a request came from, as the HTTP layer reads it. */
export interface RequestOrigin {
  ip?: string;
  userAgent?: string;
}

/** Records administrative actions, each with its actor taken from the principal. */
export class AuditLog {
  constructor(
    private readonly repository: Pick<AuditLogRepository, 'put'>,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async record(
    principal: Pick<Principal, 'kind' | 'customerId' | 'userId' | 'keyId'>,
    origin: RequestOrigin,
    type: AuditEventType,
    details: Record<string, unknown>,
    projectId?: string,
  ): Promise<AuditEntry> {
    const at = this.now();
    const entry: AuditEntry = {
      id: newAuditId(at),
      customerId: principal.customerId,
      type,
      effectiveAt: at.toISOString(),
      actor: {
        kind: principal.kind === 'session' ? 'session' : 'api_key',
        id: principal.kind === 'session' ? (principal.userId ?? '') : (principal.keyId ?? ''),
        ...(origin.ip ? { ip: origin.ip } : {}),
        ...(origin.userAgent ? { userAgent: origin.userAgent.slice(0, MAX_USER_AGENT) } : {}),
      },
      ...(projectId ? { projectId } : {}),
      details,
    };
    await this.repository.put(entry);
    return entry;
  }
}
