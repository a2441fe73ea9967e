import { ACCOUNT, PARTITION, REGION, type ResolvedApp } from './resolved-app';

/** One invocation of a function by API Gateway, as the resource policy must allow it. */
export interface GatewayInvocation {
  /** `POST /v1/chat/completions` or `authorizer`. */
  route: string;
  functionArn: string;
  /** `aws:SourceArn` of the request: the method's execute-api ARN, or the authorizer's. */
  sourceArn: string;
}

const FUNCTION_IN_URI = /\/functions\/(arn:[^/]+)\/(?:invocations|response-streaming-invocations)$/;

/**
 * Every Lambda invocation API Gateway makes for the synthesized REST API: one per method with a
 * Lambda proxy integration, and the authorizer. The source ARN is the one API Gateway presents, in
 * the documented format `arn:aws:execute-api:<region>:<account>:<api-id>/<stage>/<METHOD>/<path>`
 * (".../authorizers/<id>" for an authorizer) ("Control access to a REST API with IAM permissions",
 * API Gateway developer guide).
 */
export function gatewayInvocations(app: ResolvedApp, stackName: string): GatewayInvocation[] {
  const resources = app.template(stackName).Resources;
  const props = (logicalId: string) =>
    app.resolve(stackName, resources[logicalId]?.Properties ?? {}) as Record<string, unknown>;
  const idOf = (type: string) =>
    Object.keys(resources).filter((id) => resources[id]?.Type === type);

  const [restApiId] = idOf('AWS::ApiGateway::RestApi');
  if (!restApiId) return [];
  const apiId = app.ref(stackName, restApiId);
  const rootId = app.attr(stackName, restApiId, 'RootResourceId');
  const stages = idOf('AWS::ApiGateway::Stage').map((id) => String(props(id).StageName));
  const executeApi = (rest: string) =>
    `arn:${PARTITION}:execute-api:${REGION}:${ACCOUNT}:${apiId}/${rest}`;

  const paths = new Map<string, string>([[rootId, '']]);
  const resourceIds = idOf('AWS::ApiGateway::Resource');
  const pathOf = (resourceId: string): string => {
    const known = paths.get(resourceId);
    if (known !== undefined) return known;
    const logicalId = resourceIds.find((id) => app.ref(stackName, id) === resourceId);
    if (!logicalId) throw new Error(`no API Gateway resource ${resourceId}`);
    const p = props(logicalId);
    const path = `${pathOf(String(p.ParentId))}/${String(p.PathPart)}`;
    paths.set(resourceId, path);
    return path;
  };

  const invocations: GatewayInvocation[] = [];
  for (const methodId of idOf('AWS::ApiGateway::Method')) {
    const p = props(methodId);
    const integration = p.Integration as { Type?: string; Uri?: string } | undefined;
    const fn =
      integration?.Type === 'AWS_PROXY' ? FUNCTION_IN_URI.exec(String(integration.Uri)) : null;
    if (!fn?.[1]) continue;
    // "ANY" is invoked with the request's own method: any one of them stands for all.
    const method = p.HttpMethod === 'ANY' ? 'GET' : String(p.HttpMethod);
    const path = pathOf(String(p.ResourceId)).replace(/^\//, '');
    for (const stage of stages) {
      invocations.push({
        route: `${method} /${path} (${stage})`,
        functionArn: fn[1],
        sourceArn: executeApi(`${stage}/${method}/${path}`),
      });
    }
  }
  for (const authorizerId of idOf('AWS::ApiGateway::Authorizer')) {
    const fn = FUNCTION_IN_URI.exec(String(props(authorizerId).AuthorizerUri));
    if (!fn?.[1]) continue;
    invocations.push({
      route: 'authorizer',
      functionArn: fn[1],
      sourceArn: executeApi(`authorizers/${app.ref(stackName, authorizerId)}`),
    });
  }
  return invocations;
}
