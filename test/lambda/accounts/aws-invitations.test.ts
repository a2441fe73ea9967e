import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { verifiedEmailDirectory } from '../../../lambda/accounts/pool-users';
import { consoleUrlFrom } from '../../../lambda/composition/aws-invitations';
import { AuthenticationError } from '../../../lambda/openai/errors';

/**
 * Invitations' AWS parts with the SDK mocked (Cognito and SSM cannot run here): the exact requests,
 * and what each answer means for accepting an invite.
 */
describe('invitations in AWS', () => {
  const ssm = mockClient(SSMClient);
  afterEach(() => ssm.reset());

  it('accepts an invite only with an address the pool verified; a revoked token is a 401', async () => {
    const asked: string[] = [];
    const directory = verifiedEmailDirectory(async (accessToken) => {
      asked.push(accessToken);
      if (accessToken === 'signed-out') throw new AuthenticationError('revoked');
      return accessToken === 'verified'
        ? { email: 'a@example.com', emailVerified: true }
        : { email: 'b@example.com', emailVerified: false };
    });
    expect(await directory.verifiedEmailOf('verified')).toBe('a@example.com');
    expect(await directory.verifiedEmailOf('unverified')).toBeUndefined();
    await expect(directory.verifiedEmailOf('signed-out')).rejects.toBeInstanceOf(
      AuthenticationError,
    );
    expect(asked).toEqual(['verified', 'unverified', 'signed-out']);
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
});
