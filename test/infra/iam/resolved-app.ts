import { createHash } from 'node:crypto';
import { CfnResource, Stack } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/** The account and region the synthesized (environment-agnostic) templates are resolved in. */
export const ACCOUNT = '123456789012';
export const REGION = 'us-east-1';
export const PARTITION = 'aws';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
interface CfnResourceJson {
  Type: string;
  Properties?: Record<string, Json>;
}
interface TemplateJson {
  Resources: Record<string, CfnResourceJson>;
  Outputs?: Record<string, { Value: Json; Export?: { Name: Json } }>;
  Conditions?: Record<string, Json>;
  Mappings?: Record<string, Record<string, Record<string, Json>>>;
}

/** An IAM policy document after resolution. */
export interface PolicyDocument {
  Version?: string;
  Statement: Record<string, unknown>[];
}

/** Made-up but well-formed identifiers, stable for a logical id (KMS key ids are UUIDs, API ids 10 characters). */
function digest(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
function uuid(text: string): string {
  const h = digest(text);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** What CloudFormation would name a resource that has no name of its own: `<stack>-<logical id>`, shortened. */
function generatedName(stackName: string, logicalId: string, max = 64): string {
  return `${stackName}-${logicalId}`.slice(0, max);
}

interface Physical {
  ref: string;
  attrs: Record<string, string>;
}

/**
 * The synthesized templates of an app with every `Ref`, `Fn::GetAtt`, `Fn::Join`, `Fn::Sub`,
 * `Fn::Select`, `Fn::Split`, `Fn::If` and `Fn::ImportValue` resolved to the concrete value
 * CloudFormation would give it in account 123456789012, us-east-1: physical names are the explicit
 * ones where the template sets them, `<stack>-<logical id>` otherwise, and ARNs are built in each
 * service's documented format. This is what the IAM simulation evaluates: the policies exactly as
 * deployed, with no token left for a wildcard to hide behind.
 */
export class ResolvedApp {
  private readonly templates = new Map<string, TemplateJson>();
  private readonly physical = new Map<string, Physical>();
  private readonly exports = new Map<string, { stack: string; value: Json }>();

  /** `templates`: each stack's synthesized template, by stack name. */
  constructor(templates: Record<string, unknown>) {
    for (const [stackName, template] of Object.entries(templates))
      this.templates.set(stackName, template as TemplateJson);
    for (const [stackName, template] of this.templates) {
      for (const output of Object.values(template.Outputs ?? {})) {
        if (output.Export) {
          this.exports.set(String(this.resolve(stackName, output.Export.Name)), {
            stack: stackName,
            value: output.Value,
          });
        }
      }
    }
  }

  public template(stackName: string): TemplateJson {
    const template = this.templates.get(stackName);
    if (!template) throw new Error(`no stack ${stackName}`);
    return template;
  }

  public get stackNames(): string[] {
    return [...this.templates.keys()];
  }

  /** The stack and logical id of a construct (or of its default child), by construct path below the app. */
  public locate(construct: IConstruct): { stack: string; logicalId: string } {
    const cfn = construct instanceof CfnResource ? construct : construct.node.defaultChild;
    if (!(cfn instanceof CfnResource))
      throw new Error(`${construct.node.path} has no CloudFormation resource`);
    const stack = Stack.of(cfn);
    return { stack: stack.stackName, logicalId: stack.getLogicalId(cfn) };
  }

  /** `Ref` of a resource. */
  public ref(stackName: string, logicalId: string): string {
    return this.physicalOf(stackName, logicalId).ref;
  }

  /** `Fn::GetAtt` of a resource. */
  public attr(stackName: string, logicalId: string, attribute: string): string {
    const value = this.physicalOf(stackName, logicalId).attrs[attribute];
    if (value === undefined) {
      const type = this.template(stackName).Resources[logicalId]?.Type;
      throw new Error(
        `${stackName}/${logicalId} (${type}): attribute ${attribute} is not modelled in resolved-app.ts`,
      );
    }
    return value;
  }

  /** Resolves every intrinsic function in `value`, as CloudFormation would in stack `stackName`. */
  public resolve(stackName: string, value: unknown): Json {
    if (value === null || typeof value !== 'object') return value as Json;
    if (Array.isArray(value)) {
      return value.filter((v) => !isNoValue(v)).map((v) => this.resolve(stackName, v));
    }
    const object = value as Record<string, unknown>;
    const keys = Object.keys(object);
    if (keys.length === 1) {
      const [key] = keys as [string];
      const arg = object[key];
      switch (key) {
        case 'Ref':
          return this.resolveRef(stackName, String(arg));
        case 'Fn::GetAtt': {
          const [logicalId, attribute] = Array.isArray(arg) ? arg : String(arg).split(/\.(.+)/);
          return this.attr(
            stackName,
            String(logicalId),
            String(this.resolve(stackName, attribute)),
          );
        }
        case 'Fn::Join': {
          const [separator, parts] = arg as [string, unknown[]];
          const resolved = this.resolve(stackName, parts) as Json[];
          return resolved
            .map((p) => (Array.isArray(p) ? p.join(separator) : String(p)))
            .join(separator);
        }
        case 'Fn::Sub':
          return this.sub(stackName, arg);
        case 'Fn::Select': {
          const [index, list] = arg as [unknown, unknown];
          return (
            (this.resolve(stackName, list) as Json[])[Number(this.resolve(stackName, index))] ??
            null
          );
        }
        case 'Fn::Split': {
          const [separator, source] = arg as [string, unknown];
          return String(this.resolve(stackName, source)).split(separator);
        }
        case 'Fn::GetAZs':
          return ['a', 'b', 'c'].map((az) => `${REGION}${az}`);
        case 'Fn::ImportValue': {
          const name = String(this.resolve(stackName, arg));
          const exported = this.exports.get(name);
          if (!exported)
            throw new Error(`${stackName}: Fn::ImportValue ${name} has no export in the app`);
          return this.resolve(exported.stack, exported.value);
        }
        case 'Fn::If': {
          const [condition, whenTrue, whenFalse] = arg as [string, unknown, unknown];
          return this.resolve(
            stackName,
            this.condition(stackName, condition) ? whenTrue : whenFalse,
          );
        }
        case 'Fn::FindInMap': {
          const [map, top, second] = (arg as unknown[]).map((a) =>
            String(this.resolve(stackName, a)),
          );
          return (
            this.template(stackName).Mappings?.[map as string]?.[top as string]?.[
              second as string
            ] ?? null
          );
        }
        case 'Fn::Base64':
          return Buffer.from(String(this.resolve(stackName, arg))).toString('base64');
      }
    }
    return Object.fromEntries(
      Object.entries(object)
        .filter(([, v]) => !isNoValue(v))
        .map(([k, v]) => [k, this.resolve(stackName, v)]),
    );
  }

  private sub(stackName: string, arg: unknown): string {
    const [text, variables] = Array.isArray(arg)
      ? (arg as [string, Record<string, unknown>])
      : [String(arg), {}];
    return text.replace(/\$\{([^}!]+)\}/g, (_, name: string) => {
      if (name in variables) return String(this.resolve(stackName, variables[name]));
      const [logicalId, attribute] = name.split(/\.(.+)/);
      return attribute
        ? this.attr(stackName, logicalId as string, attribute)
        : String(this.resolveRef(stackName, logicalId as string));
    });
  }

  private condition(stackName: string, name: string): boolean {
    const definition = this.template(stackName).Conditions?.[name];
    if (definition === undefined) throw new Error(`${stackName}: no condition ${name}`);
    return this.evaluate(stackName, definition);
  }

  private evaluate(stackName: string, expression: Json): boolean {
    const [[fn, arg]] = Object.entries(expression as Record<string, Json>) as [[string, Json]];
    const args = arg as Json[];
    switch (fn) {
      case 'Fn::Equals':
        return (
          JSON.stringify(this.resolve(stackName, args[0])) ===
          JSON.stringify(this.resolve(stackName, args[1]))
        );
      case 'Fn::Not':
        return !this.evaluate(stackName, args[0] as Json);
      case 'Fn::And':
        return args.every((a) => this.evaluate(stackName, a));
      case 'Fn::Or':
        return args.some((a) => this.evaluate(stackName, a));
      case 'Condition':
        return this.condition(stackName, String(arg));
      default:
        throw new Error(`${stackName}: condition function ${fn} is not modelled`);
    }
  }

  private resolveRef(stackName: string, name: string): string {
    switch (name) {
      case 'AWS::AccountId':
        return ACCOUNT;
      case 'AWS::Region':
        return REGION;
      case 'AWS::Partition':
        return PARTITION;
      case 'AWS::URLSuffix':
        return 'amazonaws.com';
      case 'AWS::StackName':
        return stackName;
      case 'AWS::StackId':
        return `arn:${PARTITION}:cloudformation:${REGION}:${ACCOUNT}:stack/${stackName}/${uuid(stackName)}`;
    }
    return this.ref(stackName, name);
  }

  private physicalOf(stackName: string, logicalId: string): Physical {
    const key = `${stackName}/${logicalId}`;
    let found = this.physical.get(key);
    if (!found) {
      const resource = this.template(stackName).Resources[logicalId];
      if (!resource) throw new Error(`${stackName}: no resource ${logicalId}`);
      found = this.name(stackName, logicalId, resource);
      this.physical.set(key, found);
    }
    return found;
  }

  /** Physical ids and attributes, in each service's ARN format (Service Authorization Reference). */
  private name(stackName: string, logicalId: string, resource: CfnResourceJson): Physical {
    const props = resource.Properties ?? {};
    const explicit = (property: string): string | undefined =>
      props[property] === undefined ? undefined : String(this.resolve(stackName, props[property]));
    const generated = generatedName(stackName, logicalId);
    const arn = (service: string, rest: string, region = REGION, account = ACCOUNT) =>
      `arn:${PARTITION}:${service}:${region}:${account}:${rest}`;
    switch (resource.Type) {
      case 'AWS::IAM::Role': {
        const name = explicit('RoleName') ?? generated;
        return {
          ref: name,
          attrs: {
            Arn: `arn:${PARTITION}:iam::${ACCOUNT}:role/${name}`,
            RoleId: `AROA${logicalId}`,
          },
        };
      }
      case 'AWS::Lambda::Function': {
        const name = explicit('FunctionName') ?? generated;
        return { ref: name, attrs: { Arn: arn('lambda', `function:${name}`) } };
      }
      case 'AWS::Lambda::Alias':
      case 'AWS::Lambda::Version':
        return { ref: arn('lambda', `function:${generated}:1`), attrs: { Version: '1' } };
      case 'AWS::DynamoDB::Table':
      case 'AWS::DynamoDB::GlobalTable': {
        const name = explicit('TableName') ?? generated;
        const tableArn = arn('dynamodb', `table/${name}`);
        return {
          ref: name,
          attrs: { Arn: tableArn, StreamArn: `${tableArn}/stream/2026-12-07T00:00:00.000` },
        };
      }
      case 'AWS::S3::Bucket': {
        const name = explicit('BucketName') ?? generated.toLowerCase().slice(0, 63);
        return {
          ref: name,
          attrs: {
            Arn: `arn:${PARTITION}:s3:::${name}`,
            DomainName: `${name}.s3.amazonaws.com`,
            RegionalDomainName: `${name}.s3.${REGION}.amazonaws.com`,
          },
        };
      }
      case 'AWS::KMS::Key': {
        const id = uuid(`${stackName}/${logicalId}`);
        return { ref: id, attrs: { Arn: arn('kms', `key/${id}`), KeyId: id } };
      }
      case 'AWS::SQS::Queue': {
        const name = explicit('QueueName') ?? generated.slice(0, 80);
        return {
          ref: `https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/${name}`,
          attrs: {
            Arn: arn('sqs', name),
            QueueName: name,
            QueueUrl: `https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/${name}`,
          },
        };
      }
      case 'AWS::SecretsManager::Secret': {
        // Ref is the secret's ARN: the name and the 6 random characters Secrets Manager appends.
        const name = explicit('Name') ?? generated;
        const secretArn = arn('secretsmanager', `secret:${name}-AbCdEf`);
        return { ref: secretArn, attrs: { Id: secretArn } };
      }
      case 'AWS::SNS::Topic': {
        const name = explicit('TopicName') ?? generated;
        return { ref: arn('sns', name), attrs: { TopicArn: arn('sns', name), TopicName: name } };
      }
      case 'AWS::StepFunctions::StateMachine': {
        const name = explicit('StateMachineName') ?? generated;
        return {
          ref: arn('states', `stateMachine:${name}`),
          attrs: { Arn: arn('states', `stateMachine:${name}`), Name: name },
        };
      }
      case 'AWS::Logs::LogGroup': {
        const name = explicit('LogGroupName') ?? generated;
        return { ref: name, attrs: { Arn: arn('logs', `log-group:${name}:*`) } };
      }
      case 'AWS::Events::Rule': {
        const name = explicit('Name') ?? generated;
        return { ref: name, attrs: { Arn: arn('events', `rule/${name}`) } };
      }
      case 'AWS::CloudWatch::Alarm': {
        const name = explicit('AlarmName') ?? generated.slice(0, 255);
        return { ref: name, attrs: { Arn: arn('cloudwatch', `alarm:${name}`) } };
      }
      case 'AWS::ApiGateway::RestApi': {
        const id = digest(logicalId).slice(0, 10);
        return {
          ref: id,
          attrs: { RestApiId: id, RootResourceId: digest(`${logicalId}/`).slice(0, 10) },
        };
      }
      case 'AWS::ApiGateway::Authorizer': {
        const id = digest(logicalId).slice(0, 6);
        return { ref: id, attrs: { AuthorizerId: id } };
      }
      case 'AWS::ApiGateway::Stage':
        return { ref: explicit('StageName') ?? logicalId, attrs: {} };
      case 'AWS::CloudFront::Distribution': {
        const id = `E${digest(logicalId).slice(0, 13).toUpperCase()}`;
        return { ref: id, attrs: { Id: id, DomainName: `${id.toLowerCase()}.cloudfront.net` } };
      }
      case 'AWS::SageMaker::Endpoint': {
        const name = explicit('EndpointName') ?? generated;
        return {
          ref: arn('sagemaker', `endpoint/${name.toLowerCase()}`),
          attrs: { EndpointName: name },
        };
      }
      case 'AWS::SageMaker::InferenceComponent': {
        const name = explicit('InferenceComponentName') ?? generated;
        const icArn = arn('sagemaker', `inference-component/${name.toLowerCase()}`);
        return {
          ref: icArn,
          attrs: { InferenceComponentArn: icArn, InferenceComponentName: name },
        };
      }
      case 'AWS::SageMaker::Model': {
        const name = explicit('ModelName') ?? generated;
        return { ref: arn('sagemaker', `model/${name.toLowerCase()}`), attrs: { ModelName: name } };
      }
      case 'AWS::SageMaker::EndpointConfig': {
        const name = explicit('EndpointConfigName') ?? generated;
        return {
          ref: arn('sagemaker', `endpoint-config/${name.toLowerCase()}`),
          attrs: { EndpointConfigName: name },
        };
      }
      case 'AWS::Lambda::LayerVersion':
        return { ref: arn('lambda', `layer:${generated}:1`), attrs: {} };
      case 'AWS::Lambda::CapacityProvider': {
        const name = explicit('CapacityProviderName') ?? generated;
        return { ref: name, attrs: { Arn: arn('lambda', `capacity-provider:${name}`) } };
      }
      default: {
        // Resources that no policy names (methods, alarms, VPC parts...): opaque ids are enough.
        // Should a policy ever name one, the opaque value matches no ARN and the simulation of that
        // call fails, visibly.
        const opaque = `${logicalId.toLowerCase()}-${digest(logicalId).slice(0, 8)}`;
        return {
          ref: opaque,
          attrs: new Proxy({} as Record<string, string>, {
            get: (_, attribute) => `${opaque}.${String(attribute)}`,
          }),
        };
      }
    }
  }
}

function isNoValue(value: unknown): boolean {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { Ref?: string }).Ref === 'AWS::NoValue'
  );
}
