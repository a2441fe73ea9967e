import { Validations } from 'aws-cdk-lib';
import {
  AuthorizationType,
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
}

/**
 * One API Gateway resource and method per operation of Tierline's OpenAPI document
 * (`/openapi.json`), the `/v1` ones also under `/openai/v1`. No catch-all proxy: a path the API
 * does not serve is answered by API Gateway itself (MISSING_AUTHENTICATION_TOKEN, rewritten to 404
 * `unknown_url`) with or without a key, and a route added to the app must be added to the document
 * (a test checks it), which deploys it here.
 */
export function addDocumentRoutes(root: IResource, props: DocumentRoutesProps): void {
  const document = tierlineOpenApiDocument(props.config) as {
    paths: Record<string, Record<string, Operation>>;
  };
  for (const [path, all] of Object.entries(document.paths)) {
    // Documented but not deployed yet (local mode serves it): no resource, AWS answers 404.
    const operations = Object.fromEntries(
      Object.entries(all).filter(([, operation]) => !operation[NOT_DEPLOYED]),
    );
    if (Object.keys(operations).length === 0) continue;
    const mounts = path.startsWith('/v1/') ? [path, `/openai${path}`] : [path];
    for (const mount of mounts) {
      const resource = resourceFor(root, mount);
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
