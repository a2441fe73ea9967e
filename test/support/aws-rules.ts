/**
 * AWS's own limits, checked on synthesized CloudFormation templates. A template names most values
 * through intrinsics (`Ref`, `Fn::GetAtt`, `Fn::Join`, `Fn::Sub`...) resolved only at deploy;
 * `realistic` resolves them to the longest values a real deployment can have, so a length or size
 * measured here is an upper bound.
 *
 * Sources (read 2026-12-07):
 * - Lambda quotas (docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html): "Function
 *   resource-based policy: 20 KB"; concurrent executions 1,000 by default. PutFunctionConcurrency
 *   (Lambda API reference): "leave at least 100 simultaneous executions unreserved"; AddPermission:
 *   StatementId at most 100 characters; function names at most 64 characters.
 * - CloudFormation quotas
 *   (docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html): 500
 *   resources per stack, 200 outputs, 200 parameters, template body 1 MB from S3 (51,200 bytes
 *   inline).
 * - IAM quotas: role names at most 64 characters. S3 bucket naming rules: 3-63 characters.
 *   SageMaker: endpoint, endpoint config, model and inference component names at most 63
 *   characters. DynamoDB: table names 3-255. Step Functions: state machine names at most 80
 *   characters. SQS: queue names at most 80. SNS: topic names 256.
 */

type Json = unknown;
export interface CfnResource {
  Type: string;
  Properties?: Record<string, Json>;
  DeletionPolicy?: string;
  UpdateReplacePolicy?: string;
}
export interface CfnTemplate {
  Resources: Record<string, CfnResource>;
  Outputs?: Record<string, Json>;
  Parameters?: Record<string, Json>;
}

/** The longest values a deployment can substitute (the longest commercial region code has 14 characters). */
export const LONGEST = {
  region: 'ap-southeast-5',
  account: '123456789012',
  partition: 'aws',
  urlSuffix: 'amazonaws.com',
  /** API Gateway REST API ids are 10 characters. */
  restApiId: 'a1b2c3d4e5',
} as const;

/** CloudFormation's generated physical names: `<stack>-<logical id>-<13 random>`, cut to the service's maximum. */
function generatedName(stackName: string, logicalId: string, max: number): string {
  return `${stackName}-${logicalId}-ABCDEFGHIJKLM`.slice(0, max);
}

/** The name CloudFormation gives a resource without an explicit one, as long as the service allows. */
function physicalName(template: CfnTemplate, stackName: string, logicalId: string): string {
  const resource = template.Resources[logicalId];
  switch (resource?.Type) {
    case 'AWS::Lambda::Function':
      return (
        stringProperty(template, stackName, resource, 'FunctionName') ??
        generatedName(stackName, logicalId, 64)
      );
    case 'AWS::ApiGateway::RestApi':
      return LONGEST.restApiId;
    case 'AWS::ApiGateway::Stage':
      return stringProperty(template, stackName, resource, 'StageName') ?? 'stage';
    case 'AWS::IAM::Role':
      return (
        stringProperty(template, stackName, resource, 'RoleName') ??
        generatedName(stackName, logicalId, 64)
      );
    case 'AWS::S3::Bucket':
      return (
        stringProperty(template, stackName, resource, 'BucketName') ??
        generatedName(stackName, logicalId, 63)
      );
    default:
      return generatedName(stackName, logicalId, 128);
  }
}

function stringProperty(
  template: CfnTemplate,
  stackName: string,
  resource: CfnResource,
  key: string,
): string | undefined {
  const value = resource.Properties?.[key];
  return value === undefined ? undefined : String(realistic(template, stackName, value));
}

const ARN_SERVICES: Record<string, [service: string, resource: string]> = {
  'AWS::Lambda::Function': ['lambda', 'function:'],
  'AWS::IAM::Role': ['iam', 'role/'],
  'AWS::SNS::Topic': ['sns', ''],
  'AWS::SQS::Queue': ['sqs', ''],
};

function attribute(
  template: CfnTemplate,
  stackName: string,
  logicalId: string,
  name: string,
): string {
  const resource = template.Resources[logicalId];
  const type = resource?.Type ?? '';
  const physical = physicalName(template, stackName, logicalId);
  if (name === 'Arn') {
    const [service, prefix] = ARN_SERVICES[type] ?? [
      type.split('::')[1]?.toLowerCase() ?? 'x',
      `${logicalId}/`,
    ];
    const global = service === 'iam' || service === 's3';
    return `arn:${LONGEST.partition}:${service}:${global ? '' : LONGEST.region}:${global ? '' : LONGEST.account}:${prefix}${physical}`;
  }
  if (type === 'AWS::ApiGateway::RestApi' && name === 'RootResourceId') return 'abcdefghij';
  return `${physical}-${name}`;
}

/** Resolves a template value with the longest values a deployment can give its intrinsics. */
export function realistic(template: CfnTemplate, stackName: string, value: Json): Json {
  if (
    typeof value === 'string' ||
    typeof value === 'number' ||
    typeof value === 'boolean' ||
    value === null
  ) {
    return value;
  }
  if (Array.isArray(value)) return value.map((v) => realistic(template, stackName, v));
  const object = value as Record<string, Json>;
  const [key] = Object.keys(object);
  const arg = key === undefined ? undefined : object[key];
  switch (key) {
    case 'Ref':
      return ref(template, stackName, String(arg));
    case 'Fn::GetAtt': {
      const [id, name] = Array.isArray(arg) ? arg.map(String) : String(arg).split('.');
      return attribute(template, stackName, id ?? '', name ?? '');
    }
    case 'Fn::Join': {
      const [separator, parts] = arg as [string, Json];
      return (realistic(template, stackName, parts) as Json[]).join(separator);
    }
    case 'Fn::Select': {
      const [index, list] = arg as [number | string, Json];
      return (realistic(template, stackName, list) as Json[])[Number(index)];
    }
    case 'Fn::Split': {
      const [separator, source] = arg as [string, Json];
      return String(realistic(template, stackName, source)).split(separator);
    }
    case 'Fn::GetAZs':
      return ['a', 'b', 'c', 'd'].map((zone) => `${LONGEST.region}${zone}`);
    case 'Fn::ImportValue':
      // Another stack's export: an ARN or a name of its own, at most a function name's 64
      // characters.
      return 'x'.repeat(64);
    case 'Fn::Sub': {
      const [text, variables] = (Array.isArray(arg) ? arg : [arg, {}]) as [
        string,
        Record<string, Json>,
      ];
      return text.replace(/\$\{([^}!]+)\}/g, (_m, name: string) => {
        if (name in variables) return String(realistic(template, stackName, variables[name]));
        const [id, attr] = name.split('.');
        return attr
          ? attribute(template, stackName, id ?? '', attr)
          : String(ref(template, stackName, name));
      });
    }
    default:
      return Object.fromEntries(
        Object.entries(object).map(([k, v]) => [k, realistic(template, stackName, v)]),
      );
  }
}

function ref(template: CfnTemplate, stackName: string, name: string): Json {
  switch (name) {
    case 'AWS::Region':
      return LONGEST.region;
    case 'AWS::AccountId':
      return LONGEST.account;
    case 'AWS::Partition':
      return LONGEST.partition;
    case 'AWS::URLSuffix':
      return LONGEST.urlSuffix;
    case 'AWS::StackName':
      return stackName;
    case 'AWS::NoValue':
      return undefined;
    default:
      if (template.Parameters && name in template.Parameters) return `${name}-value`;
      return physicalName(template, stackName, name);
  }
}

/** The function a `FunctionName` (a Ref, a GetAtt Arn, or an import) points at, as a logical id. */
function functionOf(value: Json): string | undefined {
  const object = value as Record<string, Json> | undefined;
  if (object && typeof object === 'object') {
    if (typeof object.Ref === 'string') return object.Ref;
    const getAtt = object['Fn::GetAtt'];
    if (Array.isArray(getAtt)) return String(getAtt[0]);
  }
  return undefined;
}

/** Lambda's resource-based policy of each function, as Lambda stores it, built from the template's permissions. */
export function functionPolicies(template: CfnTemplate, stackName: string): Map<string, string> {
  const statements = new Map<string, object[]>();
  for (const [logicalId, resource] of Object.entries(template.Resources)) {
    if (resource.Type !== 'AWS::Lambda::Permission') continue;
    const p = resource.Properties ?? {};
    const target = functionOf(p.FunctionName) ?? 'external';
    const condition: Record<string, Record<string, Json>> = {};
    if (p.SourceArn !== undefined) {
      condition.ArnLike = { 'AWS:SourceArn': realistic(template, stackName, p.SourceArn) };
    }
    if (p.SourceAccount !== undefined) {
      condition.StringEquals = {
        'AWS:SourceAccount': realistic(template, stackName, p.SourceAccount),
      };
    }
    const principal = String(realistic(template, stackName, p.Principal));
    const statement = {
      // CloudFormation names the statement after the stack and the permission's logical id
      // (AddPermission's StatementId: at most 100 characters).
      Sid: generatedName(stackName, logicalId, 100),
      Effect: 'Allow',
      Principal: principal.endsWith('.amazonaws.com') ? { Service: principal } : { AWS: principal },
      Action: realistic(template, stackName, p.Action),
      Resource: realistic(template, stackName, p.FunctionName),
      ...(Object.keys(condition).length > 0 ? { Condition: condition } : {}),
    };
    statements.set(target, [...(statements.get(target) ?? []), statement]);
  }
  return new Map(
    [...statements].map(([fn, list]) => [
      fn,
      JSON.stringify({ Version: '2012-10-17', Id: 'default', Statement: list }),
    ]),
  );
}

/** Explicit names of the template, by logical id: what AWS limits in length. */
export const NAME_LIMITS: Record<string, { property: string; max: number }[]> = {
  'AWS::Lambda::Function': [{ property: 'FunctionName', max: 64 }],
  'AWS::IAM::Role': [{ property: 'RoleName', max: 64 }],
  'AWS::S3::Bucket': [{ property: 'BucketName', max: 63 }],
  'AWS::SageMaker::Endpoint': [{ property: 'EndpointName', max: 63 }],
  'AWS::SageMaker::EndpointConfig': [{ property: 'EndpointConfigName', max: 63 }],
  'AWS::SageMaker::Model': [{ property: 'ModelName', max: 63 }],
  'AWS::SageMaker::InferenceComponent': [{ property: 'InferenceComponentName', max: 63 }],
  'AWS::DynamoDB::Table': [{ property: 'TableName', max: 255 }],
  'AWS::DynamoDB::GlobalTable': [{ property: 'TableName', max: 255 }],
  'AWS::StepFunctions::StateMachine': [{ property: 'StateMachineName', max: 80 }],
  'AWS::SQS::Queue': [{ property: 'QueueName', max: 80 }],
  'AWS::SNS::Topic': [{ property: 'TopicName', max: 256 }],
};

/** `"<logical id> (<type>): <what>"`, for failures that name the resource and the rule. */
export function offender(logicalId: string, resource: CfnResource, what: string): string {
  return `${logicalId} (${resource.Type}): ${what}`;
}
