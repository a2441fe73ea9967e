import { GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { randomBase62 } from '../customers/api-keys';
import type { Principal } from '../customers/authenticate';
import type { CustomersRepository } from '../customers/customers-repository';
import { CUSTOMERS_TABLE, PROJECT_KEY_HASHES, projectItemKey } from '../customers/customers-table';
import { defaultProjectId } from '../customers/key-permissions';
import { type ProjectLimits, principalLimits } from '../customers/project-limits';
import { AuthenticationError, BadRequestError, NotFoundError } from '../openai/errors';
import { bodySchema, displayNameField } from '../openai/request-body';
import { applied, isConditionFailure } from '../storage/conditional-writes';
import type { DocumentClient } from '../storage/document-client';
import { compare, exists, ifNotExists, notExists, or, update, value } from '../storage/expressions';

/** A project of an organization (OpenAI's `organization.project`). */
export interface ProjectRecord {
  projectId: string;
  customerId: string;
  name: string;
  status: 'active' | 'archived';
  createdAt: string;
  archivedAt?: string;
  /** Its own rate limits per model (narrower than the organization's), and their version. */
  rateLimits?: ProjectLimits;
}

const PK = CUSTOMERS_TABLE.partitionKey;
const SK = CUSTOMERS_TABLE.sortKey;
const projectKey = projectItemKey;

const slotsKey = (customerId: string) => ({
  [PK]: `CUSTOMER#${customerId}`,
  [SK]: 'PROJECT_SLOTS',
});

/**
 * Projects in the customers table, under their organization's partition (`CUSTOMER#<id>` /
 * `PROJECT#<projectId>`, beside the `PROFILE` item): one GetItem for a project, one Query for an
 * organization's. The default project is not stored until it is renamed: its id is derived from the
 * organization's (`defaultProjectId`), so organizations made before projects have it with no write.
 */
export class ProjectsRepository {
  constructor(
    private readonly doc: DocumentClient,
    private readonly tableName: string,
  ) {}

  async get(customerId: string, projectId: string): Promise<ProjectRecord | undefined> {
    const { Item } = await this.doc.send(
      new GetCommand({
        TableName: this.tableName,
        Key: projectKey(customerId, projectId),
        ConsistentRead: true,
      }),
    );
    return Item ? projectOf(Item) : undefined;
  }

  /** Every stored project of an organization (a Query of its own partition: never another's). */
  async list(customerId: string): Promise<ProjectRecord[]> {
    const projects: ProjectRecord[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :project)',
          ExpressionAttributeNames: { '#pk': PK, '#sk': SK },
          ExpressionAttributeValues: { ':pk': `CUSTOMER#${customerId}`, ':project': 'PROJECT#' },
          ConsistentRead: true,
          ExclusiveStartKey: start,
        }),
      );
      projects.push(...(page.Items ?? []).map(projectOf));
      start = page.LastEvaluatedKey;
    } while (start);
    return projects;
  }

  /** Writes a project that does not exist yet; false when its id is taken. */
  async create(project: ProjectRecord): Promise<boolean> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...projectKey(project.customerId, project.projectId), ...project },
          ConditionExpression: 'attribute_not_exists(#pk)',
          ExpressionAttributeNames: { '#pk': PK },
        }),
      );
      return true;
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      return false;
    }
  }

  /**
   * Takes one of the organization's `max` project slots: a conditional increment of its
   * `PROJECT_SLOTS` item, so concurrent creates cannot pass the cap (a list-then-write could). The
   * item is started once from the projects already stored (organizations made before it); a crash
   * between the slot and the project's write loses one slot of `max`, never lets one more in.
   */
  async takeSlot(customerId: string, max: number): Promise<boolean> {
    for (;;) {
      try {
        await this.doc.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: slotsKey(customerId),
            UpdateExpression: 'ADD #taken :one',
            ConditionExpression: 'attribute_exists(#taken) AND #taken < :max',
            ExpressionAttributeNames: { '#taken': 'taken' },
            ExpressionAttributeValues: { ':one': 1, ':max': max },
          }),
        );
        return true;
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
      }
      const { Item } = await this.doc.send(
        new GetCommand({
          TableName: this.tableName,
          Key: slotsKey(customerId),
          ConsistentRead: true,
        }),
      );
      if (Item) return false; // counted and full
      const stored = await this.list(customerId);
      const taken = stored.filter((p) => p.projectId !== defaultProjectId(customerId)).length;
      try {
        await this.doc.send(
          new PutCommand({
            TableName: this.tableName,
            Item: { ...slotsKey(customerId), taken },
            ConditionExpression: 'attribute_not_exists(#pk)',
            ExpressionAttributeNames: { '#pk': PK },
          }),
        );
      } catch (error) {
        if (!isConditionFailure(error)) throw error; // another create started it: use theirs
      }
    }
  }

  /**
   * Renames a project while it is active (false once archived: a rename that read it active must
   * not write `active` back over an archive). An unstored default project is written whole, its
   * other fields only where absent, so the first rename of it and a concurrent one land on one item.
   */
  async rename(project: ProjectRecord, name: string): Promise<boolean> {
    const { rateLimits: _limits, name: _name, ...rest } = project;
    const others = Object.entries(rest).filter(([, v]) => v !== undefined);
    return applied(
      this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: projectKey(project.customerId, project.projectId),
          ...update(
            {
              set: {
                name,
                ...Object.fromEntries(others.map(([k, v]) => [k, ifNotExists(k, value(v))])),
              },
            },
            or(notExists('status'), compare('status', '=', 'active')),
          ),
        }),
      ),
    );
  }

  /**
   * Archives a stored project (again: a re-run after a crash keeps the first time) and answers it
   * with the hashes of the keys created in it, read in the same write: a key create notes its hash
   * on this item only while it is active, so every key not refused is among them.
   */
  async archive(
    project: ProjectRecord,
    at: string,
  ): Promise<{ project: ProjectRecord; keyHashes: string[] }> {
    const { Attributes = {} } = await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: projectKey(project.customerId, project.projectId),
        ...update(
          { set: { status: 'archived', archivedAt: ifNotExists('archivedAt', value(at)) } },
          exists(PK),
        ),
        ReturnValues: 'ALL_NEW',
      }),
    );
    const hashes = Attributes[PROJECT_KEY_HASHES];
    return {
      project: projectOf(Attributes),
      keyHashes: hashes instanceof Set ? [...hashes].map(String) : [],
    };
  }

  /**
   * Changes a project's limits (a model's rate limits, its spend limit), after the limits as read:
   * a concurrent change of another makes this one read again, so neither is lost. The version
   * grows by one per change. An unstored default project is written whole, its fields only where
   * absent, so a concurrent rename keeps its name.
   */
  async changeLimits(
    read: () => Promise<ProjectRecord>,
    change: (limits: Omit<ProjectLimits, 'version'>) => Omit<ProjectLimits, 'version'>,
  ): Promise<ProjectRecord> {
    for (let attempt = 1; ; attempt++) {
      const project = await read();
      const seen = project.rateLimits?.version;
      const changed = change({
        models: { ...(project.rateLimits?.models ?? {}) },
        ...(project.rateLimits?.spendLimitMicroUsd === undefined
          ? {}
          : { spendLimitMicroUsd: project.rateLimits.spendLimitMicroUsd }),
        ...(project.rateLimits?.spendAlerts ? { spendAlerts: true as const } : {}),
      });
      const rateLimits: ProjectLimits = { ...changed, version: (seen ?? 0) + 1 };
      const base = { ...project, rateLimits: undefined };
      const fields = Object.entries(base).filter(([, v]) => v !== undefined);
      try {
        await this.doc.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: projectKey(project.customerId, project.projectId),
            UpdateExpression: `SET ${[
              ...fields.map((_, i) => `#f${i} = if_not_exists(#f${i}, :v${i})`),
              '#rl = :rl',
            ].join(', ')}`,
            ConditionExpression:
              seen === undefined ? 'attribute_not_exists(#rl)' : '#rl.#version = :seen',
            ExpressionAttributeNames: {
              ...Object.fromEntries(fields.map(([k], i) => [`#f${i}`, k])),
              '#rl': 'rateLimits',
              ...(seen === undefined ? {} : { '#version': 'version' }),
            },
            ExpressionAttributeValues: {
              ...Object.fromEntries(fields.map(([, v], i) => [`:v${i}`, v])),
              ':rl': rateLimits,
              ...(seen === undefined ? {} : { ':seen': seen }),
            },
          }),
        );
        return { ...project, rateLimits };
      } catch (error) {
        if (!isConditionFailure(error) || attempt >= RATE_LIMIT_ATTEMPTS) throw error;
      }
    }
  }
}

/** Updates a project's limits would retry before giving up (each one lost to another change). */
const RATE_LIMIT_ATTEMPTS = 5;

function projectOf(item: Record<string, unknown>): ProjectRecord {
  return {
    projectId: String(item.projectId),
    customerId: String(item.customerId),
    name: String(item.name),
    status: item.status === 'archived' ? 'archived' : 'active',
    createdAt: String(item.createdAt),
    ...(typeof item.archivedAt === 'string' ? { archivedAt: item.archivedAt } : {}),
    ...(item.rateLimits ? { rateLimits: item.rateLimits as ProjectLimits } : {}),
  };
}

export const DEFAULT_PROJECT_NAME = 'Default project';
export const isWellFormedProjectId = (id: string) => /^proj_[A-Za-z0-9]{1,64}$/.test(id);
const MAX_NAME_LENGTH = 100;
/** A session's principal with the project's own rate and spend limits, as a project key has them. */
function withLimitsOf<P extends Principal>(principal: P, project: ProjectRecord | undefined): P {
  return { ...principal, ...principalLimits(project?.rateLimits) };
}

/** Projects an organization may have, archived ones included: far more than any uses. */
export const MAX_PROJECTS = 1_000;

/** A project's name in a create or modify body. */
const projectNameBody = bodySchema(
  {
    name: displayNameField(
      "'name' is required: the project's name, as reports show it.",
      MAX_NAME_LENGTH,
    ),
  },
  { unknownField: 'ignore' },
);

/** Validates a project name: 1 to 100 printable characters after trimming. */
export function parseProjectName(value: unknown): string {
  return String(projectNameBody.check({ name: value }).name).trim();
}

/**
 * An organization's projects: its default project (derived, stored once renamed) and those it
 * created. Another organization's project id is never found: every read is in the caller's own
 * partition.
 */
export class Projects {
  constructor(
    private readonly repository: ProjectsRepository,
    private readonly customers: Pick<CustomersRepository, 'getCustomer'>,
    private readonly now: () => Date = () => new Date(),
    private readonly maxProjects = MAX_PROJECTS,
  ) {}

  /** The default project as it is before it is ever stored. */
  private async defaultProject(customerId: string): Promise<ProjectRecord | undefined> {
    const customer = await this.customers.getCustomer(customerId);
    return {
      projectId: defaultProjectId(customerId),
      customerId,
      name: DEFAULT_PROJECT_NAME,
      status: 'active',
      createdAt: customer?.createdAt ?? new Date(0).toISOString(),
    };
  }

  /** A project of the caller's organization; 404 for any other id. */
  async get(principal: Pick<Principal, 'customerId'>, projectId: string): Promise<ProjectRecord> {
    // An id that could never be one of ours (a 1 KB sort key would fail the read with a 500) is
    // not looked up: it names no project.
    const stored = isWellFormedProjectId(projectId)
      ? await this.repository.get(principal.customerId, projectId)
      : undefined;
    if (stored) return stored;
    if (projectId === defaultProjectId(principal.customerId)) {
      const project = await this.defaultProject(principal.customerId);
      if (project) return project;
    }
    throw new NotFoundError(`No project found with id '${projectId.slice(0, 80)}'.`, {
      code: 'project_not_found',
      param: 'project_id',
    });
  }

  /**
   * The project's id when it may take new keys and work: an archived project answers 400. The
   * default project cannot be archived, so it needs no read.
   */
  async requireActive(principal: Pick<Principal, 'customerId'>, projectId: string) {
    await this.activeProject(principal, projectId);
    return projectId;
  }

  /** The project when it is active and not the default (undefined); archived answers 400. */
  private async activeProject(principal: Pick<Principal, 'customerId'>, projectId: string) {
    if (projectId === defaultProjectId(principal.customerId)) return undefined;
    const project = await this.get(principal, projectId);
    if (project.status === 'archived') {
      throw new BadRequestError(`Project '${projectId}' is archived: use an active project.`, {
        code: 'project_archived',
        param: 'project_id',
      });
    }
    return project;
  }

  /**
   * A console session acting in a project, bound by the project's own rate and spend limits, or a
   * member's session would run inference in a capped project uncapped. A project key carries them
   * on its item; a session has none of its own: a project other than the default is read here
   * anyway (it must be active), so its limits come with that read; the default project's came with
   * the session, from the organization's primary key, which carries them as every key of the
   * project does (`ProjectRateLimits.applyToKeys`).
   */
  private async sessionIn<P extends Principal>(principal: P, projectId: string): Promise<P> {
    const {
      projectModelLimits: _models,
      projectSpendLimitMicroUsd: _spend,
      projectSpendAlerts: _alerts,
      ...rest
    } = principal;
    // The default project's limits came with the session, from the primary key that carries them.
    if (projectId === defaultProjectId(principal.customerId)) return { ...principal, projectId };
    return withLimitsOf(
      { ...rest, projectId } as P,
      await this.activeProject(principal, projectId),
    );
  }

  /**
   * The principal acting in the project `OpenAI-Project` names. A project key is bound to its own
   * project: naming another answers 401, as OpenAI does. An admin key or a session may pick any
   * active project of its organization (another's id: 404); without the header it acts in the
   * default project. A key costs a read only when the header names a project other than the
   * default; so does a session, whose default project's limits wait for inference.
   */
  async pick<P extends Principal>(principal: P, header: string | undefined): Promise<P> {
    const wanted = header?.trim();
    if (principal.kind === 'session' && (!wanted || wanted === principal.projectId)) {
      return this.sessionIn(principal, principal.projectId);
    }
    if (!wanted || wanted === principal.projectId) return principal;
    if (principal.kind === 'project_key') {
      throw new AuthenticationError(
        `The OpenAI-Project header names project '${wanted}', but this API key belongs to ` +
          `project '${principal.projectId}': send that project, or no header.`,
        'mismatched_project',
      );
    }
    if (!isWellFormedProjectId(wanted)) {
      throw new NotFoundError(`No project found with id '${wanted.slice(0, 80)}'.`, {
        code: 'project_not_found',
        param: 'OpenAI-Project',
      });
    }
    if (principal.kind === 'session') return this.sessionIn(principal, wanted);
    return { ...principal, projectId: await this.requireActive(principal, wanted) };
  }

  /** Every project, oldest first, the default one first of all. */
  async list(principal: Pick<Principal, 'customerId'>): Promise<ProjectRecord[]> {
    const stored = await this.repository.list(principal.customerId);
    const defaultId = defaultProjectId(principal.customerId);
    const rest = stored
      .filter((p) => p.projectId !== defaultId)
      .sort(
        (a, b) => a.createdAt.localeCompare(b.createdAt) || a.projectId.localeCompare(b.projectId),
      );
    const stuck = stored.find((p) => p.projectId === defaultId);
    const first = stuck ?? (await this.defaultProject(principal.customerId));
    return first ? [first, ...rest] : rest;
  }

  async create(principal: Pick<Principal, 'customerId'>, name: string): Promise<ProjectRecord> {
    if (!(await this.repository.takeSlot(principal.customerId, this.maxProjects))) {
      throw new BadRequestError(
        `Your organization has ${this.maxProjects} projects, the most allowed: archive is not ` +
          'deletion, so reuse a project instead.',
        { code: 'too_many_projects' },
      );
    }
    const project: ProjectRecord = {
      projectId: `proj_${randomBase62(24)}`,
      customerId: principal.customerId,
      name,
      status: 'active',
      createdAt: this.now().toISOString(),
    };
    // A random id of 143 bits is never taken; the condition only keeps a project from being
    // overwritten if it were.
    if (!(await this.repository.create(project))) {
      project.projectId = `proj_${randomBase62(24)}`;
      if (!(await this.repository.create(project))) throw new Error('Project id taken twice.');
    }
    return project;
  }

  async rename(principal: Pick<Principal, 'customerId'>, projectId: string, name: string) {
    const project = await this.get(principal, projectId);
    if (project.status === 'archived' || !(await this.repository.rename(project, name))) {
      throw new BadRequestError(`Project '${projectId}' is archived and cannot be changed.`, {
        code: 'project_archived',
        param: 'project_id',
      });
    }
    return { ...project, name };
  }

  /**
   * Archives a project and answers it with the hashes of the keys created in it, to revoke: its
   * keys stop being accepted for new work. Archiving again answers the same (and the same hashes,
   * so a re-run after a crash revokes what the first left).
   */
  async archive(principal: Pick<Principal, 'customerId'>, projectId: string) {
    if (projectId === defaultProjectId(principal.customerId)) {
      throw new BadRequestError('The default project cannot be archived.', {
        code: 'default_project_not_archivable',
        param: 'project_id',
      });
    }
    const project = await this.get(principal, projectId);
    return this.repository.archive(project, this.now().toISOString());
  }
}
