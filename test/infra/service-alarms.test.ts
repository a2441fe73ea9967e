import { Match } from 'aws-cdk-lib/assertions';
import { synthesize } from '../support/synth';

describe('service alarms', () => {
  const { api, inference, stacks } = synthesize({ env: 'prod' });
  const topic = api.getResourceId('AWS::SNS::Topic', {}) as string;
  const alarms = Object.values(api.findResources('AWS::CloudWatch::Alarm'));
  const metricsOf = (alarm: (typeof alarms)[number]): string[] =>
    alarm.Properties.MetricName
      ? [alarm.Properties.MetricName]
      : (alarm.Properties.Metrics ?? []).flatMap(
          (m: { MetricStat?: { Metric: { MetricName: string } } }) =>
            m.MetricStat ? [m.MetricStat.Metric.MetricName] : [],
        );

  it('notify the operator notifications topic, every one', () => {
    expect(alarms.length).toBeGreaterThan(15);
    for (const alarm of alarms) expect(alarm.Properties.AlarmActions).toEqual([{ Ref: topic }]);
  });

  it('watch the share of API 5xx answers on the stage', () => {
    api.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/ApiGateway',
      MetricName: '5XXError',
      Statistic: 'Average',
      Threshold: 0.05,
      Dimensions: Match.arrayWith([Match.objectLike({ Name: 'Stage', Value: Match.anyValue() })]),
    });
  });

  it('watch the errors and throttles of the functions, and no errors of the authorizer (a bad key is one)', () => {
    const byFunction = (metric: string) =>
      alarms
        .filter(
          (a) => a.Properties.Namespace === 'AWS/Lambda' && a.Properties.MetricName === metric,
        )
        .map((a) => JSON.stringify(a.Properties.Dimensions));
    const authorizer = stacks.api.getLogicalId(
      stacks.api.api.authorizerFunction.function.node.defaultChild as never,
    );
    const chat = stacks.api.getLogicalId(
      stacks.api.api.chatFunction.function.node.defaultChild as never,
    );

    expect(byFunction('Throttles').some((d) => d.includes(authorizer))).toBe(true);
    expect(byFunction('Throttles').some((d) => d.includes(chat))).toBe(true);
    expect(byFunction('Errors').some((d) => d.includes(chat))).toBe(true);
    expect(byFunction('Errors').some((d) => d.includes(authorizer))).toBe(false);
    // Every function of the Api stack, the billing sender included (its errors alarm is its own),
    // and the billing webhook.
    expect(byFunction('Throttles').length).toBe(10);
  });

  it('watch DynamoDB throttles of every table, failed fine-tuning runs and the fine-tuning events dead letters', () => {
    const watched = alarms.flatMap(metricsOf);
    expect(watched.filter((m) => m === 'WriteThrottleEvents')).toHaveLength(4);
    expect(watched.filter((m) => m === 'ReadThrottleEvents')).toHaveLength(4);
    expect(watched).toEqual(expect.arrayContaining(['ExecutionsFailed', 'ExecutionsTimedOut']));
    const deadLetters = stacks.api.getLogicalId(
      stacks.api.fineTuning.eventsDeadLetters.node.defaultChild as never,
    );
    api.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [deadLetters, 'QueueName'] } }],
      AlarmActions: [{ Ref: topic }],
    });
  });

  it('give the model alarms of the inference stack the topic by name, with no reference to the Api stack', () => {
    const modelAlarms = Object.values(inference.findResources('AWS::CloudWatch::Alarm'));
    expect(modelAlarms.length).toBeGreaterThan(0);
    for (const alarm of modelAlarms) {
      expect(JSON.stringify(alarm.Properties.AlarmActions)).toContain(
        ':tierline-prod-notifications',
      );
    }
    api.hasResourceProperties('AWS::SNS::Topic', { TopicName: 'tierline-prod-notifications' });
    // The Inference stack may import from the Data stack (the fine-tuning key its role decrypts
    // adapters with), never from the Api stack: it is destroyed and redeployed on its own.
    const imports = JSON.stringify(inference.toJSON()).match(/"Fn::ImportValue":"[^"]+"/g) ?? [];
    expect(imports.filter((i) => !i.includes('Tierline-prod-Data:'))).toEqual([]);
  });
});
