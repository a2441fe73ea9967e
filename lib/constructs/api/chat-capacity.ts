import { Fn, type RemovalPolicy, Validations } from 'aws-cdk-lib';
import {
  FlowLogDestination,
  FlowLogTrafficType,
  GatewayVpcEndpointAwsService,
  InterfaceVpcEndpointAwsService,
  IpAddresses,
  Port,
  SecurityGroup,
  SubnetType,
  Vpc,
} from 'aws-cdk-lib/aws-ec2';
import { Architecture, CapacityProvider, type IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { EnvironmentConfig } from '../../config/schema';

type ManagedInstances = Extract<EnvironmentConfig['chatCompute'], { kind: 'managed-instances' }>;

export interface ChatCapacityProps {
  readonly settings: ManagedInstances;
  readonly logRetention: RetentionDays;
  readonly removalPolicy: RemovalPolicy;
}

/**
 * Lambda Managed Instances for the chat function: a capacity provider whose EC2 instances run many
 * streams per execution environment, in a VPC of its own with no route to the internet. The
 * function reaches AWS through VPC endpoints only: DynamoDB (gateway, free) and, as interface
 * endpoints, SageMaker Runtime (the models), the SageMaker API (DescribeInferenceComponent of a
 * fine-tuned model's adapter), SQS (ledger dead letters), EventBridge (spend alerts), CloudWatch
 * Logs and X-Ray. A service without an endpoint here is unreachable: the call fails after the SDK
 * clients' connection timeout (`lambda/aws-clients.ts`).
 *
 * Not verified on a deployment (there is no AWS account here): AWS documents Node.js 22+ on Managed
 * Instances and response streaming through its Lambda Web Adapter; check that API Gateway's
 * streaming integration reaches the function before relying on it in production.
 */
export class ChatCapacity extends Construct {
  public readonly vpc: Vpc;
  public readonly capacityProvider: CapacityProvider;
  public readonly securityGroup: SecurityGroup;
  private readonly settings: ManagedInstances;

  constructor(scope: Construct, id: string, props: ChatCapacityProps) {
    super(scope, id);
    this.settings = props.settings;
    const flowLogs = new LogGroup(this, 'FlowLogs', {
      retention: props.logRetention,
      removalPolicy: props.removalPolicy,
    });
    this.vpc = new Vpc(this, 'Vpc', {
      ipAddresses: IpAddresses.cidr('10.80.0.0/16'),
      // AWS: "Specify subnets across multiple Availability Zones ... Lambda launches three
      // instances by default for AZ resiliency" (Lambda Managed Instances best practices). Named
      // zones when configured; otherwise the region's first three, resolved at deploy (no lookup at
      // synth, which stays offline; a region offering fewer than three fails the deploy, and then
      // names them in `availabilityZones`).
      availabilityZones:
        props.settings.availabilityZones ?? [0, 1, 2].map((i) => Fn.select(i, Fn.getAzs())),
      natGateways: 0,
      subnetConfiguration: [
        { name: 'chat', subnetType: SubnetType.PRIVATE_ISOLATED, cidrMask: 20 },
      ],
      flowLogs: {
        rejected: {
          trafficType: FlowLogTrafficType.REJECT,
          destination: FlowLogDestination.toCloudWatchLogs(flowLogs),
        },
      },
    });
    this.securityGroup = new SecurityGroup(this, 'Instances', {
      vpc: this.vpc,
      description:
        'Tierline chat function on Lambda Managed Instances: outbound to the VPC endpoints only',
      // The subnets have no route out of the VPC: outbound traffic can only reach the endpoints
      // below.
      allowAllOutbound: true,
    });
    this.vpc.addGatewayEndpoint('DynamoDb', { service: GatewayVpcEndpointAwsService.DYNAMODB });
    const endpoints = {
      SageMakerRuntime: InterfaceVpcEndpointAwsService.SAGEMAKER_RUNTIME,
      SageMakerApi: InterfaceVpcEndpointAwsService.SAGEMAKER_API,
      Sqs: InterfaceVpcEndpointAwsService.SQS,
      EventBridge: InterfaceVpcEndpointAwsService.EVENTBRIDGE,
      Logs: InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,
      XRay: InterfaceVpcEndpointAwsService.XRAY,
    };
    for (const [name, service] of Object.entries(endpoints)) {
      const endpoint = this.vpc.addInterfaceEndpoint(name, {
        service,
        privateDnsEnabled: true,
        open: false,
      });
      endpoint.connections.allowFrom(
        this.securityGroup,
        Port.tcp(443),
        'HTTPS from the chat instances',
      );
    }

    this.capacityProvider = new CapacityProvider(this, 'CapacityProvider', {
      securityGroups: [this.securityGroup],
      subnets: this.vpc.isolatedSubnets,
      architectures: [Architecture.ARM_64],
      maxVCpuCount: props.settings.maxVCpuCount,
    });
    const operatorRole = this.capacityProvider.node.tryFindChild('OperatorRole');
    if (operatorRole) {
      Validations.of(operatorRole).acknowledge({
        id: 'AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AWSLambdaManagedEC2ResourceOperator]',
        reason:
          'AWS documents this managed policy as the operator role of a Lambda capacity provider: Lambda launches ' +
          'and terminates the EC2 instances with it.',
      });
    }
  }

  /** Runs `fn` on this capacity provider, with the configured streams per execution environment. */
  public addFunction(fn: IFunction): void {
    this.capacityProvider.addFunction(fn, {
      perExecutionEnvironmentMaxConcurrency: this.settings.perExecutionEnvironmentMaxConcurrency,
      executionEnvironmentMemoryGiBPerVCpu: this.settings.memoryGiBPerVCpu,
    });
  }
}
