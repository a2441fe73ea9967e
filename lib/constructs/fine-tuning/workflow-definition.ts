import metrics from '../../../training/lora/tierline_lora/metrics.json';

/**
 * The fine-tuning state machine in Amazon States Language (JSONata). Written out rather than built
 * from the CDK's task constructs: `SageMakerCreateTrainingJob` cannot set CheckpointConfig or
 * uncompressed output, and both are needed (checkpoints for the job's checkpoints list and
 * resumption; uncompressed output so the script's adapter.tar.gz is the adapter component's
 * ArtifactUrl, not wrapped in model.tar.gz). Fixed here, whatever a task returns: the role, the
 * image, network isolation, KMS on output (and on the volume where the instance type allows it),
 * the maximum runtime, the code and the metric definitions. Managed spot training (SageMaker
 * developer guide, "Managed Spot Training"): EnableManagedSpotTraining with
 * StoppingCondition.MaxWaitTimeInSeconds >= MaxRuntimeInSeconds; SageMaker restarts an interrupted
 * job, copies CheckpointConfig.S3Uri back to LocalPath, and the script resumes from the latest
 * checkpoint there.
 */

export interface WorkflowDefinitionProps {
  tasksFunctionArn: string;
  trainingRoleArn: string;
  image: string;
  keyArn: string;
  /** Training instance types whose volumes accept a KMS key (not those with local NVMe storage). */
  encryptedVolumeTypes: string[];
  volumeSizeGb: number;
  maxRuntimeSeconds: number;
  /** Managed spot training: MaxWaitTimeInSeconds (capacity wait plus run time); absent: on-demand. */
  spotMaxWaitSeconds?: number;
  codeUri: string;
  codeContainerPath: string;
  environmentName: string;
}

/** How long the workflow waits between two looks at a deploying adapter component, and how often it looks. */
export const ADAPTER_POLL_SECONDS = 30;
export const ADAPTER_MAX_POLLS = 120; // one hour

const LAMBDA_RETRY = {
  ErrorEquals: [
    'Lambda.ServiceException',
    'Lambda.AWSLambdaException',
    'Lambda.SdkClientException',
    'Lambda.TooManyRequestsException',
  ],
  IntervalSeconds: 2,
  MaxAttempts: 6,
  BackoffRate: 2,
};

function task(
  props: WorkflowDefinitionProps,
  payload: string,
  output: string,
  next: string,
  catchOutput?: string,
) {
  return {
    Type: 'Task',
    Resource: 'arn:aws:states:::lambda:invoke',
    Arguments: { FunctionName: props.tasksFunctionArn, Payload: payload },
    Output: output,
    Retry: [LAMBDA_RETRY],
    Catch: [
      {
        ErrorEquals: ['States.ALL'],
        Next: 'RecordFailure',
        Output:
          catchOutput ??
          "{% {'jobId': $states.input.jobId, 'error': $states.errorOutput.Error, 'cause': $states.errorOutput.Cause} %}",
      },
    ],
    Next: next,
  };
}

function channel(name: string, uri: string) {
  return `{'ChannelName': '${name}', 'DataSource': {'S3DataSource': {'S3DataType': 'S3Prefix', 'S3Uri': ${uri}, 'S3DataDistributionType': 'FullyReplicated'}}}`;
}

/** The SageMaker training job, run to its end (`.sync`); any failure goes to RecordFailure. */
function trainState(props: WorkflowDefinitionProps) {
  const t = '$states.input.training';
  const channels = [
    channel('model', `${t}.modelUri`),
    channel('training', `${t}.trainingUri`),
    channel('code', `'${props.codeUri}'`),
  ];
  const resources = `{'InstanceType': ${t}.instanceType, 'InstanceCount': 1, 'VolumeSizeInGB': ${props.volumeSizeGb}}`;
  const encryptedTypes = props.encryptedVolumeTypes.map((type) => `'${type}'`).join(', ');
  return {
    Type: 'Task',
    Resource: 'arn:aws:states:::sagemaker:createTrainingJob.sync',
    Arguments: {
      TrainingJobName: `{% ${t}.trainingJobName %}`,
      RoleArn: props.trainingRoleArn,
      AlgorithmSpecification: {
        TrainingImage: props.image,
        TrainingInputMode: 'File',
        MetricDefinitions: metrics.metricDefinitions,
      },
      HyperParameters: `{% $merge([${t}.hyperparameters, {'sagemaker_program': 'train.py', 'sagemaker_submit_directory': '${props.codeContainerPath}'}]) %}`,
      InputDataConfig: `{% $append([${channels.join(', ')}], ${t}.validationUri ? [${channel('validation', `${t}.validationUri`)}] : []) %}`,
      OutputDataConfig: {
        S3OutputPath: `{% ${t}.outputUri %}`,
        KmsKeyId: props.keyArn,
        CompressionType: 'NONE',
      },
      ResourceConfig:
        props.encryptedVolumeTypes.length > 0
          ? `{% $merge([${resources}, ${t}.instanceType in [${encryptedTypes}] ? {'VolumeKmsKeyId': '${props.keyArn}'} : {}]) %}`
          : `{% ${resources} %}`,
      StoppingCondition: {
        MaxRuntimeInSeconds: props.maxRuntimeSeconds,
        ...(props.spotMaxWaitSeconds !== undefined
          ? { MaxWaitTimeInSeconds: props.spotMaxWaitSeconds }
          : {}),
      },
      ...(props.spotMaxWaitSeconds !== undefined ? { EnableManagedSpotTraining: true } : {}),
      EnableNetworkIsolation: true,
      EnableInterContainerTrafficEncryption: true,
      CheckpointConfig: { S3Uri: `{% ${t}.checkpointUri %}`, LocalPath: '/opt/ml/checkpoints' },
      Tags: [{ Key: 'tierline:job', Value: '{% $states.input.jobId %}' }],
    },
    Output:
      "{% {'jobId': $states.input.jobId, 'modelArtifacts': $states.result.ModelArtifacts.S3ModelArtifacts, " +
      "'trainedTokens': $states.result.FinalMetricDataList[MetricName = 'trained_tokens'].Value} %}",
    Catch: [
      {
        ErrorEquals: ['States.ALL'],
        Next: 'RecordFailure',
        Output:
          "{% {'jobId': $states.input.jobId, 'error': $states.errorOutput.Error, 'cause': $states.errorOutput.Cause} %}",
      },
    ],
    Next: 'Deploy',
  };
}

export function workflowDefinition(props: WorkflowDefinitionProps) {
  return {
    Comment: `Tierline ${props.environmentName}: a LoRA fine-tuning job (prepare, train, deploy the adapter, wait until it is in service)`,
    QueryLanguage: 'JSONata',
    StartAt: 'Prepare',
    States: {
      Prepare: task(
        props,
        "{% {'task': 'prepare', 'jobId': $states.input.jobId} %}",
        "{% {'jobId': $states.input.jobId, 'training': $states.result.Payload} %}",
        'Train',
      ),
      Train: trainState(props),
      Deploy: task(
        props,
        "{% {'task': 'deploy', 'jobId': $states.input.jobId, 'modelArtifacts': $states.input.modelArtifacts, 'trainedTokens': $states.input.trainedTokens} %}",
        "{% {'jobId': $states.input.jobId, 'componentName': $states.result.Payload.componentName, 'polls': 0} %}",
        'WaitForAdapter',
      ),
      WaitForAdapter: { Type: 'Wait', Seconds: ADAPTER_POLL_SECONDS, Next: 'CheckAdapter' },
      CheckAdapter: task(
        props,
        "{% {'task': 'checkInService', 'componentName': $states.input.componentName} %}",
        "{% $merge([$states.input, {'status': $states.result.Payload.status, 'failureReason': $states.result.Payload.failureReason, 'polls': $states.input.polls + 1}]) %}",
        'AdapterInService',
        "{% {'jobId': $states.input.jobId, 'componentName': $states.input.componentName, 'error': $states.errorOutput.Error, 'cause': $states.errorOutput.Cause} %}",
      ),
      AdapterInService: {
        Type: 'Choice',
        Choices: [
          { Condition: "{% $states.input.status = 'InService' %}", Next: 'Succeed' },
          {
            Condition: `{% $states.input.status = 'Failed' or $states.input.polls >= ${ADAPTER_MAX_POLLS} %}`,
            Next: 'RecordFailure',
            Output:
              "{% {'jobId': $states.input.jobId, 'componentName': $states.input.componentName, 'error': 'AdapterNotInService', " +
              "'cause': $states.input.failureReason ? $states.input.failureReason : 'The adapter component did not come into service'} %}",
          },
        ],
        Default: 'WaitForAdapter',
      },
      Succeed: task(
        props,
        "{% {'task': 'succeed', 'jobId': $states.input.jobId} %}",
        '{% $states.result.Payload %}',
        'Done',
      ),
      Done: { Type: 'Succeed' },
      RecordFailure: {
        Type: 'Task',
        Resource: 'arn:aws:states:::lambda:invoke',
        Arguments: {
          FunctionName: props.tasksFunctionArn,
          Payload:
            "{% {'task': 'fail', 'jobId': $states.input.jobId, 'error': $states.input.error, 'cause': $states.input.cause, 'componentName': $states.input.componentName} %}",
        },
        Retry: [LAMBDA_RETRY],
        Next: 'Failed',
      },
      Failed: {
        Type: 'Fail',
        Error: 'FineTuningJobFailed',
        Cause: "The fine-tuning job failed: see the job's error",
      },
    },
  };
}
