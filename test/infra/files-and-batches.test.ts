import { Capture, Match } from 'aws-cdk-lib/assertions';
import { FILES_BUCKET_ENV } from '../../lambda/files/file-storage';
import { FILES_TABLE, FILES_TABLE_ENV } from '../../lambda/files/files-table';
import { synthesize } from '../support/synth';

describe('files infrastructure', () => {
  const { data, api, stacks } = synthesize({ env: 'dev' });
  const keyId = stacks.data.getLogicalId(
    stacks.data.files.encryptionKey.node.defaultChild as never,
  );
  const bucketId = stacks.data.getLogicalId(stacks.data.files.bucket.node.defaultChild as never);

  it('keeps content in a KMS-encrypted, versioned, private bucket with access logs', () => {
    data.hasResourceProperties('AWS::S3::Bucket', {
      BucketName: {
        'Fn::Join': [
          '',
          ['tierline-dev-files-', { Ref: 'AWS::AccountId' }, '-', { Ref: 'AWS::Region' }],
        ],
      },
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [
          {
            BucketKeyEnabled: true,
            ServerSideEncryptionByDefault: {
              SSEAlgorithm: 'aws:kms',
              KMSMasterKeyID: { 'Fn::GetAtt': [keyId, 'Arn'] },
            },
          },
        ],
      },
      VersioningConfiguration: { Status: 'Enabled' },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      LoggingConfiguration: { DestinationBucketName: Match.anyValue(), LogFilePrefix: 'files/' },
    });
  });

  it('removes upload parts, abandoned multipart uploads and deleted content by lifecycle', () => {
    data.hasResourceProperties('AWS::S3::Bucket', {
      BucketName: Match.anyValue(),
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({
            Id: 'expire-upload-parts',
            Prefix: 'parts/',
            ExpirationInDays: 2,
            Status: 'Enabled',
          }),
          Match.objectLike({
            Id: 'abort-incomplete-multipart',
            AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
          }),
          Match.objectLike({
            Id: 'expire-deleted-content',
            NoncurrentVersionExpiration: { NoncurrentDays: 30 },
            ExpiredObjectDeleteMarker: true,
          }),
        ]),
      },
    });
  });

  it('denies every request without TLS', () => {
    data.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: bucketId },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 's3:*',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      },
    });
  });

  it('keeps metadata in a table with the shared key names and the purpose index', () => {
    data.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [
        { AttributeName: FILES_TABLE.partitionKey, KeyType: 'HASH' },
        { AttributeName: FILES_TABLE.sortKey, KeyType: 'RANGE' },
      ],
      GlobalSecondaryIndexes: [Match.objectLike({ IndexName: FILES_TABLE.byPurposeIndex.name })],
      SSESpecification: { SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: Match.anyValue() },
    });
  });

  it('lets the API function use only files/ and parts/ objects, and tells it the names', () => {
    api.hasResourceProperties('AWS::Lambda::Function', {
      Description: 'Tierline: the OpenAI-compatible API',
      Environment: {
        Variables: Match.objectLike({
          [FILES_TABLE_ENV]: Match.anyValue(),
          [FILES_BUCKET_ENV]: Match.anyValue(),
        }),
      },
    });
    const resources = new Capture();
    api.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          {
            Effect: 'Allow',
            Action: ['s3:AbortMultipartUpload', 's3:DeleteObject', 's3:GetObject', 's3:PutObject'],
            Resource: resources,
          },
        ]),
      },
    });
    const arns = (resources.asArray() as unknown[]).map((arn) => JSON.stringify(arn));
    expect(arns).toHaveLength(2);
    expect(arns[0]).toMatch(/s3:::tierline-dev-files-.*AWS::AccountId.*AWS::Region.*\/files\/\*"/);
    expect(arns[1]).toMatch(/s3:::tierline-dev-files-.*AWS::AccountId.*AWS::Region.*\/parts\/\*"/);
  });

  it('passes multipart bodies to the function as binary, so uploaded bytes arrive unchanged', () => {
    api.hasResourceProperties('AWS::ApiGateway::RestApi', {
      BinaryMediaTypes: ['multipart/form-data'],
    });
  });

  it('retains files in production', () => {
    const prod = synthesize({ env: 'prod' });
    prod.data.allResources('AWS::S3::Bucket', { DeletionPolicy: 'Retain' });
  });
});

describe('batch infrastructure', () => {
  const { api, stacks } = synthesize({ env: 'dev' });
  const queueId = stacks.api.getLogicalId(stacks.api.batches.queue.node.defaultChild as never);
  const deadLettersId = stacks.api.getLogicalId(
    stacks.api.batches.deadLetters.node.defaultChild as never,
  );

  it('queues batch work with a dead-letter queue after 5 receives, visibility six times the worker timeout', () => {
    api.hasResourceProperties('AWS::SQS::Queue', {
      VisibilityTimeout: 1800,
      RedrivePolicy: {
        deadLetterTargetArn: { 'Fn::GetAtt': [deadLettersId, 'Arn'] },
        maxReceiveCount: 5,
      },
      KmsMasterKeyId: 'alias/aws/sqs',
    });
  });

  it('runs the worker on the queue with partial batch failures and bounded concurrency', () => {
    api.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [queueId, 'Arn'] },
      BatchSize: 1,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ScalingConfig: { MaximumConcurrency: 2 },
    });
    api.hasResourceProperties('AWS::Lambda::Function', {
      Description: 'Tierline: runs batch lines against the models, writes output and error files',
      Timeout: 300,
      Environment: {
        Variables: Match.objectLike({
          [FILES_TABLE_ENV]: Match.anyValue(),
          BATCH_QUEUE_URL: Match.anyValue(),
        }),
      },
    });
  });

  it('alarms on messages in the dead-letter queue, to the notifications topic', () => {
    api.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [deadLettersId, 'QueueName'] } }],
      Threshold: 0,
      AlarmActions: [Match.anyValue()],
    });
  });

  it('queues an expiry sweep every 15 minutes, its undeliverable events going to the dead letters', () => {
    api.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(15 minutes)',
      Targets: [
        Match.objectLike({
          Arn: { 'Fn::GetAtt': [queueId, 'Arn'] },
          Input: JSON.stringify({ kind: 'sweep' }),
          DeadLetterConfig: { Arn: { 'Fn::GetAtt': [deadLettersId, 'Arn'] } },
        }),
      ],
    });
  });
});
