import { ACCOUNT, PARTITION, type PolicyDocument, REGION, type ResolvedApp } from './resolved-app';

type Properties = Record<string, unknown>;

/** Identity policies of one role, as deployed: inline, `AWS::IAM::Policy` and customer-managed policies. */
export interface RolePolicies {
  arn: string;
  policies: { name: string; policy: PolicyDocument }[];
  /** AWS-managed policies: their documents are not in the template, so a row cannot rest on them. */
  awsManaged: string[];
}

const asArray = <T>(value: T | T[] | undefined): T[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];

/**
 * Every policy of the synthesized app, resolved: identity policies by role ARN; resource-based
 * policies (S3 bucket, KMS key, SQS queue, SNS topic, Lambda function) by the ARN of the resource
 * they guard.
 */
export class SynthesizedPolicies {
  private readonly roles = new Map<string, RolePolicies>();
  private readonly bucketPolicies = new Map<string, PolicyDocument>();
  private readonly keyPolicies = new Map<string, PolicyDocument>();
  private readonly queuePolicies = new Map<string, PolicyDocument>();
  private readonly topicPolicies = new Map<string, PolicyDocument>();
  private readonly functionPolicies = new Map<string, PolicyDocument>();

  constructor(app: ResolvedApp) {
    for (const stackName of app.stackNames) {
      const resources = app.template(stackName).Resources;
      const resolve = (value: unknown): unknown => app.resolve(stackName, value);
      for (const [logicalId, resource] of Object.entries(resources)) {
        const props = (resource.Properties ?? {}) as Properties;
        switch (resource.Type) {
          case 'AWS::IAM::Role': {
            const role = this.role(app.attr(stackName, logicalId, 'Arn'));
            for (const inline of asArray(props.Policies as Properties[])) {
              const resolved = resolve(inline) as {
                PolicyName: string;
                PolicyDocument: PolicyDocument;
              };
              role.policies.push({ name: resolved.PolicyName, policy: resolved.PolicyDocument });
            }
            for (const managed of asArray(
              resolve(props.ManagedPolicyArns) as string[] | undefined,
            )) {
              if (managed.startsWith(`arn:${PARTITION}:iam::aws:policy/`))
                role.awsManaged.push(managed);
            }
            break;
          }
          case 'AWS::IAM::Policy':
          case 'AWS::IAM::ManagedPolicy': {
            const document = resolve(props.PolicyDocument) as PolicyDocument;
            const name = String(resolve(props.PolicyName ?? props.ManagedPolicyName ?? logicalId));
            for (const roleName of asArray(resolve(props.Roles) as string[] | undefined)) {
              this.role(`arn:${PARTITION}:iam::${ACCOUNT}:role/${roleName}`).policies.push({
                name,
                policy: document,
              });
            }
            break;
          }
          case 'AWS::S3::BucketPolicy':
            this.bucketPolicies.set(
              `arn:${PARTITION}:s3:::${resolve(props.Bucket)}`,
              resolve(props.PolicyDocument) as PolicyDocument,
            );
            break;
          case 'AWS::KMS::Key':
            this.keyPolicies.set(
              app.attr(stackName, logicalId, 'Arn'),
              resolve(props.KeyPolicy) as PolicyDocument,
            );
            break;
          case 'AWS::SQS::QueuePolicy':
            for (const url of asArray(resolve(props.Queues) as string[])) {
              const [, , , account, name] = url.split('/');
              this.queuePolicies.set(
                `arn:${PARTITION}:sqs:${REGION}:${account}:${name}`,
                resolve(props.PolicyDocument) as PolicyDocument,
              );
            }
            break;
          case 'AWS::SNS::TopicPolicy':
            for (const topic of asArray(resolve(props.Topics) as string[])) {
              this.topicPolicies.set(topic, resolve(props.PolicyDocument) as PolicyDocument);
            }
            break;
          case 'AWS::Lambda::Permission':
            this.addFunctionPermission(resolve(props) as Properties);
            break;
        }
      }
    }
  }

  /** The identity policies of a role, by ARN. */
  public identity(roleArn: string): RolePolicies {
    const role = this.roles.get(roleArn);
    if (!role) throw new Error(`no role ${roleArn} in the synthesized app`);
    return role;
  }

  /** The resource-based policy that guards `resourceArn`, if its service has one and the app sets it. */
  public resourcePolicy(resourceArn: string): PolicyDocument | undefined {
    const [, , service, , , rest = ''] = resourceArn.split(':');
    switch (service) {
      case 's3':
        return this.bucketPolicies.get(`arn:${PARTITION}:s3:::${rest.split('/')[0]}`);
      case 'kms':
        return this.keyPolicies.get(resourceArn);
      case 'sqs':
        return this.queuePolicies.get(resourceArn);
      case 'sns':
        return this.topicPolicies.get(resourceArn);
      case 'lambda':
        return this.functionPolicies.get(resourceArn.split(':').slice(0, 7).join(':'));
      default:
        return undefined;
    }
  }

  private role(arn: string): RolePolicies {
    let role = this.roles.get(arn);
    if (!role) {
      role = { arn, policies: [], awsManaged: [] };
      this.roles.set(arn, role);
    }
    return role;
  }

  /**
   * One `AWS::Lambda::Permission` as the statement Lambda adds to the function's policy
   * (AddPermission): `SourceArn` becomes `ArnLike aws:SourceArn`, `SourceAccount` `StringEquals
   * aws:SourceAccount`.
   */
  private addFunctionPermission(props: Properties): void {
    const name = String(props.FunctionName);
    const functionArn = name.startsWith('arn:')
      ? name.split(':').slice(0, 7).join(':')
      : `arn:${PARTITION}:lambda:${REGION}:${ACCOUNT}:function:${name}`;
    const principal = String(props.Principal);
    const condition: Record<string, Record<string, string>> = {};
    if (props.SourceArn) condition.ArnLike = { 'aws:SourceArn': String(props.SourceArn) };
    if (props.SourceAccount)
      condition.StringEquals = { 'aws:SourceAccount': String(props.SourceAccount) };
    const statement = {
      Effect: 'Allow',
      Principal: principal.endsWith('.amazonaws.com') ? { Service: principal } : { AWS: principal },
      Action: String(props.Action),
      Resource: functionArn,
      ...(Object.keys(condition).length > 0 ? { Condition: condition } : {}),
    };
    const policy = this.functionPolicies.get(functionArn) ?? {
      Version: '2012-10-17',
      Statement: [],
    };
    policy.Statement.push(statement);
    this.functionPolicies.set(functionArn, policy);
  }
}
