import { Match } from 'aws-cdk-lib/assertions';
import type { CfnUserPool, CfnUserPoolClient } from 'aws-cdk-lib/aws-cognito';
import {
  SESSION_CLIENT_ID_ENV,
  SESSION_USAGE_KEY_ENV,
  SESSION_USER_POOL_ID_ENV,
} from '../../lambda/accounts/session-settings';
import {
  CONSOLE_SESSIONS_BURST_LIMIT,
  CONSOLE_SESSIONS_RATE_LIMIT,
} from '../../lib/constructs/api/tier-usage-plans';
import { synthesize } from '../support/synth';

describe('console users (Cognito user pool and the console app client)', () => {
  const { data, api, stacks } = synthesize();
  const users = stacks.data.consoleUsers;
  const poolId = stacks.data.getLogicalId(users.userPool.node.defaultChild as CfnUserPool);
  const clientId = stacks.data.getLogicalId(
    users.consoleClient.node.defaultChild as CfnUserPoolClient,
  );

  it('signs people up by e-mail, verified by a code, with a strong password and optional TOTP MFA', () => {
    data.resourceCountIs('AWS::Cognito::UserPool', 1);
    data.hasResourceProperties('AWS::Cognito::UserPool', {
      AdminCreateUserConfig: { AllowAdminCreateUserOnly: false },
      UsernameAttributes: ['email'],
      UsernameConfiguration: { CaseSensitive: false },
      AutoVerifiedAttributes: ['email'],
      UserAttributeUpdateSettings: { AttributesRequireVerificationBeforeUpdate: ['email'] },
      VerificationMessageTemplate: Match.objectLike({ DefaultEmailOption: 'CONFIRM_WITH_CODE' }),
      Schema: [Match.objectLike({ Name: 'email', Required: true, Mutable: true })],
      Policies: {
        PasswordPolicy: {
          MinimumLength: 12,
          RequireLowercase: true,
          RequireUppercase: true,
          RequireNumbers: true,
          RequireSymbols: true,
          TemporaryPasswordValidityDays: 3,
        },
      },
      MfaConfiguration: 'OPTIONAL',
      EnabledMfas: ['SOFTWARE_TOKEN_MFA'],
      AccountRecoverySetting: {
        RecoveryMechanisms: [{ Name: 'verified_email', Priority: 1 }],
      },
      EmailConfiguration: { EmailSendingAccount: 'COGNITO_DEFAULT' },
      UserPoolTier: 'ESSENTIALS',
      // No SMS anywhere: no SNS role for Cognito.
      SmsConfiguration: Match.absent(),
    });
    const cognitoRoles = data.findResources('AWS::IAM::Role', {
      Properties: {
        AssumeRolePolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Principal: { Service: 'cognito-idp.amazonaws.com' } }),
          ]),
        },
      },
    });
    expect(Object.keys(cognitoRoles)).toEqual([]);
  });

  it('gives the console a public client: password sign-in and refresh only, no OAuth, no secret', () => {
    data.resourceCountIs('AWS::Cognito::UserPoolClient', 1);
    data.hasResourceProperties('AWS::Cognito::UserPoolClient', {
      UserPoolId: { Ref: poolId },
      GenerateSecret: false,
      ExplicitAuthFlows: ['ALLOW_USER_PASSWORD_AUTH', 'ALLOW_REFRESH_TOKEN_AUTH'],
      AllowedOAuthFlowsUserPoolClient: false,
      AllowedOAuthFlows: Match.absent(),
      CallbackURLs: Match.absent(),
      PreventUserExistenceErrors: 'ENABLED',
      EnableTokenRevocation: true,
      AccessTokenValidity: 60,
      IdTokenValidity: 60,
      RefreshTokenValidity: 10080,
      TokenValidityUnits: { AccessToken: 'minutes', IdToken: 'minutes', RefreshToken: 'minutes' },
    });
    // The console draws its own pages: no hosted-UI domain.
    data.resourceCountIs('AWS::Cognito::UserPoolDomain', 0);
  });

  it('deletes development accounts with the stack', () => {
    data.hasResource('AWS::Cognito::UserPool', {
      DeletionPolicy: 'Delete',
      Properties: Match.objectLike({ DeletionProtection: 'INACTIVE' }),
    });
  });

  it('retains production accounts and protects the pool from deletion', () => {
    const prod = synthesize({ env: 'prod' });
    prod.data.hasResource('AWS::Cognito::UserPool', {
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
      Properties: Match.objectLike({ DeletionProtection: 'ACTIVE' }),
    });
  });

  it("tells the authorizer and sign-up (only) which pool and client to accept, and outputs the console's ids", () => {
    const authorizer = stacks.api.getLogicalId(
      stacks.api.api.authorizerFunction.function.node.defaultChild as never,
    );
    // The API function reads the pool's id for Cognito's GetUser at sign-up (its region's endpoint).
    const apiFunction = stacks.api.getLogicalId(
      stacks.api.api.apiFunction.function.node.defaultChild as never,
    );
    const functions = api.findResources('AWS::Lambda::Function');
    const withPool = Object.entries(functions)
      .filter(([, fn]) => fn.Properties.Environment?.Variables?.[SESSION_USER_POOL_ID_ENV])
      .map(([id]) => id);
    expect(withPool.sort()).toEqual([authorizer, apiFunction].sort());
    const variables = functions[authorizer]?.Properties.Environment.Variables;
    expect(JSON.stringify(variables[SESSION_USER_POOL_ID_ENV])).toContain(poolId);
    expect(JSON.stringify(variables[SESSION_CLIENT_ID_ENV])).toContain(clientId);

    const outputs = api.findOutputs('*');
    expect(JSON.stringify(outputs.ConsoleUserPoolId?.Value)).toContain(poolId);
    expect(JSON.stringify(outputs.ConsoleUserPoolClientId?.Value)).toContain(clientId);
  });

  it("meters sessions at the edge on the console's own usage plan, through the key the authorizer returns", () => {
    api.hasResourceProperties('AWS::ApiGateway::UsagePlan', {
      UsagePlanName: 'tierline-dev-console-sessions',
      Throttle: {
        RateLimit: CONSOLE_SESSIONS_RATE_LIMIT,
        BurstLimit: CONSOLE_SESSIONS_BURST_LIMIT,
      },
      Quota: Match.absent(),
    });
    api.hasResourceProperties('AWS::ApiGateway::ApiKey', {
      Name: 'tierline-dev-console-sessions',
      Value: 'TierlineConsoleSessionsdev',
      Enabled: true,
    });
    const plans = api.findResources('AWS::ApiGateway::UsagePlan', {
      Properties: { UsagePlanName: 'tierline-dev-console-sessions' },
    });
    const keys = api.findResources('AWS::ApiGateway::ApiKey', {
      Properties: { Name: 'tierline-dev-console-sessions' },
    });
    api.hasResourceProperties('AWS::ApiGateway::UsagePlanKey', {
      KeyType: 'API_KEY',
      KeyId: { Ref: Object.keys(keys)[0] },
      UsagePlanId: { Ref: Object.keys(plans)[0] },
    });
    const authorizer = stacks.api.getLogicalId(
      stacks.api.api.authorizerFunction.function.node.defaultChild as never,
    );
    const variables =
      api.findResources('AWS::Lambda::Function')[authorizer]?.Properties.Environment.Variables;
    expect(variables[SESSION_USAGE_KEY_ENV]).toBe('TierlineConsoleSessionsdev');
  });
});
