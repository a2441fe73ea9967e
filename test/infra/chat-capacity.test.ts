import { Match } from 'aws-cdk-lib/assertions';
import { MANAGED_INSTANCES } from '../support/config-variants';
import { synthesize } from '../support/synth';

describe('chat function compute', () => {
  it('runs on per-invocation Lambda by default: no VPC, no capacity provider, 1 GB', () => {
    const { api } = synthesize({ env: 'prod' });
    api.resourceCountIs('AWS::EC2::VPC', 0);
    api.resourceCountIs('AWS::Lambda::CapacityProvider', 0);
    api.hasResourceProperties('AWS::Lambda::Function', {
      Description: 'Tierline: chat completions, streamed',
      MemorySize: 1024,
      CapacityProviderConfig: Match.absent(),
    });
  });

  describe('on Lambda Managed Instances', () => {
    const { api } = synthesize({ env: 'prod', overrides: MANAGED_INSTANCES });

    it('puts the chat function on a capacity provider with the configured streams per environment', () => {
      api.hasResourceProperties('AWS::Lambda::CapacityProvider', {
        InstanceRequirements: { Architectures: ['arm64'] },
        CapacityProviderScalingConfig: { MaxVCpuCount: 64 },
        VpcConfig: { SubnetIds: Match.anyValue(), SecurityGroupIds: [Match.anyValue()] },
      });
      api.hasResourceProperties('AWS::Lambda::Function', {
        Description: 'Tierline: chat completions, streamed',
        MemorySize: 2048,
        CapacityProviderConfig: {
          LambdaManagedInstancesCapacityProviderConfig: {
            CapacityProviderArn: Match.anyValue(),
            PerExecutionEnvironmentMaxConcurrency: 64,
            ExecutionEnvironmentMemoryGiBPerVCpu: 2,
          },
        },
      });
      // Only the chat function moves: the authorizer and the buffered API stay per-invocation.
      const onProvider = Object.values(api.findResources('AWS::Lambda::Function')).filter(
        (fn) => fn.Properties.CapacityProviderConfig !== undefined,
      );
      expect(onProvider).toHaveLength(1);
    });

    it('gives the instances no route out: isolated subnets, no NAT or internet gateway', () => {
      api.resourceCountIs('AWS::EC2::VPC', 1);
      api.resourceCountIs('AWS::EC2::NatGateway', 0);
      api.resourceCountIs('AWS::EC2::InternetGateway', 0);
      api.hasResourceProperties('AWS::EC2::FlowLog', { TrafficType: 'REJECT' });
    });

    it('reaches DynamoDB, SageMaker Runtime and API, SQS, EventBridge, Logs and X-Ray through VPC endpoints', () => {
      api.hasResourceProperties('AWS::EC2::VPCEndpoint', {
        VpcEndpointType: 'Gateway',
        ServiceName: Match.objectLike({
          'Fn::Join': ['', Match.arrayWith([Match.stringLikeRegexp('dynamodb')])],
        }),
      });
      const interfaceServices = Object.values(api.findResources('AWS::EC2::VPCEndpoint'))
        .filter((e) => e.Properties.VpcEndpointType === 'Interface')
        .map((e) => JSON.stringify(e.Properties.ServiceName).match(/\.([a-z.-]+)"\]/)?.[1]);
      // sagemaker.api: a fine-tuned model's adapter status (DescribeInferenceComponent) comes from
      // the control plane; without its endpoint the call cannot leave the VPC.
      expect(interfaceServices.sort()).toEqual([
        'events',
        'logs',
        'sagemaker.api',
        'sagemaker.runtime',
        'sqs',
        'xray',
      ]);
      for (const endpoint of Object.values(api.findResources('AWS::EC2::VPCEndpoint'))) {
        if (endpoint.Properties.VpcEndpointType === 'Interface')
          expect(endpoint.Properties.PrivateDnsEnabled).toBe(true);
      }
    });

    it('spreads the instances over three Availability Zones, found at deploy (no lookup at synth)', () => {
      const zones = Object.values(api.findResources('AWS::EC2::Subnet')).map(
        (s) => s.Properties.AvailabilityZone,
      );
      expect(zones).toEqual([0, 1, 2].map((i) => ({ 'Fn::Select': [i, { 'Fn::GetAZs': '' }] })));
    });

    it('uses the Availability Zones the config names', () => {
      const zones = ['eu-west-1a', 'eu-west-1b', 'eu-west-1c'];
      const named = synthesize({
        env: 'prod',
        overrides: {
          environment: {
            chatCompute: { ...MANAGED_INSTANCES.environment.chatCompute, availabilityZones: zones },
          },
        },
      });
      const subnets = Object.values(named.api.findResources('AWS::EC2::Subnet'));
      expect(subnets.map((s) => s.Properties.AvailabilityZone)).toEqual(zones);
    });

    it('lets only the chat instances reach the endpoints, on 443', () => {
      const ingress = Object.values(api.findResources('AWS::EC2::SecurityGroupIngress'));
      expect(ingress.length).toBe(6);
      for (const rule of ingress) {
        expect(rule.Properties).toMatchObject({ IpProtocol: 'tcp', FromPort: 443, ToPort: 443 });
        expect(rule.Properties.SourceSecurityGroupId).toBeDefined();
        expect(rule.Properties.CidrIp).toBeUndefined();
      }
    });
  });

  it('refuses settings AWS does not allow, naming the field', () => {
    expect(() =>
      synthesize({
        env: 'prod',
        overrides: {
          environment: {
            chatCompute: { ...MANAGED_INSTANCES.environment.chatCompute, memoryGiBPerVCpu: 3 },
          },
        },
      }),
    ).toThrow(/environment\.chatCompute\.memoryGiBPerVCpu/);
  });
});
