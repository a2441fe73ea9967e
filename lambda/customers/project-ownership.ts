import { type Condition, compare, notExists, or } from '../storage/expressions';
import { defaultProjectId, projectOrDefault } from './key-permissions';

/**
 * Whose a stored object (a file, an upload, a batch, a fine-tuning job, a stored response) is, and
 * who may see it. As OpenAI's, each belongs to one organization and one project: the
 * organization's partition holds it, and only its project's keys (and the console's sessions, for
 * the default project) may read, list, use or delete it; another project's id answers like an
 * unknown one. One rule for every repository and service, here.
 */

/** What a project's key (or a session acting in a project) may see: its project's objects. */
export interface ProjectScope {
  customerId: string;
  projectId: string;
}

/**
 * Every project's objects of one organization: for Tierline's own work on an object a scoped
 * request already checked (the batch worker reading its batch's input), and for the operator's
 * sweeps, usage and billing, which answer for the whole organization.
 */
export interface OrganizationScope {
  customerId: string;
  everyProject: true;
}

export type ObjectScope = ProjectScope | OrganizationScope;

export const everyProject = (customerId: string): OrganizationScope => ({
  customerId,
  everyProject: true,
});

/** The organization's default project: where a console session acts, and where legacy items are. */
export const inDefaultProject = (customerId: string): ProjectScope => ({
  customerId,
  projectId: defaultProjectId(customerId),
});

/** The attribute every scoped item records its project in. */
export const PROJECT_ATTRIBUTE = 'projectId';

/** An item's project; one stored before projects were recorded is the default project's. */
export function projectOf(item: { projectId?: unknown }, customerId: string): string {
  return projectOrDefault(
    customerId,
    typeof item.projectId === 'string' ? item.projectId : undefined,
  );
}

/** Whether `item` (of `scope`'s organization, or naming its own) is visible in `scope`. */
export function isInScope(
  item: { customerId?: unknown; projectId?: unknown },
  scope: ObjectScope,
): boolean {
  if (item.customerId !== undefined && item.customerId !== scope.customerId) return false;
  if ('everyProject' in scope) return true;
  return projectOf(item, scope.customerId) === scope.projectId;
}

/**
 * The same rule as a DynamoDB condition on the item's `projectId`, for a list's filter or a
 * conditional delete (so a delete cannot take another project's item between a read and the
 * write); undefined for the whole organization, which the partition already bounds. An item without
 * `projectId` is the default project's.
 */
export function projectCondition(scope: ProjectScope): Condition;
export function projectCondition(scope: ObjectScope): Condition | undefined;
export function projectCondition(scope: ObjectScope): Condition | undefined {
  if ('everyProject' in scope) return undefined;
  const same = compare(PROJECT_ATTRIBUTE, '=', scope.projectId);
  return scope.projectId === defaultProjectId(scope.customerId)
    ? or(notExists(PROJECT_ATTRIBUTE), same)
    : same;
}

/** The project to record on a new object made in `scope` (the whole organization's: none). */
export function projectToRecord(scope: ObjectScope): { projectId?: string } {
  return 'everyProject' in scope ? {} : { projectId: scope.projectId };
}
