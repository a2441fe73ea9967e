import { Validations } from 'aws-cdk-lib';
import {
  AuthorizationType,
  type CorsOptions,
  type IResource,
  type LambdaIntegration,
  type MethodOptions,
  type RequestValidator,
} from 'aws-cdk-lib/aws-apigateway';
import { NOT_DEPLOYED, tierlineOpenApiDocument } from '../../../lambda/http/openapi/document';
import type { TierlineConfig } from '../../config/schema';

/** Path parameters that may hold slashes (fine-tuned model ids): a greedy `{name+}` resource. */
const GREEDY_PARAMETERS = new Set(['model']);

interface Operation {
  security?: unknown[];
  /** Served under `/v1` only, not mirrored under `/openai/v1` (see the document). */
  'x-v1-only'?: boolean;
  [NOT_DEPLOYED]?: string;
  responses?: Record<string, { content?: Record<string, unknown> }>;
}

export interface DocumentRoutesProps {
  readonly config: TierlineConfig;
  readonly buffered: LambdaIntegration;
  /** For operations that answer `text/event-stream` (chat completions). */
  readonly streaming: LambdaIntegration;
  readonly authorized: MethodOptions;
  readonly validator: RequestValidator;
  /**
   * CORS preflight, on each resource that has a method: a path that only leads to others (`/v1`,
   * `/openai`) serves no request, so it needs no preflight (10 resources fewer in the Api stack).
   */
  readonly preflight?: CorsOptions;
}

/**
 * One API Gateway resource and method per operation of Tierline's OpenAPI document
 * (`/openapi.json`) under `/v1`. No catch-all proxy there: a path the API does not serve is
 * answered by API Gateway itself (MISSING_AUTHENTICATION_TOKEN, rewritten to 404 `unknown_url`)
 * with or without a key, and a route added to the app must be added to the document (a test checks
 * it), which deploys it here. Under `/openai/v1` (groq-sdk) the streaming and public families are
 * mirrored the same way, the rest through one greedy resource ({@link addGroqMirror}).
 */
export function addDocumentRoutes(root: IResource, props: DocumentRoutesProps): void {
  const document = tierlineOpenApiDocument(props.config) as {
    paths: Record<string, Record<string, Operation>>;
  };
  addAdministrationRoute(root, props);
  addGroqMirror(root, props);
  const explicitlyMirrored = familiesMirroredOneByOne(document.paths);
  for (const [path, all] of Object.entries(document.paths)) {
    // The administration API is one greedy resource (below).
    if (path.startsWith(ADMINISTRATION_PREFIX)) continue;
    // Documented but not deployed yet (local mode serves it): no resource, AWS answers 404.
    const operations = Object.fromEntries(
      Object.entries(all).filter(([, operation]) => !operation[NOT_DEPLOYED]),
    );
    if (Object.keys(operations).length === 0) continue;
    const mirrored =
      !Object.values(operations).some((operation) => operation['x-v1-only']) &&
      explicitlyMirrored.has(familyOf(path));
    const mounts = path.startsWith('/v1/') && mirrored ? [path, `/openai${path}`] : [path];
    for (const mount of mounts) {
      const resource = resourceFor(root, mount);
      if (props.preflight) resource.addCorsPreflight(props.preflight);
      for (const [method, operation] of Object.entries(operations)) {
        const streams = Object.values(operation.responses ?? {}).some(
          (r) => r.content?.['text/event-stream'],
        );
        const isPublic = Array.isArray(operation.security) && operation.security.length === 0;
        const added = resource.addMethod(
          method.toUpperCase(),
          streams ? props.streaming : props.buffered,
          isPublic
            ? { authorizationType: AuthorizationType.NONE, requestValidator: props.validator }
            : props.authorized,
        );
        const reason = isPublic
          ? `${method.toUpperCase()} ${path} is public on purpose (documented with no security): plans and the API document are shown before sign-up.`
          : 'API customers authenticate with Bearer API keys (as with OpenAI and Groq), checked by the Lambda authorizer.';
        Validations.of(added).acknowledge({ id: 'AwsSolutions::AwsSolutions-COG4', reason });
        if (isPublic)
          Validations.of(added).acknowledge({ id: 'AwsSolutions::AwsSolutions-APIG4', reason });
      }
    }
  }
}

/** OpenAI's administration API (`/v1/organization/...`, lambda/http/routes/organization.ts). */
export const ADMINISTRATION_PREFIX = '/v1/organization/';

/**
 * The administration API's 13 operations as one greedy `ANY /v1/organization/{proxy+}`, under
 * `/v1` only (groq-sdk has no administration API): a resource and methods per operation, under
 * both prefixes, with their CORS preflights, were 60 more resources and pushed the Api stack past
 * the 400 this project keeps under (CloudFormation's limit is 500). The app answers a path it does
 * not serve there with 404 `unknown_url`, after the authorizer (so without a key: 401).
 */
function addAdministrationRoute(root: IResource, props: DocumentRoutesProps): void {
  const proxy = resourceFor(root, ADMINISTRATION_PREFIX).addResource('{proxy+}');
  // The console calls it from its own origin with the user's session.
  if (props.preflight) proxy.addCorsPreflight(props.preflight);
  const added = proxy.addMethod('ANY', props.buffered, props.authorized);
  Validations.of(added).acknowledge({
    id: 'AwsSolutions::AwsSolutions-COG4',
    reason:
      'Admin keys and console sessions authenticate with Bearer tokens, checked by the Lambda authorizer.',
  });
}

/** A path's family: its first segment under `/v1` (`chat`, `responses`, `files`, ...). */
function familyOf(path: string): string {
  return path.split('/')[2] ?? '';
}

/**
 * The families mirrored under `/openai/v1` resource by resource: those with an operation that
 * streams (it needs the streaming integration) or is public (no key); a whole family, so no path
 * depends on API Gateway falling back from an explicit resource to the greedy one beside it.
 */
function familiesMirroredOneByOne(paths: Record<string, Record<string, Operation>>): Set<string> {
  const families = new Set<string>();
  for (const [path, operations] of Object.entries(paths)) {
    if (!path.startsWith('/v1/')) continue;
    const special = Object.values(operations).some(
      (operation) =>
        (Array.isArray(operation.security) && operation.security.length === 0) ||
        Object.values(operation.responses ?? {}).some((r) => r.content?.['text/event-stream']),
    );
    if (special) families.add(familyOf(path));
  }
  return families;
}

/**
 * groq-sdk's prefix, `/openai/v1`: the buffered operations of every other family through one
 * greedy `ANY /openai/v1/{proxy+}` to the same function (the app serves both prefixes). A resource,
 * methods and a CORS preflight per operation under both prefixes came to 415 resources in the Api
 * stack with Responses and the administration API (this project keeps under 400; CloudFormation's
 * limit is 500). Under this prefix a path the API does not serve is answered by the app, after the
 * authorizer: 404 `unknown_url` with a key, 401 without.
 */
function addGroqMirror(root: IResource, props: DocumentRoutesProps): void {
  const proxy = resourceFor(root, '/openai/v1').addResource('{proxy+}');
  if (props.preflight) proxy.addCorsPreflight(props.preflight);
  const added = proxy.addMethod('ANY', props.buffered, props.authorized);
  Validations.of(added).acknowledge({
    id: 'AwsSolutions::AwsSolutions-COG4',
    reason:
      'API customers authenticate with Bearer API keys (as with OpenAI and Groq), checked by the Lambda authorizer.',
  });
}

function resourceFor(root: IResource, path: string): IResource {
  return path
    .split('/')
    .filter((segment) => segment !== '')
    .map((segment) =>
      segment.replace(/^\{(.+)\}$/, (_m, name: string) =>
        GREEDY_PARAMETERS.has(name) ? `{${name}+}` : `{${name}}`,
      ),
    )
    .reduce<IResource>(
      (parent, part) => parent.getResource(part) ?? parent.addResource(part),
      root,
    );
}
