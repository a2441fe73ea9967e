import { Capture, Match } from 'aws-cdk-lib/assertions';
import type { CfnBucket } from 'aws-cdk-lib/aws-s3';
import { CONTENT_SECURITY_POLICY, HSTS_MAX_AGE_SECONDS } from '../../console/security-headers';
import { synthesize } from '../support/synth';

// CloudFront's managed policies (fixed ids, the same in every account).
const CACHING_DISABLED = '4135ea2d-6df8-44a3-9df3-4b5a84be39ad';
const CACHING_OPTIMIZED = '658327ea-f89d-4fab-a63d-7e88639e58f6';
const ALL_VIEWER_EXCEPT_HOST_HEADER = 'b689b0a8-53d0-40ab-baf2-68738e2966ac';

describe('customer console (S3 + CloudFront, API on the same origin)', () => {
  const { api, stacks } = synthesize();
  const consoleBucket = stacks.api.getLogicalId(
    stacks.api.console.bucket.node.defaultChild as CfnBucket,
  );

  it('keeps the files in a private, encrypted, TLS-only bucket that only this distribution may read', () => {
    api.hasResourceProperties('AWS::S3::Bucket', {
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [
          { ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } },
        ],
      },
      LoggingConfiguration: Match.objectLike({ LogFilePrefix: 's3/' }),
    });
    const policies = api.findResources('AWS::S3::BucketPolicy', {
      Properties: { Bucket: { Ref: consoleBucket } },
    });
    const statements = Object.values(policies).flatMap(
      (p) => p.Properties.PolicyDocument.Statement,
    );
    expect(statements).toContainEqual(
      expect.objectContaining({
        Effect: 'Deny',
        Principal: { AWS: '*' },
        Action: 's3:*',
        Condition: { Bool: { 'aws:SecureTransport': 'false' } },
      }),
    );
    expect(statements).toContainEqual(
      expect.objectContaining({
        Effect: 'Allow',
        Principal: { Service: 'cloudfront.amazonaws.com' },
        Action: 's3:GetObject',
        Condition: { StringEquals: { 'AWS:SourceArn': expect.anything() } },
      }),
    );
    api.hasResourceProperties('AWS::CloudFront::OriginAccessControl', {
      OriginAccessControlConfig: Match.objectLike({
        OriginAccessControlOriginType: 's3',
        SigningBehavior: 'always',
      }),
    });
  });

  it('sends a CSP without inline scripts, HSTS and no framing with every console file', () => {
    expect(CONTENT_SECURITY_POLICY).toContain("script-src 'self'");
    expect(CONTENT_SECURITY_POLICY).not.toContain('unsafe-inline');
    expect(CONTENT_SECURITY_POLICY).toContain("frame-ancestors 'none'");
    const csp = new Capture();
    api.hasResourceProperties('AWS::CloudFront::ResponseHeadersPolicy', {
      ResponseHeadersPolicyConfig: Match.objectLike({
        SecurityHeadersConfig: Match.objectLike({
          ContentSecurityPolicy: { ContentSecurityPolicy: csp, Override: true },
        }),
      }),
    });
    // Local mode's policy, plus the region's Cognito endpoint the sign-in pages call.
    const [before, after] = CONTENT_SECURITY_POLICY.split("connect-src 'self'");
    expect(csp.asObject()).toEqual({
      'Fn::Join': [
        '',
        [
          `${before}connect-src 'self' https://cognito-idp.`,
          { Ref: 'AWS::Region' },
          `.amazonaws.com${after}`,
        ],
      ],
    });
    api.hasResourceProperties('AWS::CloudFront::ResponseHeadersPolicy', {
      ResponseHeadersPolicyConfig: Match.objectLike({
        SecurityHeadersConfig: {
          ContentSecurityPolicy: { ContentSecurityPolicy: Match.anyValue(), Override: true },
          StrictTransportSecurity: {
            AccessControlMaxAgeSec: HSTS_MAX_AGE_SECONDS,
            IncludeSubdomains: true,
            Override: true,
          },
          FrameOptions: { FrameOption: 'DENY', Override: true },
          ContentTypeOptions: { Override: true },
          ReferrerPolicy: { ReferrerPolicy: 'no-referrer', Override: true },
        },
      }),
    });
  });

  it('serves the console from S3 over HTTPS and the API under /v1/* and /openai/v1/*, never cached', () => {
    const distribution = Object.values(api.findResources('AWS::CloudFront::Distribution'));
    expect(distribution).toHaveLength(1);
    const config = distribution[0]?.Properties.DistributionConfig;
    expect(config.DefaultRootObject).toBe('index.html');
    expect(config.Logging).toEqual(expect.objectContaining({ Prefix: 'cloudfront/' }));
    expect(config.DefaultCacheBehavior).toEqual(
      expect.objectContaining({
        ViewerProtocolPolicy: 'redirect-to-https',
        CachePolicyId: CACHING_OPTIMIZED,
        ResponseHeadersPolicyId: expect.anything(),
      }),
    );
    const apiOrigin = config.Origins.find(
      (o: { CustomOriginConfig?: unknown }) => o.CustomOriginConfig,
    );
    // The stage is the origin path: `/v1/models` at the edge is `/<stage>/v1/models` at API
    // Gateway.
    expect(JSON.stringify(apiOrigin.OriginPath)).toContain(
      stacks.api.getLogicalId(stacks.api.api.restApi.deploymentStage.node.defaultChild as never),
    );
    expect(apiOrigin.CustomOriginConfig).toEqual(
      expect.objectContaining({ OriginProtocolPolicy: 'https-only', OriginReadTimeout: 60 }),
    );
    expect(config.CacheBehaviors.map((b: { PathPattern: string }) => b.PathPattern)).toEqual([
      '/v1/*',
      '/openai/v1/*',
    ]);
    for (const behavior of config.CacheBehaviors) {
      expect(behavior).toEqual(
        expect.objectContaining({
          TargetOriginId: apiOrigin.Id,
          ViewerProtocolPolicy: 'https-only',
          AllowedMethods: ['GET', 'HEAD', 'OPTIONS', 'PUT', 'PATCH', 'POST', 'DELETE'],
          CachePolicyId: CACHING_DISABLED,
          // Forwards Authorization (allowed when caching is disabled): API Gateway's authorizer
          // reads it.
          OriginRequestPolicyId: ALL_VIEWER_EXCEPT_HOST_HEADER,
          Compress: false,
        }),
      );
    }
  });

  it('copies hashed assets (cached a year) before index.html (never cached), then invalidates index.html', () => {
    const deployments = Object.entries(api.findResources('Custom::CDKBucketDeployment'));
    expect(deployments).toHaveLength(3);
    const byPaths = (paths: string) =>
      deployments
        .map(([id, d]) => ({ id, d }))
        .find(({ d }) => JSON.stringify(d.Properties.DistributionPaths ?? null) === paths);
    const assets = byPaths('null');
    const index = byPaths('["/","/index.html"]');
    // The runtime config (the user pool's endpoint and console client), never cached.
    const config = byPaths('["/console-config.json"]');
    expect(config?.d.Properties.SystemMetadata).toEqual({ 'cache-control': 'no-cache' });
    expect(JSON.stringify(config?.d.Properties.SourceMarkers)).toContain('ConsoleClient');
    expect(assets?.d.Properties.SystemMetadata).toEqual({
      'cache-control': 'public, max-age=31536000, immutable',
    });
    expect(assets?.d.Properties).toEqual(
      expect.objectContaining({ Include: ['assets/*'], Exclude: ['*'], Prune: false }),
    );
    expect(index?.d.Properties).toEqual(
      expect.objectContaining({ Include: ['index.html'], DistributionPaths: ['/', '/index.html'] }),
    );
    expect(index?.d.DependsOn).toEqual(expect.arrayContaining([assets?.id]));
  });

  it('lets the API function write and list named keys, and publishes the console URL', () => {
    const role = stacks.api.getLogicalId(
      stacks.api.api.apiFunction.function.role?.node.defaultChild as never,
    );
    const policies = api.findResources('AWS::IAM::Policy', {
      Properties: { Roles: [{ Ref: role }] },
    });
    const statements: { Action: string | string[]; Resource: unknown }[] = Object.values(
      policies,
    ).flatMap((p) => p.Properties.PolicyDocument.Statement);
    const customersTable = (s: { Resource: unknown }) =>
      JSON.stringify(s.Resource).includes('CustomersTable');
    expect(
      statements.find((s) => customersTable(s) && [s.Action].flat().includes('dynamodb:PutItem')),
    ).toBeDefined();
    const query = statements.find((s) => customersTable(s) && s.Action === 'dynamodb:Query');
    expect(JSON.stringify(query?.Resource)).toContain('/index/byCreated');
    api.hasOutput('ConsoleUrl', Match.objectLike({ Value: Match.anyValue() }));
  });
});
