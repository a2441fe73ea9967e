import {
  checkInService,
  deploy,
  fail,
  prepare,
  succeed,
  type WorkflowDeps,
} from './workflow-tasks';

/** One Lambda serves every task of the state machine; `task` names which (set in the definition). */
export type WorkflowTaskEvent =
  | ({ task: 'prepare' } & Parameters<typeof prepare>[0])
  | ({ task: 'deploy' } & Parameters<typeof deploy>[0])
  | ({ task: 'checkInService' } & Parameters<typeof checkInService>[0])
  | ({ task: 'succeed' } & Parameters<typeof succeed>[0])
  | ({ task: 'fail' } & Parameters<typeof fail>[0]);

export function createWorkflowHandler(deps: WorkflowDeps) {
  return async (event: WorkflowTaskEvent): Promise<unknown> => {
    switch (event.task) {
      case 'prepare':
        return prepare(event, deps);
      case 'deploy':
        return deploy(event, deps);
      case 'checkInService':
        return checkInService(event, deps);
      case 'succeed':
        return succeed(event, deps);
      case 'fail':
        return fail(event, deps);
      default:
        throw new Error(
          `unknown workflow task ${JSON.stringify((event as { task?: unknown }).task)}`,
        );
    }
  };
}
