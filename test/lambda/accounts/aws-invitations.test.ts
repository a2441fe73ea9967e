import {
  CognitoIdentityProviderClient,
  GetUserCommand,
  NotAuthorizedException,
} from '@aws-sdk/client-cognito-identity-provider';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import {
  cognitoUserDirectory,
  consoleUrlFrom,
  sesInviteMessage,
} from '../../../lambda/composition/aws-invitations';

/**
 * Invitations' AWS parts with the SDK mocked (Cognito and SSM cannot run here): the exact requests,
 * and what each answer means for accepting an invite.
 */
describe('invitations in AWS', () => {
  const cognito = mockClient(CognitoIdentityProviderClient);
  const ssm = mockClient(SSMClient);
  afterEach(() => {
    cognito.reset();
    ssm.reset();
  });

  const user = (attributes: Record<string, string>) => ({
    Username: 'u-1',
    UserAttributes: Object.entries(attributes).map(([Name, Value]) => ({ Name, Value })),
  });

  it("reads the user's address with GetUser and the user's own token, only when Cognito verified it", async () => {
    const directory = cognitoUserDirectory(
      new CognitoIdentityProviderClient({ region: 'us-east-1' }),
    );
    cognito
      .on(GetUserCommand, { AccessToken: 'verified' })
      .resolves(user({ email: 'a@example.com', email_verified: 'true' }))
      .on(GetUserCommand, { AccessToken: 'unverified' })
      .resolves(user({ email: 'b@example.com', email_verified: 'false' }))
      .on(GetUserCommand, { AccessToken: 'signed-out' })
      .rejects(
        new NotAuthorizedException({ message: 'Access Token has been revoked', $metadata: {} }),
      );

    expect(await directory.verifiedEmailOf('verified')).toBe('a@example.com');
    expect(await directory.verifiedEmailOf('unverified')).toBeUndefined();
    expect(await directory.verifiedEmailOf('signed-out')).toBeUndefined();
    expect(cognito.commandCalls(GetUserCommand).map((call) => call.args[0].input)).toEqual([
      { AccessToken: 'verified' },
      { AccessToken: 'unverified' },
      { AccessToken: 'signed-out' },
    ]);
  });

  it("reads the console's address from its parameter once, and again after a failed read", async () => {
    ssm
      .on(GetParameterCommand)
      .rejectsOnce(new Error('throttled'))
      .resolves({ Parameter: { Value: 'https://d1.cloudfront.net/' } });
    const consoleUrl = consoleUrlFrom(
      new SSMClient({ region: 'us-east-1' }),
      '/tierline/dev/console-url',
    );

    await expect(consoleUrl()).rejects.toThrow('throttled');
    expect(await consoleUrl()).toBe('https://d1.cloudfront.net/');
    expect(await consoleUrl()).toBe('https://d1.cloudfront.net/');
    expect(ssm.commandCalls(GetParameterCommand).map((call) => call.args[0].input)).toEqual([
      { Name: '/tierline/dev/console-url' },
      { Name: '/tierline/dev/console-url' },
    ]);
  });

  it('words the e-mail as SES v2 SendEmail takes it', () => {
    const message = sesInviteMessage(
      {
        customerId: 'cus_1',
        inviteId: 'invite-1',
        to: 'a@example.com',
        subject: 'Invited',
        text: 'Open the link',
        link: 'https://d1.cloudfront.net/#/invite?token=t',
        token: 't',
      },
      'invites@example.com',
    );

    expect(message).toEqual({
      FromEmailAddress: 'invites@example.com',
      Destination: { ToAddresses: ['a@example.com'] },
      Content: {
        Simple: {
          Subject: { Data: 'Invited', Charset: 'UTF-8' },
          Body: { Text: { Data: 'Open the link', Charset: 'UTF-8' } },
        },
      },
    });
  });
});
